"""Does the distilled data help a model outside the loop? (the clustering paper's transfer claim)

1. A distillgraph run (oracle teacher, embedding-probe student in the loop) acquires B labels.
2. `graph.secondary.train_secondary` (what `distillgraph train RUN` runs) trains a *different*
   student, the MiniLM LoRA classifier, on that distilled dataset and evaluates it on the test split.
3. Baseline: the same classifier trained on B pool examples drawn at random, with gold labels.

Writes bench/results/secondary.json and .md.
    python -m bench.secondary [--budget 60] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import (
    bbc_config,
    machine,
    mean_std,
    prewarm_bbc_embeddings,
    quiet_logs,
    run_graph,
    write_results,
)
from distillgraph.graph.secondary import train_secondary
from distillgraph.store.datasets import load_bbc, pool_gold
from distillgraph.trainer.base import TrainItem
from distillgraph.trainer.evaluate import classification_metrics
from distillgraph.trainer.student import build_student

SECONDARY = ["student.kind=classifier", "student.num_train_epochs=8", "student.learning_rate=2e-3"]


def random_baseline(cfg: Any, n: int, seed: int, out: Path) -> dict[str, float]:
    """The secondary student on n random gold-labelled pool examples."""
    data = load_bbc(cfg.data.bbc, cfg.task)
    gold = pool_gold(cfg.data.bbc, cfg.task)
    pool = sorted(data["pool"], key=lambda e: e.id)
    picked = random.Random(seed).sample(pool, min(n, len(pool)))
    from distillgraph.graph.config import apply_overrides, config_from_dict

    scfg = config_from_dict(apply_overrides(cfg.model_dump(mode="json"), SECONDARY))
    student = build_student(scfg.student, scfg.task, progress=False)
    student.fit([TrainItem(id=e.id, text=e.text, target=gold[e.id]) for e in picked], out, round=0)
    test = data["test"]
    preds = student.predict([e.id for e in test], [e.text for e in test])
    m = classification_metrics([e.target or "" for e in test], [p.prediction for p in preds], scfg.task.label_names)
    return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=int, default=60, help="labels acquired (oracle calls)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = ap.parse_args(argv)
    quiet_logs()
    prewarm_bbc_embeddings()
    t0 = time.time()
    rows: dict[str, list[dict[str, float]]] = {"distilled": [], "random": [], "loop_student": []}
    for seed in args.seeds:
        cfg = bbc_config([f"budget.max_calls={args.budget}", "teacher.provider=oracle", "student.kind=embedding-probe",
                          f"run.seed={seed}", f"data.bbc.split_seed={seed}", "loop.patience=10",
                          "loop.rounds=4", "loop.max_rounds=4", "data.bbc.dev_size=100", "data.bbc.test_size=300"])
        with tempfile.TemporaryDirectory(prefix="dg-secondary-") as tmp:
            state, run_dir = run_graph(cfg, keep_dir=Path(tmp))
            rows["loop_student"].append({k: state["history"][-1].test[k] for k in ("accuracy", "macro_f1")})
            res = train_secondary(run_dir, SECONDARY, Path(tmp) / "secondary")
            rows["distilled"].append({k: res["metrics"][k] for k in ("accuracy", "macro_f1")})
            n = res["train_examples"]
            rows["random"].append(random_baseline(cfg, n, seed, Path(tmp) / "random"))
    result = {
        "budget": args.budget, "seeds": args.seeds, "secondary_student": SECONDARY, **machine(),
        "seconds": round(time.time() - t0, 1),
        "results": {name: {m: mean_std([r[m] for r in rs]) for m in ("accuracy", "macro_f1")} for name, rs in rows.items()},
    }
    lines = [
        "## Secondary model: the distilled data trains another student",
        "",
        f"{args.budget} labels acquired by distillgraph (oracle teacher, embedding-probe student in the loop), then the "
        f"MiniLM LoRA classifier trained on them (`distillgraph train RUN --set student.kind=classifier`), against the "
        f"same classifier on as many random gold-labelled pool examples. Test split of the long-tailed BBC split; "
        f"seeds {args.seeds}; {result['seconds']} s.",
        "",
        "| training data | student | test accuracy | test macro-F1 |",
        "|---|---|---:|---:|",
    ]
    names = {"loop_student": ("distillgraph data", "probe (in the loop)"),
             "distilled": ("distillgraph data", "MiniLM LoRA (secondary)"),
             "random": ("random pool sample, gold", "MiniLM LoRA (secondary)")}
    for key, (data_name, student) in names.items():
        r = result["results"][key]
        lines.append(f"| {data_name} | {student} | {r['accuracy']['mean']:.3f} ± {r['accuracy']['std']:.3f} | "
                     f"{r['macro_f1']['mean']:.3f} ± {r['macro_f1']['std']:.3f} |")
    write_results("secondary", result, "\n".join(lines) + "\n")
    return result


if __name__ == "__main__":
    main()
