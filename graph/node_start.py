"""The run's first nodes: `index` embeds and clusters the data; `bootstrap` fixes the dev set (gold, or
carved from the pool and labelled by the teacher) and buys the cold-start labels the policy asks for."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from typing import Any

import numpy as np

from distillgraph.agents.records import Annotation, Candidate
from distillgraph.graph.cluster_names import apply_names, name_request, teacher_named
from distillgraph.graph.deps import Deps
from distillgraph.graph.node_annotator import annotate, mark_labelled
from distillgraph.graph.node_pool import RoundPool
from distillgraph.graph.node_quality import audit_plan
from distillgraph.graph.node_tools import ask, lookup
from distillgraph.graph.policies import (
    ColdStart,
    cold_start_cap,
    resolve_cold_start,
    resolve_cold_start_share,
)
from distillgraph.graph.policy_typiclust import Typical
from distillgraph.graph.state import DistillState
from distillgraph.store.index import build_index
from distillgraph.store.schema import UserError
from distillgraph.trainer.selection import neighbour_agreement, typiclust


def index(state: DistillState, deps: Deps) -> dict[str, Any]:
    exs = [e for split in ("pool", "seed", "dev", "test") for e in deps.data[split]]
    res = build_index(exs, deps.embedder, deps.store, deps.cfg.store, deps.data_dir)
    deps.set_index(res)
    cl = res.clustering
    if deps.cfg.store.teacher_names and deps.teacher_can("analyse") and not teacher_named(deps.data_dir):
        req = name_request(cl, {e.id: e.text for e in exs}, deps.prompts, deps.cfg.task.instruction)
        apply_names(ask(deps, [req])[0], cl, deps.data_dir)  # one paid, cached call; keywords stay on failure
    deps.trace.decision("clusters", k=cl.k, method=cl.method, sizes=cl.sizes)
    summary = {"k": cl.k, "method": cl.method, "embedded_new": res.n_embedded, "total": res.n_total,
               "timings": {k: round(v, 2) for k, v in res.seconds.items()}}
    return {"run_id": deps.run_id, "round": 0, "clusters": deps.cluster_summary(), "_summary": summary}


def bootstrap(state: DistillState, deps: Deps) -> dict[str, Any]:
    rng = random.Random(deps.cfg.run.seed)
    dev_ids, dev_labels = dev_set(state, deps, rng)
    update: dict[str, Any] = {"round": 0, "dev_ids": dev_ids, "dev_labels": dev_labels}
    anns: list[Annotation] = []
    if not any(e.target for e in deps.data["seed"]) and deps.cfg.loop.bootstrap_per_cluster > 0:
        cands = cold_start(deps, {"dataset": [], "dev_labels": dev_labels}, rng)
        anns, rejected = annotate(deps, {"dataset": [], "dev_labels": dev_labels}, cands, "bootstrap")
        mark_labelled(deps, anns, 0)
        update["rejected"] = rejected
        deps.trace.decision("cold start", candidates=len(cands), accepted=len(anns))
    update["dataset"] = anns
    update["_summary"] = {"dev": len(dev_ids), "dev_from_pool": bool(dev_labels), "bootstrap_labels": len(anns),
                          "seed": len(deps.data["seed"])}
    return update


def dev_set(state: DistillState, deps: Deps, rng: random.Random) -> tuple[list[str], dict[str, str]]:
    """(dev ids, teacher labels): the gold dev split, else pool examples stratified by cluster, labelled (paid)."""
    if deps.data["dev"]:
        return [e.id for e in deps.data["dev"]], {}
    pool_ids = [e.id for e in deps.data["pool"]]
    by_c: dict[int, list[str]] = defaultdict(list)
    for i in pool_ids:
        by_c[deps.assignments().get(i, 0)].append(i)
    n = min(deps.cfg.loop.dev_from_pool, len(pool_ids) // 3)
    picked: list[str] = []
    while len(picked) < n and any(by_c.values()):
        for c in sorted(by_c):
            if by_c[c] and len(picked) < n:
                picked.append(by_c[c].pop(rng.randrange(len(by_c[c]))))
    cands = [Candidate(id=i, cluster=deps.assignments().get(i, 0), source="dev-bootstrap", round=0) for i in picked]
    dev_anns, _ = annotate(deps, state, cands, "bootstrap")
    dev_labels = {a.id: a.target for a in dev_anns}
    deps.trace.decision("dev carved from pool", n=len(dev_labels), paid=True)
    if not dev_labels:
        raise UserError("no dev set: none given and the teacher labelled none of the carved pool examples")
    return list(dev_labels), dev_labels


def cold_start(deps: Deps, state: DistillState, rng: random.Random) -> list[Candidate]:
    """The first labels without seeds: the clusters' representatives, a random sample, TypiClust's typical
    examples, both (`mixed`: each cluster's representative, then typical examples of what they leave uncovered;
    what `adaptive` resolves to where the task kind measures a quality) or the policy's own selection, bootstrap_per_cluster
    per cluster."""
    loop, clustering = deps.cfg.loop, deps.clustering()
    taken = set(state.get("dev_labels", {}))
    look = lookup(deps, state)
    free = sorted(i for i in deps.pool_ids if i not in taken)
    n = min(loop.bootstrap_per_cluster * clustering.k, len(free))
    if (cap := cold_start_limit(deps, state)) is not None and cap < n:
        deps.trace.decision("cold start cap", wanted=n, cap=cap)
        n = cap
    how = resolve_cold_start(deps.policy.cold_start, deps.kind)
    if how == "checked":
        how = checked_cold_start(deps, state)
    if how == "random":
        ids = sorted(rng.sample(free, n))
    elif how in ("selection", "typical"):
        pick = deps.policy.selection if how == "selection" else Typical()
        ids = pick.select(free, n, RoundPool(deps, state, look, 0, rng), None).chosen
    elif how == "mixed" and n:
        reps = [c.id for c in representatives(deps, taken, 1, n)]
        chosen = set(reps)
        rest = [i for i in free if i not in chosen]
        view = RoundPool(deps, state, look, 0, rng)
        rep_vectors = view.vectors(reps)  # covered, as if labelled: the typical part looks elsewhere
        covered = np.vstack([view.labelled_vectors().reshape(-1, rep_vectors.shape[1]), rep_vectors])
        picks, _ = typiclust(view.vectors(rest), covered, n - len(reps), seed=rng.randrange(2**31))
        ids = reps + [rest[i] for i in picks]
    else:
        return representatives(deps, taken, loop.bootstrap_per_cluster, n)
    return [Candidate(id=r, cluster=look.cluster(r), source="bootstrap", round=0) for r in ids]


CHECK_ALPHA = 0.05  # the test's usual level, not tuned


def checked_cold_start(deps: Deps, state: DistillState) -> ColdStart:
    """`checked`: `mixed` (cluster-based) where the dev set's nearest neighbours share labels more often than
    unrelated examples would (one-sided binomial test at CHECK_ALPHA), a random sample where they do not: then
    the embedding space's clusters are no map of the labels (e.g. sentence pairs). Gold dev labels, else the
    teacher's dev labels; with fewer than 3 labelled dev examples or one label, `mixed` (nothing to test)."""
    labels = {e.id: e.label for e in deps.data["dev"] if e.label is not None} or dict(state.get("dev_labels", {}))
    ids = sorted(labels)
    check = neighbour_agreement(deps.vectors(ids, None), [labels[i] for i in ids]) if ids else {"n": 0}
    p = check.get("p", math.nan)
    how: ColdStart = "random" if p >= CHECK_ALPHA else "mixed"  # nan (no test possible) compares False: mixed
    deps.trace.decision("cold start check", chose=how, alpha=CHECK_ALPHA,
                        **{k: round(float(v), 4) for k, v in check.items() if math.isfinite(v)})
    return how


