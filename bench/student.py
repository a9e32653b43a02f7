"""Benchmark: the MiniLM LoRA classifier student on BBC topics from 200 gold labels (goal: >= 0.93).

200 training articles (40 per topic) and 500 held-out test articles (100 per topic) from the seeded
`store.datasets.load_bbc` split; default student config (r=8 on query,value, lr 2e-3, 6 epochs,
max_length 128). The embedding probe on the same split is reported alongside for reference.

    .venv/bin/python -m bench.student [--bf16 auto|on|off] [--no-probe]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from distillgraph.store.datasets import load_bbc  # noqa: E402
from distillgraph.store.embed import build_embedder  # noqa: E402
from distillgraph.store.schema import BBCConfig, StoreConfig, TaskConfig  # noqa: E402
from distillgraph.trainer.base import Student, TrainItem  # noqa: E402
from distillgraph.trainer.config import StudentConfig  # noqa: E402
from distillgraph.trainer.evaluate import classification_metrics  # noqa: E402
from distillgraph.trainer.student import build_student  # noqa: E402

RESULTS = Path(__file__).parent / "results"
TOPICS = {
    "business": "companies, markets, the economy",
    "entertainment": "film, music, television, celebrities",
    "politics": "government, parties, elections",
    "sports": "games, players, competitions",
    "tech": "technology, computers, the internet, gadgets",
}


def bbc_split() -> tuple[TaskConfig, list[TrainItem], list[TrainItem]]:
    """200 train (40 per topic) and 500 test (100 per topic), seeded."""
    task = TaskConfig(
        type="classification", instruction="Classify the BBC news article by topic.", labels=TOPICS
    )
    cfg = BBCConfig(pool_size=5, dev_size=0, test_size=500, seed_per_label=40, imbalance=1.0)
    data = load_bbc(cfg, task)

    def items(split: str) -> list[TrainItem]:
        return [TrainItem(id=e.id, text=e.text, target=e.label or "") for e in data[split]]

    return task, items("seed"), items("test")


def run_student(student: Student, train: list[TrainItem], test: list[TrainItem], out: Path) -> dict:
    """Fit and evaluate the way the trainer node does: Student.fit, then Student.predict on test."""
    stats = student.fit(train, out, round=1)
    preds = student.predict([it.id for it in test], [it.text for it in test])
    metrics = classification_metrics([it.target for it in test], [p.prediction for p in preds], student.labels)
    return {
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "train_seconds": stats["seconds"],
        "seconds_per_epoch": stats["seconds"] / stats["epochs"],
        "train_examples": stats["n_train"],
    }


def describe(cfg: StudentConfig) -> str:
    return (
        f"r={cfg.r} ({','.join(cfg.target_modules or ['query', 'value'])}), lr {cfg.learning_rate:g}, "
        f"{cfg.num_train_epochs:g} epochs, batch {cfg.per_device_train_batch_size}, max_len {cfg.max_length}"
    )


def write_results(result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "student.json").write_text(json.dumps(result, indent=2))
    lines = [
        "## Student: MiniLM LoRA classifier on BBC topics (200 gold labels)",
        "",
        f"{result['train_examples']} training articles (40 per topic), {result['test_examples']} held-out test "
        f"articles; {result['machine']} (load average {result['load_avg_1m']:.1f} at the start: timings on a "
        f"busy machine are inflated); bf16 {result['bf16']}. Goal: accuracy >= 0.93.",
        "",
        "| student | accuracy | macro-F1 | train s | s / epoch |",
        "|---|---|---|---|---|",
        f"| LoRA {result['setup']} | {result['accuracy']:.3f} | "
        f"{result['macro_f1']:.3f} | {result['train_seconds']:.1f} | {result['seconds_per_epoch']:.1f} |",
    ]
    probe = result.get("probe")
    if probe:
        lines.append(
            f"| embedding probe (logistic regression, frozen MiniLM) | {probe['accuracy']:.3f} | "
            f"{probe['macro_f1']:.3f} | {probe['train_seconds']:.2f} | - |"
        )
    (RESULTS / "student.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bf16", choices=["auto", "on", "off"], default="auto")
    parser.add_argument("--no-probe", action="store_true", help="skip the embedding-probe row")
    args = parser.parse_args()
    task, train, test = bbc_split()
    cfg = StudentConfig(kind="classifier", bf16=args.bf16)
    load_avg = os.getloadavg()[0]
    start = time.perf_counter()
    student = build_student(cfg, task, progress=False)
    load_seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        result = run_student(student, train, test, Path(tmp) / "lora")
        result |= {
            "test_examples": len(test),
            "load_seconds": load_seconds,
            "bf16": student.bf16,
            "setup": describe(student.cfg),
            "load_avg_1m": load_avg,
            "threads": torch.get_num_threads(),
            "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores",
        }
        if not args.no_probe:
            embedder = build_embedder(StoreConfig(), cache_dir=None)
            probe = build_student(
                StudentConfig(kind="embedding-probe"), task, embedder=embedder, progress=False
            )
            result["probe"] = run_student(probe, train, test, Path(tmp) / "probe")
    write_results(result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
