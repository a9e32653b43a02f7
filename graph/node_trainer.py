"""The trainer node: fine-tune the student on everything labelled so far, evaluate it on dev (and test),
keep the dev predictions in the state for the analyst and generator, and say whether to go on."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from distillgraph.agents.judge import judge_requests
from distillgraph.agents.records import RoundMetrics
from distillgraph.agents.schemas import JudgeAnswer
from distillgraph.graph.deps import Deps
from distillgraph.graph.node_quality import teacher_audit
from distillgraph.graph.node_tools import (
    Lookup,
    ask,
    can_write,
    ensure_student,
    ledger_state,
    lookup,
    shown_dev,
)
from distillgraph.graph.routing import stop_reason
from distillgraph.graph.state import DistillState
from distillgraph.graph.writer_check import CHECKS
from distillgraph.store.schema import UserError
from distillgraph.trainer.base import TrainItem


def trainer(state: DistillState, deps: Deps) -> dict[str, Any]:
    rnd, look, task, loop = state.get("round", 0), lookup(deps, state), deps.cfg.task, deps.cfg.loop
    items = train_items(deps, state, look)
    if not items:
        raise UserError("nothing to train on: no seed labels and the teacher accepted no bootstrap labels "
                        "(raise the budget or give data.seed)")
    out_dir = deps.run_dir / "adapters" / f"round-{rnd}"
    before_fit = label_predictions(deps, state, look, rnd)  # the student not yet trained on this round's labels
    check = writer_check_fit(deps, state, look, items, rnd)  # loop.writer_check: a fit without the new texts
    stats = deps.student.fit(items, out_dir, round=rnd)
    deps.student_round = rnd
    dev_ids, dev_gold = dev_targets(deps, state)
    dev, dev_rows = evaluate(deps, look, dev_ids, dev_gold, "dev", rnd, measured=unseen_dev(deps, dev_ids))
    if task.type == "generation" and loop.judge and loop.judge_dev_sample and deps.teacher_can("judge"):
        dev["judge"] = judge_dev(deps, look, dev_rows[: loop.judge_dev_sample], rnd)
    test: dict[str, Any] = {}
    if deps.data["test"]:
        test, _ = evaluate(deps, look, [e.id for e in deps.data["test"]],
                           [e.target or "" for e in deps.data["test"]], "test", rnd)
    rm = round_metrics(deps, state, rnd, len(items), dev, test, stats, out_dir)
    with (deps.run_dir / "metrics.jsonl").open("a", encoding="utf-8") as f:
        f.write(rm.model_dump_json() + "\n")
    history = list(state.get("history", [])) + [rm]
    update: dict[str, Any] = {"writer_check": writer_check_verdict(deps, check, rm.dev)} if check else {}
    if rnd == 0 and "audit" not in state:  # before the first paid round: is the teacher better than the student?
        update["audit"] = teacher_audit(deps, state, rm.dev.get("accuracy"))
    now: DistillState = {**state, "history": history, "ledger": ledger_state(deps), "round": rnd}
    if "audit" in update:
        now["audit"] = update["audit"]
    why = stop_reason(now, loop, deps.cfg.dev_metric)
    deps.trace.decision("route", next="report" if why else "analyst", reason=why or "budget left, still improving")
    predictions = [{k: r[k] for k in ("id", "gold", "pred", "cluster")} for r in dev_rows]
    summary = {"train_size": len(items), "dev": rm.dev, "test": rm.test, "train": stats}
    if update.get("audit"):
        summary["teacher_audit"] = update["audit"]["line"]
    return {"history": [rm], "adapter": str(out_dir), "stop_reason": why or "", "dev_predictions": predictions,
            "label_predictions": before_fit, **update, "_summary": summary}


def label_predictions(deps: Deps, state: DistillState, look: Lookup, rnd: int) -> list[dict[str, Any]]:
    """This round's teacher labels as the previous round's student predicts them, before it is trained on them:
    {id, gold (the teacher's label), pred, cluster}. With `loop.hard_anchor: labelled` the generator writes hard
    samples near the wrong ones (EvoKD), so no dev text is shown to the writer. Empty in round 0 (no student yet)
    and when nothing can be synthesised (synthesis off, a policy or teacher that does not write)."""
    new = [a for a in state.get("dataset", []) if a.round == rnd and a.weight > 0]
    if rnd == 0 or not new or not state.get("adapter") or not can_write(deps) or deps.cfg.loop.hard_anchor != "labelled":
        return []
    ensure_student(deps, state)  # after a resume: the previous round's adapter
    preds = deps.student.predict([a.id for a in new], [look.text(a.id) for a in new])
    return [{"id": a.id, "gold": a.target, "pred": p.prediction, "cluster": a.cluster}
            for a, p in zip(new, preds, strict=True)]


def dev_targets(deps: Deps, state: DistillState) -> tuple[list[str], list[str]]:
    """The dev ids the student is measured on and their targets (gold, or the teacher's for a carved dev set)."""
    dev_ids = state.get("dev_ids", [])
    return dev_ids, [state.get("dev_labels", {}).get(i) or deps.examples[i].target or "" for i in dev_ids]


def writer_check_fit(deps: Deps, state: DistillState, look: Lookup, items: list[TrainItem],
                     rnd: int) -> dict[str, Any] | None:
    """`loop.writer_check` (synthesis auto): the student fitted without synthetic texts and measured on dev as the
    round's own fit is; then the student goes back to the previous round's adapter, so that the round's own fit
    starts where it would have. When a check is due and which texts it leaves out is the mode's
    (`graph/writer_check.py`); `per_call` also fits without as many calls of pool labels (`equal_cost_pool`).
    None when no check is due."""
    loop, done = deps.cfg.loop, state.get("writer_check") or {}
    mode = CHECKS[loop.writer_check]
    if loop.synthesis != "auto" or not mode.due(done):
        return None
    trained = {i.id for i in items}
    left_out = mode.left_out([a for a in state.get("dataset", []) if a.source == "synthetic" and a.id in trained], rnd)
    if not left_out:
        return None
    check = {"round": rnd, "synthetic": len(left_out), "metric": deps.cfg.dev_metric, "mode": loop.writer_check,
             "checked": [*done.get("checked", []), rnd],
             "without": fit_without(deps, state, look, items, left_out, rnd, "synthetic")}
    if mode.against_pool:
        calls, pool = equal_cost_pool(deps, state, left_out, rnd)
        check |= {"calls": calls, "pool": len(pool),
                  "without_pool": fit_without(deps, state, look, items, set(pool), rnd, "pool")}
    if state.get("adapter"):
        deps.student.load(Path(state["adapter"]))
    return check


def fit_without(deps: Deps, state: DistillState, look: Lookup, items: list[TrainItem], left_out: set[str],
                rnd: int, what: str) -> float | None:
    """The writer check's dev metric of the student fitted without `left_out` (adapter
    adapters/round-<k>-without-<what>, rows dev_without_<what>_predictions.jsonl)."""
    deps.student.fit([i for i in items if i.id not in left_out],
                     deps.run_dir / "adapters" / f"round-{rnd}-without-{what}", round=rnd)
    dev_ids, dev_gold = dev_targets(deps, state)
    dev, _ = evaluate(deps, look, dev_ids, dev_gold, f"dev_without_{what}", rnd, measured=unseen_dev(deps, dev_ids))
    return deps.headline(dev).get(deps.cfg.dev_metric)


def equal_cost_pool(deps: Deps, state: DistillState, synthetic: set[str], rnd: int) -> tuple[int, list[str]]:
    """`writer_check: per_call`: the calls the synthetic texts cost (the writer's, the weakness reports that
    `teacher_analysis: auto` pays only for the writer, one label each) and as many pool labels bought since the
    first round that wrote (one call each), drawn at random with the run seed and round (at most all of them)."""
    dataset = state.get("dataset", [])
    nodes = deps.ledger.to_dict()["nodes"]
    paid = ["generator"] + (["analyst"] if deps.cfg.loop.teacher_analysis == "auto" else [])
    calls = round(sum(float(nodes.get(n, {}).get("spent", {}).get("calls", 0)) for n in paid)) + len(synthetic)
    first = min(a.round for a in dataset if a.id in synthetic)
    pool = sorted(a.id for a in dataset if a.source == "pool" and a.round >= first and a.weight > 0)
    drawn = np.random.default_rng([deps.cfg.run.seed, rnd]).choice(len(pool), min(calls, len(pool)), replace=False)
    return calls, sorted(pool[int(i)] for i in drawn)


def writer_check_verdict(deps: Deps, check: dict[str, Any], dev: dict[str, Any]) -> dict[str, Any]:
    """The writer check's record (the latest check): the dev metric with the synthetic texts and without them
    (and, `per_call`, without as many calls of pool labels); unless they raised it (`per_call`: more than those
    pool labels did), synthesis stops for the rest of the run (`stopped`), and with `every` / `per_call` the
    synthetic texts are left out of training from the next round on (`drops`)."""
    with_, without, mode = dev.get(check["metric"]), check["without"], CHECKS[check["mode"]]
    bar = mode.bar(check, with_)
    stopped = bar is None or without is None or bar <= without
    record = {**check, "with": with_, "stopped": stopped, "drops": stopped and mode.drops}
    deps.trace.decision("writer check", **record,
                        reason=("the synthetic texts did not raise dev"
                                + (" more than as many calls of pool labels" if mode.against_pool else "")
                                + ": no more synthesis"
                                + (", and no more training on them" if record["drops"] else "")) if stopped
                        else "the synthetic texts raised dev: synthesis goes on")
    return record


def train_items(deps: Deps, state: DistillState, look: Lookup) -> list[TrainItem]:
    """Seed labels and the dataset, less labels gating dropped (weight 0) and, once a writer check that drops
    (`every`, `per_call`) has stopped, the synthetic texts."""
    drops = (state.get("writer_check") or {}).get("drops", False)
    items = [TrainItem(id=e.id, text=e.text, target=e.target or "", cluster=look.cluster(e.id))
             for e in deps.data["seed"] if e.target is not None]
    return items + [TrainItem(id=a.id, text=look.text(a.id), target=a.target, rationale=a.rationale or None,
                              cluster=a.cluster, weight=a.weight)
                    for a in state.get("dataset", []) if a.weight > 0 and not (drops and a.source == "synthetic")]


def unseen_dev(deps: Deps, dev_ids: list[str]) -> Callable[[str], bool] | None:
    """With `loop.hard_anchor: dev_half` in a run that synthesises, the writer is shown half of dev, so the run's
    dev figures are measured on the other half (`shown_dev` false); None: on all of dev (also when no dev item
    falls in that half, e.g. a dev set of one: a metric over nothing would stop the run by patience)."""
    if deps.cfg.loop.hard_anchor != "dev_half" or not can_write(deps) or all(shown_dev(i) for i in dev_ids):
        return None
    return lambda i: not shown_dev(i)


def evaluate(deps: Deps, look: Lookup, ids: list[str], gold: list[str], split: str, round_: int,
             measured: Callable[[str], bool] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Metrics (on the ids `measured` keeps, when given) and one row per example; the rows are also written to
    rounds/round-<k>/<split>_predictions.jsonl."""
    preds = deps.student.predict(ids, [look.text(i) for i in ids])
    clusters = [look.cluster(i) for i in ids]
    keep = [k for k, i in enumerate(ids) if measured is None or measured(i)]
    metrics = deps.metrics([gold[k] for k in keep], [preds[k].prediction for k in keep], [clusters[k] for k in keep])
    if measured is not None:
        deps.trace.decision(f"{split} measured on the half the writer never sees", n=len(keep), of=len(ids))
    rows = [{"id": i, "gold": g, "pred": p.prediction, "probs": p.probs, "raw": p.raw, "cluster": c}
            for i, g, p, c in zip(ids, gold, preds, clusters, strict=True)]
    path = deps.run_dir / "rounds" / f"round-{round_}" / f"{split}_predictions.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return metrics, rows


def judge_dev(deps: Deps, look: Lookup, rows: list[dict[str, Any]], rnd: int) -> float | None:
    """Mean teacher-as-judge score (1..5) of the student's dev outputs (paid under `judge`)."""
    ids, task = [r["id"] for r in rows], deps.cfg.task
    reqs = judge_requests(ids, [look.text(i) for i in ids], [r["pred"] or "" for r in rows],
                          instruction=task.instruction, rubric=task.rubric, prompts=deps.prompts, round_=rnd)
    scores = [r.parsed.score for r in ask(deps, reqs) if r.ok and isinstance(r.parsed, JudgeAnswer)]
    return round(sum(scores) / len(scores), 3) if scores else None


def round_metrics(deps: Deps, state: DistillState, rnd: int, n_train: int, dev: dict[str, Any],
                  test: dict[str, Any], stats: dict[str, Any], out_dir: Path) -> RoundMetrics:
    by_source: Counter[str] = Counter(a.source for a in state.get("dataset", []))
    if deps.data["seed"]:
        by_source["seed"] = len(deps.data["seed"])
    ledger = deps.ledger.to_dict()
    return RoundMetrics(
        round=rnd, train_size=n_train, train_by_source=dict(by_source),
        dev=deps.headline(dev), test=deps.headline(test) if test else {},
        per_cluster_dev={str(k): v for k, v in deps.per_cluster(dev).items()},
        worst_cluster=dev.get("worst_cluster_score"), cluster_spread=dev.get("cluster_spread"),
        budget_spent={k: float(v) for k, v in ledger["spent"].items()},
        spent_by_node={n: float(r["spent"]["calls"]) for n, r in ledger["nodes"].items()},
        node_seconds=dict(deps.node_seconds), train_seconds=float(stats.get("seconds", 0.0)), adapter=str(out_dir),
    )
