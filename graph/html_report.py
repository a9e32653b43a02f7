"""report/index.html: one self-contained page per run (no external assets; opens offline).

The page answers "which cluster got most of round N's budget, why, and what did the teacher write for
it?": per round, the analyst's plan (quota and reason per named cluster, with the weaknesses it found)
and, under the cluster with the largest quota, the annotations the teacher made for it that round. It
also holds the learning curve and the per-cluster chart (PNG, inlined as base64), the teacher audit
where the run has one, the dataset with its provenance (filterable by round, source, label and
cluster: a few lines of vanilla JS) and every step with its prompts and answers (expandable).

The HTML comes from graph/templates/report.html.j2 rendered by Jinja2 with autoescaping on: texts
from the data or the teacher are escaped, never interpreted.
"""

from __future__ import annotations

import base64
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "report.html.j2"
SNIPPET = 300  # characters of a text in the dataset table (the full text is one click away)


def _png(path: Path) -> str | None:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii") if path.exists() else None


def _name(c: Any, names: dict[int, str]) -> str:
    try:
        return names.get(int(c)) or f"cluster {c}"
    except (TypeError, ValueError):
        return str(c)


def _teacher_events(rec: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in rec.get("events", []) if e.get("kind") == "teacher"]


def round_plans(steps: list[dict[str, Any]], state: dict[str, Any], names: dict[int, str]) -> list[dict[str, Any]]:
    """Per round, from the analyst's trace step: the allocation per cluster (largest quota first), the
    round's budget, the error per cluster and the weaknesses the analyst found."""
    plans = []
    for i, rec in enumerate(steps):
        if rec.get("node") != "analyst":
            continue
        # the analyst starts round r (its record carries the round it started from); the steps after it run in r
        nxt = next((s for s in steps[i + 1:] if s.get("node") != "analyst"), None)
        rnd = int(nxt["round"]) if nxt is not None and int(nxt.get("round", -1)) > int(rec.get("round", 0)) \
            else int(rec.get("round", 0)) + 1
        summary = rec.get("summary") or {}
        errors = {str(k): v for k, v in (summary.get("errors") or {}).items()}
        rows = [d for d in rec.get("decisions", []) if d.get("what") == "allocate"]
        weaknesses, analysis = [], ""
        for ev in _teacher_events(rec):
            parsed = ev.get("parsed") or {}
            if isinstance(parsed, dict) and "weaknesses" in parsed:
                analysis = str(parsed.get("analysis", ""))
                weaknesses = [{"description": w.get("description", ""), "labels": w.get("labels", []),
                               "clusters": [_name(c, names) for c in w.get("clusters", [])],
                               "cluster_ids": [int(c) for c in w.get("clusters", []) if str(c).lstrip("-").isdigit()],
                               "suggestion": w.get("suggestion", ""), "origin": "teacher"}
                              for w in parsed.get("weaknesses", [])]
        plans.append(_plan(rnd, rows, summary, errors, weaknesses, analysis, names, rec.get("step")))
    if not plans and state.get("plan") is not None:  # no trace: the last plan from the state
        p = state["plan"]
        rows = [c.model_dump() for c in p.clusters]
        plans.append(_plan(p.round, rows, {"samples": p.samples, "budget_calls": p.budget_calls}, {},
                           [], "", names, None))
    if plans and not plans[-1]["weaknesses"]:
        last = [w for w in state.get("weaknesses", []) or [] if getattr(w, "origin", "") == "stats"]
        if last and state.get("round") == plans[-1]["round"]:
            plans[-1]["weaknesses"] = [{"description": w.description, "labels": w.labels,
                                        "clusters": [_name(c, names) for c in w.clusters], "cluster_ids": w.clusters,
                                        "suggestion": w.suggestion, "origin": "error statistics"} for w in last]
    return plans


def _plan(rnd: int, rows: list[dict[str, Any]], summary: dict[str, Any], errors: dict[str, Any],
          weaknesses: list[dict[str, Any]], analysis: str, names: dict[int, str], step: Any) -> dict[str, Any]:
    total = sum(int(r.get("quota", 0)) for r in rows) or 1
    clusters = []
    for r in sorted(rows, key=lambda r: (-int(r.get("quota", 0)), int(r.get("cluster", 0)))):
        c = int(r.get("cluster", 0))
        clusters.append({"id": c, "name": _name(c, names), "quota": int(r.get("quota", 0)),
                         "share": int(r.get("quota", 0)) / total, "select": int(r.get("select", 0)),
                         "synthesize": int(r.get("synthesize", 0)), "kind": r.get("kind", ""),
                         "reason": r.get("reason", ""), "error": errors.get(str(c))})
    return {"round": rnd, "step": step, "samples": summary.get("samples"), "budget_calls": summary.get("budget_calls"),
            "clusters": clusters, "top": clusters[0] if clusters and clusters[0]["quota"] > 0 else None,
            "weaknesses": weaknesses, "analysis": analysis}


