"""The analyst: where is the student weak, and how should this round's budget be spread?

Pure functions (error statistics, BalDistill's adaptive balancing, the head/tail split) plus the one
LLM-facing call that asks the teacher for a structured weakness report (EvoKD).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

from distillgraph.agents.records import ClusterPlan, Weakness
from distillgraph.agents.schemas import WeaknessReport


@dataclass
class ErrorStats:
    per_label: dict[str, float]
    per_cluster: dict[int, float]
    cluster_sizes: dict[int, int]
    confusions: list[tuple[str, str, int]]
    correct: list[dict[str, Any]] = field(default_factory=list)
    wrong: list[dict[str, Any]] = field(default_factory=list)


def error_stats(
    ids: list[str],
    texts: list[str],
    gold: list[str],
    pred: list[str | None],
    clusters: list[int],
    correct_flags: list[bool] | None = None,
    outcomes: list[list[tuple[str, bool, str]]] | None = None,
    shown: list[tuple[str, str]] | None = None,
) -> ErrorStats:
    """Split predictions into correct and wrong; error rates per label and per cluster; confusions.

    `correct_flags` lets generation tasks say what counts as wrong (e.g. chrF below a threshold).
    `outcomes` gives, per example, its (label, correct, predicted label) units when an example holds several
    (ner: one per gold or predicted entity); by default the example's own label. `shown` is the (target,
    predicted) pair the analyst's prompt quotes (ner: the entities, not the tags).
    """
    flags = correct_flags if correct_flags is not None else [g == p for g, p in zip(gold, pred, strict=True)]
    by_label: dict[str, list[bool]] = defaultdict(list)
    by_cluster: dict[int, list[bool]] = defaultdict(list)
    confusions: Counter[tuple[str, str]] = Counter()
    correct: list[dict[str, Any]] = []
    wrong: list[dict[str, Any]] = []
    for i, ok in enumerate(flags):
        units = outcomes[i] if outcomes is not None else [(gold[i], ok, pred[i] or "(unparseable)")]
        for label, unit_ok, said in units:
            by_label[label].append(unit_ok)
            if not unit_ok:
                confusions[(label, said)] += 1
        by_cluster[clusters[i]].append(ok)
        target, said_i = shown[i] if shown is not None else (gold[i], pred[i] or "(unparseable)")
        row = {"id": ids[i], "text": texts[i], "target": target, "predicted": said_i, "cluster": clusters[i]}
        (correct if ok else wrong).append(row)
    return ErrorStats(
        per_label={k: 1 - sum(v) / len(v) for k, v in sorted(by_label.items())},
        per_cluster={k: 1 - sum(v) / len(v) for k, v in sorted(by_cluster.items())},
        cluster_sizes={k: len(v) for k, v in sorted(by_cluster.items())},
        confusions=[(g, p, n) for (g, p), n in confusions.most_common()],
        correct=correct,
        wrong=wrong,
    )


def adaptive_shares(natural: dict[int, float], stage: int, stages: int) -> dict[int, float]:
    """BalDistill's adaptive balancing: at stage i of K, share = natural·(K−i)/K + uniform·i/K."""
    total = sum(natural.values()) or 1.0
    n = len(natural)
    k = max(stages, 1)
    i = min(max(stage, 0), k)
    return {c: (v / total) * (k - i) / k + (1.0 / n) * (i / k) for c, v in natural.items()}


def shrink_errors(errors: dict[int, float], counts: dict[int, int], prior: float) -> dict[int, float]:
    """Each cluster's dev error pulled toward the overall error by `prior` pseudo-examples (empirical Bayes):
    (n_c·e_c + prior·ē) / (n_c + prior). A cluster measured on few dev examples moves little from the mean;
    prior 0 leaves the errors as measured."""
    if prior <= 0 or not errors:
        return dict(errors)
    n = {c: counts.get(c, 0) for c in errors}
    mean = mean_error(errors, counts)
    return {c: (n[c] * e + prior * mean) / (n[c] + prior) for c, e in errors.items()}


def mean_error(errors: dict[int, float], counts: dict[int, int]) -> float:
    """The overall dev error: the clusters' errors weighted by their dev counts (unweighted without counts)."""
    n = {c: counts.get(c, 0) for c in errors}
    total = sum(n.values())
    return sum(errors[c] * n[c] for c in errors) / total if total else sum(errors.values()) / len(errors)


