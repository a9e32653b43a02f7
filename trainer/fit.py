"""One round of the trainer node: fit the student on everything so far, then evaluate on dev and test.

Writes next to the adapter: `metrics.json` (train stats + dev/test metrics) and
`predictions-<split>.jsonl` (one line per example: prediction, gold, probabilities, raw answer).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from distillgraph.trainer.base import Student, TrainItem
from distillgraph.trainer.evaluate import classification_metrics, generation_metrics

METRICS_FILE = "metrics.json"


def evaluate_student(student: Student, items: list[TrainItem]) -> dict:
    """{"metrics": ..., "predictions": [...]} of the student on gold-labelled items."""
    preds = student.predict([it.id for it in items], [it.text for it in items])
    gold = [it.target for it in items]
    clusters = [it.cluster for it in items]
    by_cluster = None if any(c is None for c in clusters) else [int(c) for c in clusters if c is not None]
    hyps = [p.prediction for p in preds]
    if student.task.type == "classification":
        metrics = classification_metrics(gold, hyps, student.labels, by_cluster)
    else:
        metrics = generation_metrics(gold, [h or "" for h in hyps], by_cluster)
    rows = [
        {**asdict(p), "target": it.target, "cluster": it.cluster, "correct": p.prediction == it.target}
        for p, it in zip(preds, items, strict=True)
    ]
    return {"metrics": metrics, "predictions": rows}


def run_round(
    student: Student,
    train: list[TrainItem],
    out_dir: Path,
    *,
    round: int,
    dev: list[TrainItem] | None = None,
    test: list[TrainItem] | None = None,
) -> dict:
    """Fit (fresh or continued adapter, per config), save into out_dir, evaluate; returns everything."""
    out_dir = Path(out_dir)
    result: dict = {"round": round, "train": student.fit(train, out_dir, round=round)}
    for split, items in (("dev", dev), ("test", test)):
        if not items:
            continue
        result[split] = evaluate_student(student, items)
        with (out_dir / f"predictions-{split}.jsonl").open("w") as fh:
            for row in result[split]["predictions"]:
                fh.write(json.dumps(row) + "\n")
    summary = {k: (v["metrics"] if k in ("dev", "test") else v) for k, v in result.items()}
    (out_dir / METRICS_FILE).write_text(json.dumps(summary, indent=2))
    return result
