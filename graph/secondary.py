"""Train another student on a run's distilled dataset (the data helps models outside the loop too).

`distillgraph train RUN --set student.kind=classifier --set student.base_model=...` builds the new
student through the same trainer, fits it on the run's distilled data (seed + accepted annotations)
and evaluates it on the run's test split (dev when there is no test split).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from distillgraph.graph.config import apply_overrides, config_from_dict
from distillgraph.graph.export import dataset_rows
from distillgraph.graph.runner import load_run_config
from distillgraph.prompts import PromptLibrary
from distillgraph.store.datasets import load_data
from distillgraph.store.embed import build_embedder
from distillgraph.store.schema import UserError
from distillgraph.trainer.base import TrainItem
from distillgraph.trainer.evaluate import classification_metrics, generation_metrics
from distillgraph.trainer.student import build_student


def _clusters(run_dir: Path, split: str) -> dict[str, int]:
    """Cluster per example id, from the run's own last evaluation of that split."""
    files = sorted((run_dir / "rounds").glob(f"round-*/{split}_predictions.jsonl"))
    if not files:
        return {}
    return {r["id"]: r["cluster"] for r in map(json.loads, files[-1].read_text().splitlines())}


def train_secondary(run_dir: Path, overrides: list[str], out: Path) -> dict[str, Any]:
    base = load_run_config(run_dir)
    cfg = config_from_dict(apply_overrides(base.model_dump(mode="json"), overrides))
    rows = dataset_rows(run_dir)
    if not rows:
        raise UserError(f"run {run_dir.name}: the distilled dataset is empty")
    data = load_data(cfg.data, cfg.task)
    split = "test" if data["test"] else "dev"
    evals = data[split]
    if not evals:
        raise UserError(f"run {run_dir.name}: no labelled test or dev split to evaluate the new student on")
    prompts = PromptLibrary(cfg.prompts.dir)
    embedder = build_embedder(cfg.store, run_dir / "data" / "embeddings")
    student = build_student(cfg.student, cfg.task, embedder=embedder,
                            prompt=prompts.get("student") if cfg.student.kind == "causal-lm" else None)
    items = [TrainItem(id=r["id"], text=r["text"], target=r["target"], rationale=r["rationale"] or None,
                       weight=r["provenance"].get("weight", 1.0)) for r in rows]
    t0 = time.time()
    stats = student.fit(items, out / "adapter", round=0)
    preds = student.predict([e.id for e in evals], [e.text for e in evals])
    cl = _clusters(run_dir, split)
    clusters = [cl.get(e.id, 0) for e in evals]
    gold = [e.target or "" for e in evals]
    if cfg.task.type == "classification":
        metrics = classification_metrics(gold, [p.prediction for p in preds], cfg.task.label_names, clusters)
    else:
        metrics = generation_metrics(gold, [p.prediction or "" for p in preds], clusters)
    result = {"run": run_dir.name, "student": cfg.student.model_dump(mode="json"), "train_examples": len(items),
              "split": split, "seconds": round(time.time() - t0, 2), "train": stats,
              "metrics": {k: v for k, v in metrics.items() if not isinstance(v, dict | list)}}
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    return result