def errors_differ(errors: dict[int, float], counts: dict[int, int]) -> float | None:
    """Do the clusters' dev errors differ more than chance would make them? The p-value of a chi-square test of
    homogeneity over (wrong, right) dev counts per cluster; 1.0 when every dev example is wrong (or every one
    right); None with fewer than two clusters measured."""
    from scipy.stats import chi2_contingency

    rows = [[round(errors[c] * counts[c]), counts[c] - round(errors[c] * counts[c])]
            for c in sorted(errors) if counts.get(c, 0) > 0]
    if len(rows) < 2:
        return None
    if any(sum(col) == 0 for col in zip(*rows, strict=True)):
        return 1.0
    return float(chi2_contingency(rows)[1])


def boost_by_error(shares: dict[int, float], errors: dict[int, float], boost: float) -> dict[int, float]:
    """Raise the share of clusters where the student errs: share·(1 + boost·error), renormalised."""
    raised = {c: s * (1.0 + boost * errors.get(c, 0.0)) for c, s in shares.items()}
    total = sum(raised.values()) or 1.0
    return {c: v / total for c, v in raised.items()}


def integer_quotas(shares: dict[int, float], n: int) -> dict[int, int]:
    """Largest-remainder rounding: quotas that sum to exactly n (ties broken by cluster id)."""
    raw = {c: s * n for c, s in shares.items()}
    quotas = {c: int(math.floor(v)) for c, v in raw.items()}
    left = n - sum(quotas.values())
    for c in sorted(raw, key=lambda c: (-(raw[c] - quotas[c]), c))[: max(left, 0)]:
        quotas[c] += 1
    return quotas


def allocate(
    *,
    samples: int,
    shares: dict[int, float],
    natural: dict[int, float],
    errors: dict[int, float],
    available: dict[int, int],
    tail_factor: float,
    synthesis: str,
    can_synthesize: bool,
    weakness_clusters: set[int] | None = None,
    names: dict[int, str] | None = None,
    note: str = "",
    weak_share: float = 0.25,
) -> list[ClusterPlan]:
    """Spread `samples` over clusters by `shares` (the policy's allocation, summing to 1) and split each
    quota into select (pool) and synthesize.

    Head clusters (enough unlabelled pool for their quota) are served by active selection; tail
    clusters by teacher synthesis (BalDistill). A cluster named in a weakness gets `weak_share` (a quarter) of
    its quota synthesised as targeted samples (EvoKD). Without synthesis, what a cluster's pool cannot
    cover goes to the others.
    """
    names, weak = names or {}, weakness_clusters or set()
    quotas = integer_quotas(shares, samples)
    synth_ok = can_synthesize and synthesis != "off"
    total = sum(natural.values()) or 1
    plans: dict[int, ClusterPlan] = {}
    for c in sorted(natural):
        q, avail = quotas[c], available.get(c, 0)
        kind: Literal["head", "tail"] = "head" if avail >= tail_factor * max(q, 1) else "tail"
        sel, syn, why = split_quota(q, avail, kind, synthesis if synth_ok else "off", c in weak, weak_share)
        reason = [note, f"share {shares[c]:.2f} (natural {natural[c] / total:.2f}, error {errors.get(c, 0.0):.2f})", *why]
        plans[c] = ClusterPlan(
            cluster=c, name=names.get(c, f"c{c}"), kind=kind, natural_share=round(natural[c] / total, 4),
            share=round(shares[c], 4), error=round(errors.get(c, 0.0), 4), quota=q, select=sel, synthesize=syn,
            available=avail, reason="; ".join(r for r in reason if r),
        )
    spill_over(plans, sum(p.quota - p.select - p.synthesize for p in plans.values()), errors)
    return [plans[c] for c in sorted(plans)]


