"""The generator node: the policy's selection picks unlabelled pool examples (per cluster quota or over the
whole pool); the teacher writes new inputs where the plan asks for synthesis (EvoKD: easy and hard),
near-duplicates of existing data dropped."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import numpy as np

from distillgraph.agents.generator import SynthJob, candidates_from_answers, synth_requests
from distillgraph.agents.records import Candidate, Plan
from distillgraph.graph.deps import Deps
from distillgraph.graph.node_pool import RoundPool
from distillgraph.graph.node_tools import (
    Lookup,
    anchor_rows,
    ask,
    ensure_student,
    lookup,
    targets,
    unlabelled_pool,
    writer_missed_labels,
)
from distillgraph.graph.state import DistillState
from distillgraph.store.index import add_samples
from distillgraph.store.schema import Example


def generator(state: DistillState, deps: Deps) -> dict[str, Any]:
    ensure_student(deps, state)
    rnd, plan = state["round"], state["plan"]
    assert plan is not None, "the generator runs after the analyst"
    look = lookup(deps, state)
    pool = RoundPool(deps, state, look, rnd, random.Random(deps.cfg.run.seed * 1000 + rnd), plan)
    unl = unlabelled_pool(deps, state)
    selected = select_candidates(deps, pool, plan, unl)
    want = {p.cluster: p.synthesize for p in plan.clusters if p.synthesize > 0}
    kept: list[Candidate] = []
    failed = dupes = 0
    bought = set(targets(deps, state))  # a text written again is never bought twice
    for attempt in range(1 + deps.cfg.loop.synth_top_up):  # later passes: what the earlier ones did not deliver
        short = shortfall(want, kept)
        if not short:
            break
        if attempt:
            deps.trace.decision("synthesis short: ask the writer again", attempt=attempt, missing=short)
        synth, f = synthesize(deps, state, look, plan, short, attempt)
        seen = bought | {k.id for k in kept}
        new = drop_near_duplicates(deps, [c for c in synth if c.id not in seen], kept)
        store_synthetic(deps, new, rnd)
        kept, failed, dupes = kept + new, failed + f, dupes + len(synth) - len(new)
    filled = [] if deps.cfg.loop.synthesis == "only" else fill_from_pool(deps, pool, shortfall(want, kept), unl,
                                                                         {c.id for c in selected})
    return {"candidates": selected + filled + kept,
            "_summary": {"selected": len(selected), "synthesized": len(kept), "synth_calls_failed": failed,
                         "near_duplicates": dupes, "synthesis_short_filled_from_pool": len(filled),
                         "synthesis_short": sum(shortfall(want, kept).values())}}


def shortfall(want: dict[int, int], kept: list[Candidate]) -> dict[int, int]:
    """cluster -> synthetic texts the plan asked for and did not get (failed calls, short answers,
    near-duplicates): budget that would otherwise go unspent this round."""
    got: dict[int, int] = defaultdict(int)
    for c in kept:
        got[c.cluster] += 1
    return {c: n - got[c] for c, n in want.items() if n > got[c]}


def fill_from_pool(deps: Deps, pool: RoundPool, short: dict[int, int], unl: list[str],
                   taken: set[str]) -> list[Candidate]:
    """Pool picks for the synthesis the writer did not deliver: the policy's selection within the cluster,
    then over the rest of the pool where the cluster has too few unlabelled texts left."""
    out: list[Candidate] = []
    for c, n in sorted(short.items()):
        got = 0
        for scope in (c, None):
            free = [i for i in unl if i not in taken and (scope is None or pool.look.cluster(i) == c)]
            if got >= n or not free:
                continue
            chosen = deps.policy.selection.select(free, min(n - got, len(free)), pool, scope).chosen
            taken.update(chosen)
            got += len(chosen)
            out += [Candidate(id=i, cluster=pool.look.cluster(i), source="pool", round=pool.round) for i in chosen]
        deps.trace.decision("synthesis short: filled from the pool", cluster=c, missing=n, filled=got)
    return out


def select_candidates(deps: Deps, pool: RoundPool, plan: Plan, unl: list[str]) -> list[Candidate]:
    """The policy's selection where its scope says: each cluster's `select` quota from its own unlabelled
    pool, the plan's total over the whole pool, or split between the two."""
    policy, rnd = deps.policy, pool.round
    quotas = {p.cluster: p.select for p in plan.clusters if p.select > 0}
    by_c: dict[int, list[str]] = defaultdict(list)
    for i in unl:
        by_c[pool.look.cluster(i)].append(i)
    out: list[Candidate] = []
    for c, picked in policy.scope.pick(policy.selection, quotas, unl, dict(by_c), pool):
        sc = picked.scores
        out += [Candidate(id=i, cluster=pool.look.cluster(i) if c is None else c, source="pool", round=rnd,
                          score=sc.get(i)) for i in picked.chosen]
        where = {"policy": policy.name, "pool": len(unl)} if c is None else {"cluster": c, "scored": len(sc)}
        deps.trace.decision("select", **where, chosen=len(picked.chosen),
                            top_score=max((round(sc[i], 4) for i in picked.chosen if i in sc), default=None),
                            chosen_ids=picked.chosen, scores={i: round(v, 4) for i, v in sc.items()})
    return out


