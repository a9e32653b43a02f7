"""Tuning the token probe's regularisation on DEV of tuning seeds only (issue 18).

The NER sweep (bench/ner.py) trains the probe on 50-200 teacher-labelled sentences, far fewer than the
full pool the shipped C was first chosen at. Here: random pool subsets of each size, labelled from gold,
for every C in CS, on the WNUT split of each TUNING_SEED (never a test seed of bench/ner.py); the score is
dev entity F1 (test is not predicted at all); each setting with and without the word-shape features.
Writes bench/results/ner_tuning.json.

    .venv/bin/python -m bench.ner_tuning [--seeds 10 11] [--sizes 50 100 200 400 0]
    .venv/bin/python -m bench.ner_tuning --outside-weights 1 0.5 0.25 0.1   (student.outside_weight)
"""

from __future__ import annotations

import argparse
import json
import random
import time
from typing import Any

from bench.harness import RESULTS, machine, quiet_logs
from bench.ner import OUTSIDE_FILE, fit_and_score, ner_config
from bench.stats import mean_std

TUNING_SEEDS = [10, 11]
CS = [0.1, 0.3, 1.0, 3.0]
SIZES = [50, 100, 200, 400, 0]  # 0 = the whole pool


def tune(seeds: list[int], sizes: list[int], cs: list[float | None], subsets: int = 2,
         shapes: tuple[bool, ...] = (False, True), outside: tuple[float, ...] = (1.0,)) -> dict[str, Any]:
    """Every (size, shapes, C, outside weight); C None = the shipped rule (trainer/token_probe.py: probe_c)."""
    from distillgraph.store.datasets import load_data
    from distillgraph.trainer.student import build_student

    scores: dict[str, dict[str, list[float]]] = {}
    for seed in seeds:
        cfg = ner_config("random", 1, seed)
        data = load_data(cfg.data, cfg.task)
        pool, dev = data["pool"], data["dev"]
        student = build_student(cfg.student, cfg.task, progress=False)
        for size, shape in ((n, sh) for n in sizes for sh in shapes):
            student.shapes = shape
            for rep in range(subsets if size else 1):
                sub = random.Random(1000 * seed + rep).sample(pool, size) if size else pool
                for c, o in ((c, o) for c in cs for o in outside):
                    student.cfg = student.cfg.model_copy(update={"probe_C": c, "outside_weight": o})
                    f1 = fit_and_score(student, sub, dev, cfg.task)
                    key = (f"C={c:g}" if c is not None else "C=rule") + (" shapes" if shape else "") \
                        + (f" O={o:g}" if o != 1.0 else "")
                    scores.setdefault(str(size or len(pool)), {}).setdefault(key, []).append(f1)
                    print(f"seed {seed} n={size or len(pool)} rep {rep} {key}: dev entity F1 {f1:.4f}", flush=True)
    table = {n: {c: mean_std(v) for c, v in by_c.items()} for n, by_c in scores.items()}
    best = best_settings(table)
    return {"tuning_seeds": seeds, "metric": "dev entity F1 (test never predicted)", "dev_entity_f1": table,
            "best": best, "subsets_per_size": subsets}


def best_settings(table: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Per size, the setting with the highest mean dev entity F1."""
    return {n: max(by_c, key=lambda c: by_c[c]["mean"]) for n, by_c in table.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", nargs="+", type=int, default=TUNING_SEEDS)
    ap.add_argument("--sizes", nargs="+", type=int, default=SIZES)
    ap.add_argument("--cs", nargs="+", type=float, default=CS)
    ap.add_argument("--outside-weights", nargs="+", type=float, default=None,
                    help="compare student.outside_weight values instead (C by the shipped rule, word shapes on); "
                    f"written to {OUTSIDE_FILE}")
    args = ap.parse_args()
    quiet_logs()
    start = time.perf_counter()
    if args.outside_weights:  # added to the settings already in OUTSIDE_FILE (same seeds and sizes)
        out, name = tune(args.seeds, args.sizes, [None], shapes=(True,), outside=tuple(args.outside_weights)), OUTSIDE_FILE
        old = json.loads((RESULTS / name).read_text()) if (RESULTS / name).exists() else {}
        if old.get("tuning_seeds") == out["tuning_seeds"]:
            for n, by_key in old.get("dev_entity_f1", {}).items():  # other sizes are kept as they were
                out["dev_entity_f1"][n] = {**by_key, **out["dev_entity_f1"].get(n, {})}
            out["best"] = best_settings(out["dev_entity_f1"])
    else:
        out, name = tune(args.seeds, args.sizes, args.cs), "ner_tuning.json"
    out.update({"seconds": round(time.perf_counter() - start, 1), **machine()})
    (RESULTS / name).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out["best"]))


if __name__ == "__main__":
    main()