def split_quota(q: int, avail: int, kind: str, synthesis: str, weak: bool,
                weak_share: float = 0.25) -> tuple[int, int, list[str]]:
    """(select, synthesize, reasons) of one cluster's quota; `synthesis` is "off" when nothing may be written;
    a weak head cluster synthesises `weak_share` of its quota (at least one; none when `weak_share` is 0)."""
    if synthesis == "only":
        return 0, q, ["synthesis only"]
    if kind == "tail" and synthesis != "off":
        sel = min(avail, q // 2)
        return sel, q - sel, [f"tail: pool has {avail} unlabelled for quota {q}, synthesize {q - sel}"]
    sel, syn, why = min(avail, q), 0, []
    if weak and synthesis != "off" and q >= 2 and weak_share > 0:
        syn = min(q, max(1, int(q * weak_share)))
        sel = min(avail, q - syn)
        why.append(f"weakness: {syn} targeted synthetic samples")
    if q - sel - syn > 0:
        why.append(f"pool exhausted: {q - sel - syn} moved to other clusters")
    return sel, syn, why


def rare_labels(counts: dict[str, int], labels: list[str], factor: float = 0.5) -> set[str]:
    """The labels a labelled set is short of: fewer than `factor` of an even share of it (stage 66)."""
    n = sum(counts.get(label, 0) for label in labels)
    return {label for label in labels if counts.get(label, 0) < factor * n / len(labels)} if labels else set()


def spill_over(plans: dict[int, ClusterPlan], spill: int, errors: dict[int, float]) -> None:
    """Clusters with pool left take what others could not use, most erring first."""
    for c in sorted(plans, key=lambda c: (-errors.get(c, 0.0), c)):
        if spill <= 0:
            break
        extra = min(plans[c].available - plans[c].select, spill)
        if extra > 0:
            plans[c].select += extra
            plans[c].quota += extra
            plans[c].reason += f"; +{extra} spill-over"
            spill -= extra


def samples_for_budget(budget_calls: float, cost_select: float, cost_synth: float, synth_fraction: float) -> int:
    """How many samples a round's budget buys, given the expected select/synthesize mix."""
    unit = (1 - synth_fraction) * cost_select + synth_fraction * cost_synth
    return max(0, int(budget_calls // unit)) if unit > 0 else 0


def weakness_request_vars(stats: ErrorStats, metrics: str, cluster_names: dict[int, str], n_examples: int,
                          examples: ErrorStats | None = None) -> dict[str, Any]:
    """Variables for the `analyst` prompt: error tables from `stats`, wrong and correct example texts from
    `examples` (default `stats`; a subset of the rows when the prompt may quote only some texts)."""
    shown = stats if examples is None else examples
    return {
        "metrics": metrics,
        "per_label": [{"name": k, "error": v} for k, v in stats.per_label.items()],
        "per_cluster": [
            {"id": c, "name": cluster_names.get(c, f"c{c}"), "error": e, "size": stats.cluster_sizes[c]}
            for c, e in stats.per_cluster.items()
        ],
        "confusions": [{"gold": g, "pred": p, "count": n} for g, p, n in stats.confusions[:8]],
        "wrong": shown.wrong[:n_examples],
        "correct": shown.correct[:n_examples],
    }


def weaknesses_from_report(report: WeaknessReport, known_ids: set[str], labels: set[str], clusters: set[int]) -> list[Weakness]:
    """Keep only what refers to real labels, clusters and example ids (the teacher may invent some)."""
    out = []
    for w in report.weaknesses:
        out.append(
            Weakness(
                description=w.description.strip()[:500],
                labels=[lb for lb in w.labels if lb in labels] if labels else [],
                clusters=[c for c in w.clusters if c in clusters],
                example_ids=[i for i in w.example_ids if i in known_ids],
                suggestion=w.suggestion.strip()[:500],
                origin="teacher",
            )
        )
    return [w for w in out if w.description]


def weaknesses_from_stats(stats: ErrorStats, names: dict[int, str], top: int = 3) -> list[Weakness]:
    """Fallback when the teacher cannot be asked: the worst clusters and confusions, from numbers."""
    out = []
    for c, err in sorted(stats.per_cluster.items(), key=lambda kv: -kv[1])[:top]:
        if err <= 0:
            continue
        ids = [w["id"] for w in stats.wrong if w["cluster"] == c][:5]
        conf = Counter((w["target"], w["predicted"]) for w in stats.wrong if w["cluster"] == c).most_common(1)
        desc = f"error rate {err:.2f} in cluster {names.get(c, c)}"
        labels = []
        if conf:
            (g, p), n = conf[0]
            desc += f"; most often {g} predicted as {p} ({n}x)"
            labels = [g]
        out.append(Weakness(description=desc, labels=labels, clusters=[c], example_ids=ids, origin="stats"))
    return out
