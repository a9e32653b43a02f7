"""`distillgraph export`: the distilled dataset (JSONL chat messages with provenance, HF datasets
folder) and the adapter of the best dev round (or one chosen with --round), reusable by other models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from distillgraph.graph.runner import final_state, load_run_config
from distillgraph.prompts import PromptLibrary
from distillgraph.store.datasets import load_data
from distillgraph.store.schema import UserError


def dataset_rows(run_dir: Path, state: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One row per distilled example (gold seeds included); `state`: the run's final state, if already read."""
    cfg = load_run_config(run_dir)
    state = state if state is not None else final_state(run_dir)
    data = load_data(cfg.data, cfg.task)
    texts = {e.id: e.text for s in data.values() for e in s}
    tpl = PromptLibrary(cfg.prompts.dir).get("student")
    rows = []
    seed = [e for e in data["seed"] if e.target]
    items = [(e.id, e.text, e.target or "", "", "seed", 0, None) for e in seed]
    items += [(a.id, a.text or texts.get(a.id, ""), a.target, a.rationale, a.source, a.round, a)
              for a in state.get("dataset", []) if a.weight > 0]  # labels dropped by gating are not exported
    for ex_id, text, target, rationale, source, rnd, ann in items:
        messages = tpl.render(instruction=cfg.task.instruction, labels=cfg.task.labels, task_type=cfg.task.type, text=text)
        answer = tpl.render_assistant(target=target, rationale=rationale if cfg.task.rationale else "",
                                      task_type=cfg.task.type, instruction=cfg.task.instruction, labels=cfg.task.labels,
                                      text=text)
        rows.append({
            "id": ex_id, "text": text, "target": target, "rationale": rationale,
            "messages": messages + [{"role": "assistant", "content": answer}],
            "provenance": {"source": source, "round": rnd,
                           **({"teacher_model": ann.teacher_model, "prompt_hash": ann.prompt_hash, "votes": ann.votes,
                               "agreement": ann.agreement, "confidence": ann.confidence, "cluster": ann.cluster,
                               "neighbour_ids": ann.neighbour_ids, "gate": ann.gate, "weight": ann.weight}
                              if ann is not None else {})},
        })
    return rows


def pick_round(history: list[Any], which: str, metric: str) -> Any | None:
    """The round whose adapter is exported: `best` (highest dev metric), `final`, or a round number."""
    from distillgraph.graph.report import best_round

    if not history:
        return None
    if which == "best":
        return best_round(history, metric) or history[-1]
    if which == "final":
        return history[-1]
    if not which.isdigit() or int(which) not in {m.round for m in history}:
        raise UserError(f"--round {which}: expected best, final or one of the rounds "
                        f"{', '.join(str(m.round) for m in history)}")
    return next(m for m in history if m.round == int(which))


def export_run(run_dir: Path, out: Path, which: str = "best") -> tuple[Path, int | None]:
    """dataset.jsonl, hf_dataset/ and adapter/ (of the chosen round) under `out`; returns it and that round."""
    import datasets

    state = final_state(run_dir)
    chosen = pick_round(state.get("history", []), which, load_run_config(run_dir).dev_metric)
    rows = dataset_rows(run_dir, state)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "dataset.jsonl").open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    flat = [{**{k: v for k, v in r.items() if k != "provenance"}, "provenance": json.dumps(r["provenance"])} for r in rows]
    datasets.Dataset.from_list(flat).save_to_disk(str(out / "hf_dataset"))
    adapter = state.get("adapter")
    if chosen is not None:  # where the trainer saved it (the recorded path may predate a fork or a move)
        saved = run_dir / "adapters" / f"round-{chosen.round}"
        adapter = str(saved) if saved.exists() else chosen.adapter
    if adapter and Path(adapter).exists():
        shutil.rmtree(out / "adapter", ignore_errors=True)
        shutil.copytree(adapter, out / "adapter")
        (out / "adapter" / "distillgraph.json").write_text(json.dumps({
            "run_id": state.get("run_id"), "round": chosen.round if chosen else None,
            "dev": chosen.dev if chosen else {}, "test": chosen.test if chosen else {}}, indent=2), encoding="utf-8")
    return out, chosen.round if chosen is not None else None