def synthesize(deps: Deps, state: DistillState, look: Lookup, plan: Plan, want: dict[int, int],
               attempt: int = 0) -> tuple[list[Candidate], int]:
    """New inputs for the clusters in `want` (cluster -> how many), shown the cluster's labelled examples and
    the student's errors there (`loop.hard_anchor`: on this round's new labels before training on them, or on
    dev); returns (candidates, failed calls)."""
    wanted = [p for p in plan.clusters if want.get(p.cluster, 0) > 0]
    if not wanted:
        return [], 0
    known = targets(deps, state)
    anchor = deps.cfg.loop.hard_anchor
    wrong = [r for r in anchor_rows(state, anchor) if not deps.correct_flags([r])[0]]
    missed = writer_missed_labels(deps, state)
    jobs = []
    for p in wanted:
        labelled_c = [i for i in known if look.cluster(i) == p.cluster]
        reps = [r for r in deps.clustering().representatives.get(p.cluster, []) if r in known] + labelled_c
        show = deps.kind.shown_target  # ner: entities as JSON, not tags
        examples = [{"text": look.text(i), "target": show(look.text(i), known[i])} for i in list(dict.fromkeys(reps))[:4]]
        errors = [{"text": look.text(r["id"]), "target": show(look.text(r["id"]), r["gold"]),
                   "predicted": show(look.text(r["id"]), r["pred"]) if r["pred"] else "(unparseable)"}
                  for r in wrong if r["cluster"] == p.cluster][:3]
        jobs.append(SynthJob(cluster=p.cluster, cluster_name=p.name, n=want[p.cluster],
                             weakness=plan.weakness_focus.get(p.cluster, ""), examples=examples, errors=errors,
                             missed=missed.get(p.cluster, []) if deps.cfg.loop.missed_labels else []))
    loop = deps.cfg.loop
    pairs = synth_requests(jobs, task=deps.cfg.task, prompts=deps.prompts, per_call=loop.synth_per_call,
                           easy_fraction=loop.easy_fraction, round_=plan.round, attempt=attempt,
                           temperature=deps.cfg.teacher.synth_temperature)
    return candidates_from_answers(pairs, ask(deps, [r for _, r in pairs]), plan.round, deps.cfg.data.max_text_chars,
                                   normalize=deps.kind.normalize_text)


def drop_near_duplicates(deps: Deps, synth: list[Candidate], kept: list[Candidate] | None = None) -> list[Candidate]:
    """Synthetic candidates not within loop.near_duplicate (cosine) of stored data or of each other (those
    `kept` earlier in this round included). The store is searched without this round's synthetic texts, so a
    generator re-run after a crash (its texts already stored) drops exactly what the first run dropped."""
    if not synth:
        return []
    limit, rnd = deps.cfg.loop.near_duplicate, synth[0].round
    earlier = list(kept or [])
    rows = [*earlier, *synth]
    vecs = deps.vectors([c.id for c in rows], [c.text or "" for c in rows])
    unit = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    k = 1 + len(rows) + len(synth)  # room past this round's stored synthetic texts (all of them on a re-run)
    mine = list(range(len(earlier)))  # rows of texts kept so far in this round
    out = []
    for row, c in enumerate(synth, start=len(earlier)):
        hits = deps.store.neighbours(vector=vecs[row], k=k, exclude_ids=[c.id])
        near = [(h.distance, h.id) for h in hits
                if not (h.metadata.get("source") == "synthetic" and h.metadata.get("round") == rnd)][:1]
        near += [(1.0 - float(unit[row] @ unit[j]), rows[j].id) for j in mine]
        closest = min(near, default=None)
        if closest is not None and closest[0] < limit:
            deps.trace.decision("drop near-duplicate", id=c.id, of=closest[1], distance=round(closest[0], 4))
            continue
        out.append(c)
        mine.append(row)
    return out


def store_synthetic(deps: Deps, kept: list[Candidate], rnd: int) -> None:
    """Add the kept synthetic inputs to the store; each stays in the cluster it was written for."""
    if not kept:
        return
    clusters = add_samples([Example(id=c.id, text=c.text or "", split="synthetic") for c in kept], round=rnd,
                           source="synthetic", embedder=deps.embedder, store=deps.store,
                           clustering=deps.clustering(), data_dir=deps.data_dir)
    for c, nc in zip(kept, clusters, strict=True):
        if nc != c.cluster:
            deps.trace.decision("synthetic lands in another cluster", id=c.id, asked=c.cluster, nearest=nc)
