"""The analyst node: where is the student weak (from the dev predictions in the state; the teacher's
analysis only when the policy uses it), and how is this round's budget spread over the clusters?"""

from __future__ import annotations

from collections import Counter
from typing import Any

from distillgraph.agents import analyst as A
from distillgraph.agents.records import Plan, Weakness
from distillgraph.agents.schemas import WeaknessReport
from distillgraph.agents.teacher import TeacherRequest
from distillgraph.graph.deps import Deps
from distillgraph.graph.node_tools import (
    Lookup,
    anchor_rows,
    ask,
    available_per_cluster,
    can_write,
    lookup,
    pays_analysis,
    targets,
    writer_missed_labels,
    writes_now,
)
from distillgraph.graph.state import DistillState


def analyst(state: DistillState, deps: Deps) -> dict[str, Any]:
    rnd = state.get("round", 0) + 1
    look = lookup(deps, state)
    stats = row_stats(deps, look, state.get("dev_predictions", []))
    free = A.weaknesses_from_stats(stats, deps.cluster_names())
    plan, weaknesses = make_plan(deps, state, look, stats, free, rnd), free
    if stats.wrong and report_read(deps, state, plan):  # the report is bought: plan again (its call is spent, and
        shown = analysis_rows(deps, state)  # the clusters it names may write)
        seen = stats if shown is None else row_stats(deps, look, shown)
        weaknesses = teacher_weaknesses(deps, state, stats, rnd, seen) or free
        plan = make_plan(deps, state, look, stats, weaknesses, rnd)
    for p in plan.clusters:
        deps.trace.decision("allocate", cluster=p.cluster, quota=p.quota, select=p.select,
                            synthesize=p.synthesize, kind=p.kind, reason=p.reason)
    return {"round": rnd, "plan": plan, "weaknesses": weaknesses,
            "_summary": {"samples": plan.samples, "budget_calls": plan.budget_calls, "weaknesses": len(weaknesses),
                         "errors": {str(k): round(v, 3) for k, v in stats.per_cluster.items()}}}


def row_stats(deps: Deps, look: Lookup, rows: list[dict[str, Any]]) -> A.ErrorStats:
    """Error statistics of prediction rows {id, gold, pred, cluster}."""
    ids = [r["id"] for r in rows]
    texts, kind = [look.text(i) for i in ids], deps.kind
    return A.error_stats(ids, texts, [r["gold"] for r in rows], [r["pred"] for r in rows],
                         [r["cluster"] for r in rows], deps.correct_flags(rows),
                         outcomes=[kind.outcomes(r["gold"], r["pred"]) for r in rows] if kind.units else None,
                         shown=[(kind.shown_target(t, r["gold"]), kind.shown_target(t, r["pred"]) if r["pred"]
                                 else "(unparseable)") for t, r in zip(texts, rows, strict=True)])


def analysis_rows(deps: Deps, state: DistillState) -> list[dict[str, Any]] | None:
    """The rows whose texts the teacher's weakness analysis is shown. Its descriptions reach the writer's prompt,
    so a run that writes shows it only what the writer may see (`loop.hard_anchor`: the shown half of dev, or
    the round's new labels); None: all of dev (a run that writes nothing, or `dev`). Quotas use all of dev."""
    if not can_write(deps) or deps.cfg.loop.hard_anchor == "dev":
        return None
    return anchor_rows(state, deps.cfg.loop.hard_anchor)


def report_read(deps: Deps, state: DistillState, plan: Plan) -> bool:
    """Whether this round's weakness report is bought (`pays_analysis`; `always`: every round): where it has a
    reader, the weak clusters it names synthesise; with `loop.weak_synth_share` 0 (stage 65) or
    `weak_synth_labels: rare` (stage 66) only a round whose plan from the error statistics writes reads it (for a
    tail, or a weak cluster missing a short label)."""
    loop = deps.cfg.loop
    steers = loop.teacher_analysis == "always" or (loop.weak_synth_share > 0 and not rare_only(deps))
    return pays_analysis(deps, state) and (steers or any(p.synthesize for p in plan.clusters))


def rare_only(deps: Deps) -> bool:
    """`loop.weak_synth_labels: rare` as it applies: to classification (other task kinds write as `any`)."""
    return deps.cfg.loop.weak_synth_labels == "rare" and deps.cfg.task.type == "classification"


def weak_writers(deps: Deps, state: DistillState, weaknesses: list[Weakness]) -> set[int]:
    """The weak clusters whose quota is partly written (`loop.weak_synth_labels`): all of them, or (rare,
    classification) those where the student misses on dev (the writer's rows) a label that the labels so far
    are short of (`agents.analyst.rare_labels`): the pool rarely offers it (stage 66)."""
    weak, labels = {c for w in weaknesses for c in w.clusters}, deps.cfg.task.label_names
    if not rare_only(deps):
        return weak
    short = A.rare_labels(Counter(targets(deps, state).values()), labels)
    missed = writer_missed_labels(deps, state)
    return {c for c in weak if short & set(missed.get(c, []))}


