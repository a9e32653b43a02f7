"""Benchmark (dev only): does class-balanced weighting help the embedding-probe student at small label counts?

How `student.class_weight: balanced` became the embedding probe's default. For each of the suite's tasks and
each TUNING split seed (100-102; test seeds are never touched), 3 random labelled samples of 20 / 40 / 80 / 160
pool examples train the probe (logistic regression on the packaged MiniLM embeddings, the student's C) with
and without class-balanced weights; the table is the mean dev macro-F1. Random samples, not a policy's picks:
the choice concerns the student, whichever policy buys its labels.

    .venv/bin/python -m bench.class_weight        # ~1 minute with the suite's embedding cache
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from bench.policy_sim import D, load_embeddings
from bench.suite import TUNING_SEEDS
from bench.tasks import builtin_tasks
from distillgraph.trainer.config import StudentConfig

RESULTS = Path(__file__).resolve().parent / "results"
BUDGETS = [20, 40, 80, 160]
DRAWS = 3
WEIGHTINGS = ("none", "balanced")


def dev_f1(task: str, seed: int, budget: int, draw: int, weighting: str, c: float) -> float | None:
    """Dev macro-F1 of the probe on one random labelled sample; None when the sample holds a single label."""
    xp, yp = D[(task, seed)]["pool"]
    xd, yd = D[(task, seed)]["dev"]
    idx = random.Random(seed * 10 + draw).sample(range(len(yp)), budget)
    y = [yp[i] for i in idx]
    if len(set(y)) < 2:
        return None
    clf = LogisticRegression(C=c, max_iter=2000, class_weight="balanced" if weighting == "balanced" else None)
    clf.fit(xp[idx], y)
    return float(f1_score(yd, clf.predict(xd), average="macro"))


def sweep(tasks: list[str], seeds: list[int]) -> dict[str, Any]:
    c = StudentConfig(kind="embedding-probe").resolved().probe_C or 10.0
    D.update(load_embeddings(tasks, seeds))
    table: dict[str, Any] = {}
    for task in tasks:
        for budget in BUDGETS:
            cell = {}
            for weighting in WEIGHTINGS:
                scores = [f for s in seeds for d in range(DRAWS)
                          if (f := dev_f1(task, s, budget, d, weighting, c)) is not None]
                cell[weighting] = round(float(np.mean(scores)), 4)
            table.setdefault(task, {})[str(budget)] = cell
    return {"tuning_seeds": seeds, "draws": DRAWS, "budgets": BUDGETS, "probe_C": c, "dev_macro_f1": table}


def markdown(result: dict[str, Any]) -> str:
    lines = ["## Class-balanced weighting for the embedding probe (dev only, tuning seeds)", "",
             f"`python -m bench.class_weight`: {result['draws']} random labelled samples per budget from the pool of "
             f"each tuning split ({', '.join(map(str, result['tuning_seeds']))}), the probe (C={result['probe_C']:g}) "
             "trained without / with class-balanced weights (`student.class_weight`), mean dev macro-F1. "
             "No test split is read. Balanced became the probe's default.", "",
             "| task | " + " | ".join(f"B={b}" for b in result["budgets"]) + " |",
             "|---|" + "---:|" * len(result["budgets"])]
    for task, cells in result["dev_macro_f1"].items():
        lines.append(f"| {task} | " + " | ".join(
            f"{cells[str(b)]['none']:.3f} → {cells[str(b)]['balanced']:.3f}" for b in result["budgets"]) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    tasks = list(builtin_tasks())
    result = sweep(tasks, TUNING_SEEDS)
    (RESULTS / "class_weight.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    (RESULTS / "class_weight.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


if __name__ == "__main__":
    main()