def dataset_rows(state: dict[str, Any], names: dict[int, str], text_of: Callable[[str], str | None]) -> list[dict[str, Any]]:
    rows = []
    for a in state.get("dataset", []) or []:
        text = a.text or text_of(a.id) or ""
        rows.append({"id": a.id, "round": a.round, "source": a.source, "label": a.target, "cluster": a.cluster,
                     "cluster_name": _name(a.cluster, names), "agreement": a.agreement, "confidence": a.confidence,
                     "votes": list(a.votes or []), "text": text, "short": text if len(text) <= SNIPPET else
                     text[:SNIPPET].rstrip() + "…", "rationale": a.rationale, "teacher": a.teacher_model,
                     "prompt_hash": a.prompt_hash, "neighbours": list(a.neighbour_ids or [])})
    return rows


def step_rows(steps: list[dict[str, Any]], names: dict[int, str]) -> list[dict[str, Any]]:
    out = []
    for rec in steps:
        calls = lambda b: (b or {}).get("spent", {}).get("calls", 0)  # noqa: E731
        decisions = []
        for d in rec.get("decisions", []):
            fields = {k: v for k, v in d.items() if k != "what"}
            if isinstance(fields.get("cluster"), int):
                fields["cluster"] = f"{fields['cluster']} · {_name(fields['cluster'], names)}"
            for k, v in list(fields.items()):
                if isinstance(v, list | dict) and len(v) > 8:
                    fields[k] = f"{len(v)} items"
            decisions.append({"what": d.get("what", "?"), "fields": json.dumps(fields, ensure_ascii=False, default=str)})
        requests = []
        for ev in _teacher_events(rec):
            status = ("skipped (budget)" if ev.get("skipped_budget") else "error" if ev.get("error")
                      else "cached" if ev.get("cached") else "paid")
            requests.append({"prompt": ev.get("prompt") or "?", "example_id": ev.get("example_id") or "",
                             "status": status, "tokens": ev.get("tokens") or 0, "messages": ev.get("messages") or [],
                             "raw": ev.get("raw") or "", "error": ev.get("error") or "",
                             "parsed": json.dumps(ev["parsed"], indent=2, ensure_ascii=False, default=str)
                             if ev.get("parsed") is not None else ""})
        summary = {k: v for k, v in (rec.get("summary") or {}).items()}
        out.append({"step": rec.get("step"), "node": rec.get("node"), "round": rec.get("round"),
                    "seconds": float(rec.get("seconds", 0)), "calls_before": calls(rec.get("budget_before")),
                    "calls_after": calls(rec.get("budget_after")),
                    "summary": json.dumps(summary, ensure_ascii=False, default=str), "decisions": decisions,
                    "requests": requests})
    return out


def teacher_written(plans: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    """Under each round's top cluster: what the teacher wrote for it that round (labels, rationales, texts)."""
    by = defaultdict(list)
    for r in rows:
        by[(r["round"], r["cluster"])].append(r)
    for p in plans:
        if p["top"] is not None:
            p["top"]["written"] = by.get((p["round"], p["top"]["id"]), [])
            p["top"]["weaknesses"] = [w for w in p["weaknesses"] if p["top"]["id"] in w.get("cluster_ids", [])]


def build_context(run_dir: Path, state: dict[str, Any], metrics: dict[str, Any], steps: list[dict[str, Any]],
                  names: dict[int, str], text_of: Callable[[str], str | None]) -> dict[str, Any]:
    rows = dataset_rows(state, names, text_of)
    plans = round_plans(steps, state, names)
    teacher_written(plans, rows)
    out = run_dir / "report"
    generation = (metrics.get("data") or {}).get("type") == "generation"  # targets are texts, not labels
    filters = {
        "round": sorted({r["round"] for r in rows}),
        "source": sorted({r["source"] for r in rows}),
        **({} if generation else {"label": sorted({r["label"] for r in rows})}),
        "cluster": sorted({(r["cluster"], r["cluster_name"]) for r in rows}),
    }
    budget = metrics.get("budget") or {}
    return {
        "run_id": state.get("run_id") or run_dir.name,
        "metrics": metrics,
        "card": metrics.get("data") or {},
        "dev_metric": metrics.get("dev_metric", ""),
        "rounds": metrics.get("rounds") or [],
        "spent": budget.get("spent") or {},
        "learning_curve": _png(out / "learning_curve.png"),
        "clusters_chart": _png(out / "clusters.png"),
        "cluster_names": sorted(names.items()),
        "cluster_sizes": {int(k): v for k, v in ((state.get("clusters") or {}).get("sizes") or {}).items()},
        "plans": plans,
        "audit": metrics.get("teacher_audit") or None,
        "rows": rows,
        "filters": filters,
        "target": "output" if generation else "label",
        "source_counts": Counter(r["source"] for r in rows),
        "steps": step_rows(steps, names),
    }


def render(context: dict[str, Any]) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda v: f"{100 * float(v):.0f}%"
    env.filters["num"] = lambda v, d=3: "-" if v is None else (f"{v:.{d}f}" if isinstance(v, float) else str(v))
    return env.get_template(TEMPLATE).render(**context)


def write_html(run_dir: Path, state: dict[str, Any], metrics: dict[str, Any], steps: list[dict[str, Any]],
               names: dict[int, str], text_of: Callable[[str], str | None]) -> Path:
    path = run_dir / "report" / "index.html"
    html = render(build_context(run_dir, state, metrics, steps, names, text_of))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path
