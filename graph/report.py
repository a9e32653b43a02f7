"""The run report: metrics.json, a learning curve, a per-cluster chart, a data card and index.html (one
self-contained page: graph/html_report.py)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from distillgraph.agents.simulated import teacher_description  # noqa: E402
from distillgraph.graph.config import RunConfig  # noqa: E402
from distillgraph.graph.html_report import write_html  # noqa: E402
from distillgraph.graph.trace import read_trace, run_texts  # noqa: E402
from distillgraph.graph.trace_view import cluster_names  # noqa: E402


def _budget_axis(history: list[Any]) -> tuple[list[float], str]:
    """Dollars when the teacher has prices, else calls: what the budget is counted in."""
    spent = [m.budget_spent for m in history]
    if any(s.get("usd", 0) for s in spent):
        return [float(s.get("usd", 0)) for s in spent], "teacher $ spent"
    return [float(s.get("calls", 0)) for s in spent], "teacher calls spent"


def learning_curve(history: list[Any], metric: str, path: Path) -> None:
    xs, xlabel = _budget_axis(history)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, [m.dev.get(metric, 0) for m in history], "o-", label=f"dev {metric}")
    if any(m.test for m in history):
        ax.plot(xs, [m.test.get(metric, 0) for m in history], "s--", label=f"test {metric}")
    if any(m.worst_cluster is not None for m in history):
        ax.plot(xs, [m.worst_cluster or 0 for m in history], "^:", label="dev worst cluster")
    for m, x in zip(history, xs, strict=True):
        ax.annotate(f"r{m.round}", (x, m.dev.get(metric, 0)), textcoords="offset points", xytext=(3, 5), fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    ax.set_title("Student learning curve")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cluster_chart(history: list[Any], names: dict[str, str], path: Path) -> None:
    first, last = history[0].per_cluster_dev, history[-1].per_cluster_dev
    keys = sorted(last, key=lambda k: int(k))
    fig, ax = plt.subplots(figsize=(max(5, len(keys) * 0.8), 4))
    idx = range(len(keys))
    ax.bar([i - 0.2 for i in idx], [first.get(k, 0) for k in keys], width=0.4, label=f"round {history[0].round}")
    ax.bar([i + 0.2 for i in idx], [last.get(k, 0) for k in keys], width=0.4, label=f"round {history[-1].round}")
    ax.set_xticks(list(idx), [names.get(k, f"c{k}") for k in keys], rotation=30, ha="right")
    ax.set_ylabel("dev score per cluster")
    ax.set_title("Per-cluster dev score (sub-populations)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def data_card(state: dict[str, Any], cfg: RunConfig, names: dict[str, str]) -> dict[str, Any]:
    ds = state.get("dataset", [])
    agreement = [a.agreement for a in ds]
    card = {
        "task": cfg.task.name,
        "type": cfg.task.type,
        "teacher": teacher_description(cfg.teacher),  # a simulated teacher says so
        "examples": len(ds),
        "by_source": dict(Counter(a.source for a in ds)),
        "by_cluster": {names.get(str(k), f"c{k}"): v for k, v in sorted(Counter(a.cluster for a in ds).items())},
        "by_round": {str(k): v for k, v in sorted(Counter(a.round for a in ds).items())},
        "rejected": len(state.get("rejected", [])),
        "mean_teacher_agreement": round(sum(agreement) / len(agreement), 4) if agreement else None,
        "dev_labelled_by_teacher": len(state.get("dev_labels", {})),
    }
    if cfg.task.type == "classification":
        card["by_label"] = dict(Counter(a.target for a in ds))
    audit = state.get("audit")
    if audit:
        card["teacher_audit"] = audit["line"]
    gated = [a for a in ds if getattr(a, "gate", None) is not None]
    if gated:
        card["label_gating"] = {"mode": cfg.teacher.gate.mode, "threshold": cfg.teacher.gate.threshold,
                                "regate_k": cfg.teacher.gate.regate_k,
                                "scored": len(gated), "dropped": sum(a.weight == 0 for a in ds),
                                "down_weighted": sum(0 < a.weight < 1 for a in ds),
                                "mean_confidence": round(sum(a.gate for a in gated) / len(gated), 4)}
    return card


def best_round(history: list[Any], metric: str) -> Any | None:
    """The round whose student scored highest on dev (the latest of equals: it saw the most data)."""
    scored = [m for m in history if metric in m.dev]
    return max(reversed(scored), key=lambda m: m.dev[metric]) if scored else None


def _best(history: list[Any], metric: str) -> dict[str, Any] | None:
    best = best_round(history, metric)
    return None if best is None else {"round": best.round, "dev": best.dev, "test": best.test, "adapter": best.adapter}


def regression_note(history: list[Any], metric: str) -> str | None:
    """A warning when the final student is clearly worse on dev than an earlier round's (a weak teacher whose
    labels are worse than the student's own, or overfitting); None otherwise."""
    best = best_round(history, metric)
    if best is None or not history or metric not in history[-1].dev:
        return None
    final, top = history[-1].dev[metric], best.dev[metric]
    if top - final <= 0.02 * max(abs(top), 1e-9):
        return None
    return (f"dev {metric} fell from {top:.3f} (round {best.round}) to {final:.3f} (round {history[-1].round}): "
            "the teacher's labels may be worse than the student's own predictions; check a few in `distillgraph "
            f"trace`. `distillgraph export` takes the best round's adapter (round {best.round}).")


def write_report(run_dir: Path, state: dict[str, Any], cfg: RunConfig, ledger: dict[str, Any]) -> Path:
    out = run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    history = state.get("history", [])
    names = (state.get("clusters") or {}).get("names", {})
    card = data_card(state, cfg, names)
    notes = (["the dev set was carved from the pool and labelled by the teacher (paid from the budget)"]
             if state.get("dev_labels") else [])
    regression = regression_note(history, cfg.dev_metric)
    notes += [regression] if regression else []
    audit = state.get("audit") or {}
    notes += [audit["line"]] if audit.get("verdict") in ("not_better", "inconclusive") else []
    metrics = {
        "run_id": state.get("run_id"),
        "stop_reason": state.get("stop_reason", ""),
        "dev_metric": cfg.dev_metric,
        "rounds": [m.model_dump() for m in history],
        "final": history[-1].model_dump() if history else None,
        "budget": ledger,
        "teacher_failures": ledger.get("failures", {}),
        "data": card,
        "best_round": _best(history, cfg.dev_metric),
        "teacher_audit": state.get("audit"),
        "notes": notes,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str), encoding="utf-8")
    lines = [f"# Data card: {cfg.task.name}", ""] + [f"- **{k}**: {v}" for k, v in card.items()]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    (out / "data_card.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if history:
        learning_curve(history, cfg.dev_metric, out / "learning_curve.png")
        cluster_chart(history, names, out / "clusters.png")
    write_html(run_dir, state, metrics, read_trace(run_dir),
               {int(k): v for k, v in names.items()} | cluster_names(run_dir), run_texts(cfg))
    return out