def representatives(deps: Deps, taken: set[str], per_cluster: int, n: int | None = None) -> list[Candidate]:
    """The first `per_cluster` representatives (nearest to the centroid) of every cluster still in the pool, in
    cluster order; at most n of them: the first of every cluster before any second, larger clusters first."""
    clustering = deps.clustering()
    reps = {int(c): [r for r in rs if r in deps.pool_ids and r not in taken][:per_cluster]
            for c, rs in clustering.representatives.items()}
    if n is not None and n < sum(map(len, reps.values())):
        order = sorted(((rank, -clustering.sizes.get(c, 0), c) for c, rs in reps.items() for rank in range(len(rs))))
        keep = {(c, rank) for rank, _, c in order[:n]}
        reps = {c: [r for rank, r in enumerate(rs) if (c, rank) in keep] for c, rs in reps.items()}
    return [Candidate(id=r, cluster=c, source="bootstrap", round=0) for c, rs in sorted(reps.items()) for r in rs]


def cold_start_limit(deps: Deps, state: DistillState) -> int | None:
    """The most labels the policy's cold start may buy: `cold_start_share` of the labels the budget leaves
    (calls left, less the planned audit's, over the votes per label); None: no cap (share 1, or no budget cap)."""
    share = resolve_cold_start_share(deps.policy.cold_start_share, deps.kind)
    if share >= 1 or not deps.ledger.remaining():
        return None
    votes = deps.cfg.teacher.self_consistency
    return cold_start_cap(share, deps.calls_left() - audit_plan(deps, state)[0] * votes, votes)