def teacher_weaknesses(deps: Deps, state: DistillState, stats: A.ErrorStats, rnd: int,
                       shown: A.ErrorStats) -> list[Weakness]:
    """The teacher's weakness report (EvoKD; one paid call, asked only where it is read: `report_read`); empty when
    the teacher gives none (the caller falls back on the worst clusters and confusions from the numbers). The
    teacher reads every dev error rate but only the example texts of `shown` (see `analysis_rows`)."""
    names, task = deps.cluster_names(), deps.cfg.task
    last = state["history"][-1] if state.get("history") else None
    metrics_line = ", ".join(f"{k} {v:.3f}" for k, v in (last.dev if last else {}).items())
    tpl = deps.prompts.get("analyst")
    v = A.weakness_request_vars(stats, metrics_line, names, deps.cfg.loop.analyst_examples, examples=shown)
    msgs = tpl.render(task_type=task.type, instruction=task.instruction, labels=task.labels, **v)
    res = ask(deps, [TeacherRequest(node="analyst", messages=msgs, schema=WeaknessReport, prompt_name=tpl.name,
                                    prompt_hash=tpl.hash, sample_index=rnd, kind="analyse")])[0]
    if not (res.ok and isinstance(res.parsed, WeaknessReport)):
        return []
    return A.weaknesses_from_report(res.parsed, {w["id"] for w in shown.wrong + shown.correct},
                                    set(task.label_names), set(names))


def round_budget(deps: Deps, stage: int, n_available: int) -> tuple[float, int]:
    """(call equivalents for this round's samples, judge calls set aside for scoring the pool): what is
    left spread over the stages left (BalDistill's B/K), less what judging will cost."""
    loop = deps.cfg.loop
    budget_calls = deps.calls_left() / max(loop.rounds - stage, 1)
    scoring_calls = 0
    if deps.scoring_method() == "judge" and deps.teacher_can("judge"):
        # judging is paid too: set aside the next trainer's dev judging and this round's pool judging
        budget_calls -= loop.judge_dev_sample if (deps.cfg.task.type == "generation" and loop.judge) else 0
        scoring_calls = int(max(0, min(loop.score_sample, n_available, budget_calls / 2)))
        budget_calls -= scoring_calls
    return budget_calls, scoring_calls


def make_plan(deps: Deps, state: DistillState, look: Lookup, stats: A.ErrorStats, weaknesses: list[Weakness],
              rnd: int) -> Plan:
    """The round's plan: how many samples the budget buys, spread over clusters by the policy's allocation."""
    loop, policy, votes, stage = deps.cfg.loop, deps.policy, deps.cfg.teacher.self_consistency, rnd - 1
    avail = available_per_cluster(deps, state, look)
    budget_calls, scoring_calls = round_budget(deps, stage, sum(avail.values()))
    can_synth = writes_now(deps, state)  # not after a writer check that stopped synthesis
    synth_guess = 1.0 if (loop.synthesis == "only" and policy.synthesizes) else (0.3 if can_synth else 0.0)
    cost_select, cost_synth = float(votes), votes + 1.0 / loop.synth_per_call
    samples = A.samples_for_budget(budget_calls, cost_select, cost_synth, synth_guess)
    natural = {int(c): float(s) for c, s in deps.clustering().sizes.items()}
    plans = A.allocate(
        samples=samples,
        shares=policy.allocation.shares(natural, stats.per_cluster, stage, loop.rounds, stats.cluster_sizes),
        natural=natural, errors=stats.per_cluster, available=dict(avail), tail_factor=loop.tail_factor,
        synthesis=loop.synthesis if policy.synthesizes else "off", can_synthesize=can_synth,
        weakness_clusters=weak_writers(deps, state, weaknesses), names=deps.cluster_names(),
        note=f"stage {stage}/{loop.rounds}: {policy.allocation}", weak_share=loop.weak_synth_share)
    focus: dict[int, str] = {}
    for w in weaknesses:
        for c in w.clusters:
            focus.setdefault(c, w.description)
    return Plan(round=rnd, stage=stage, stages=loop.rounds, budget_calls=round(budget_calls, 2),
                cost_per_select=cost_select, cost_per_synth=cost_synth, samples=samples,
                scoring_calls=scoring_calls, clusters=plans, weakness_focus=focus,
                notes=[f"{deps.calls_left():.1f} call-equivalents left over {max(loop.rounds - stage, 1)} stage(s)"])
