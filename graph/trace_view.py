"""`distillgraph trace` for people: one step as rich panels, and what a step changed, item by item.

Everything that comes from a run (texts, prompts, teacher answers, names) is wrapped in `rich.text.Text`
or given with markup off, so a text holding "[bold]" or "<script>" is shown as written, never
interpreted. Long texts are folded (head, a line saying how much is hidden, tail); `unfold` shows all.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml
from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

# what one teacher request may show before folding, per part (lines, characters); head and tail are kept
FOLD = {"system": (6, 500), "user": (14, 1100), "raw": (4, 400), "parsed": (10, 700), "error": (6, 600)}
SNIPPET = 80  # characters of a text in a --diff row
BLOCK_CHARS = 160  # characters kept of each fenced data block in a folded prompt
_FENCED = re.compile(r"(<<<DATA\n)(.*?)(\nDATA>>>)", re.S)


# ---------------------------------------------------------------- small helpers


def plain(value: Any, style: str = "") -> Text:
    """Any value as inert text (no markup, no emoji codes)."""
    return Text(value if isinstance(value, str) else str(value), style=style)


def fold(text: str, max_lines: int, max_chars: int, unfold: bool = False) -> Text:
    """The text, or (when folding saves much) its head and tail with a dim line saying how much is folded.
    Fenced data blocks (<<<DATA ... DATA>>>) are shortened first, each to its beginning."""
    text = text.rstrip()
    if unfold:
        return Text(text)
    out = Text()
    pos = 0
    for m in _FENCED.finditer(text):
        body = m.group(2)
        out.append(text[pos:m.start(2)])
        if len(body) > BLOCK_CHARS + 80:
            out.append(body[:BLOCK_CHARS].rstrip())
            out.append(f" … {len(body) - BLOCK_CHARS:,} more characters", style="dim italic")
        else:
            out.append(body)
        pos = m.end(2)
    out.append(text[pos:])
    lines = out.plain.splitlines() or [""]
    if len(lines) <= max_lines + 3 and len(out.plain) <= max_chars * 1.3:
        return out
    head_n, tail_n = max(1, (max_lines * 2) // 3), max(1, max_lines // 3)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    head_end = min(starts[head_n] - 1, (max_chars * 2) // 3)
    tail_start = max(starts[len(lines) - tail_n], len(out.plain) - max_chars // 3, head_end)
    hidden = out.plain[head_end:tail_start]
    folded = out[:head_end]
    folded.append(f"\n… {len(hidden):,} characters ({hidden.count(chr(10))} lines) folded (--unfold shows all) …\n",
                  style="dim italic")
    folded.append_text(out[tail_start:].copy() if tail_start < len(out.plain) else Text())
    return folded


def snippet(text: str | None, n: int = SNIPPET) -> str:
    if not text:
        return ""
    one = " ".join(text.split())
    return one if len(one) <= n else one[: n - 1] + "…"


def budget_text(b: dict[str, Any] | None) -> str:
    """'12 calls, 3,456 tokens, $0.0012' from a ledger snapshot."""
    spent = (b or {}).get("spent", {})
    out = f"{spent.get('calls', 0):g} calls, {int(spent.get('tokens', 0)):,} tokens"
    if spent.get("usd"):
        out += f", ${spent['usd']:.4f}"
    return out


def cluster_label(c: Any, names: dict[int, str]) -> str:
    """'2 · football / match / goal' (the id, then the name when there is one)."""
    try:
        key = int(c)
    except (TypeError, ValueError):
        return str(c)
    name = names.get(key)
    return f"{key} · {name}" if name else str(key)


def cluster_names(run_dir: Path) -> dict[int, str]:
    """Cluster names of a run, from data/clusters.json (keywords, or the teacher's names); {} when absent."""
    path = Path(run_dir) / "data" / "clusters.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {int(k): str(v) for k, v in (data.get("names") or {}).items()}
    except (OSError, ValueError):
        return {}


def prompt_versions(prompts_dir: str | None) -> dict[str, str]:
    """name -> 'v3, file abcd1234' of the prompt files the run would load now (best effort)."""
    try:
        from distillgraph.prompts import PromptLibrary

        lib = PromptLibrary(prompts_dir)
        return {n: f"v{lib.get(n).version}, file {lib.get(n).hash[:8]}" for n in lib.names()}
    except Exception:  # noqa: BLE001 - a view must not fail on a missing or broken prompt folder
        return {}


def _yaml(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=10**6, default_flow_style=False).rstrip()


# ---------------------------------------------------------------- one step


def step_header(rec: dict[str, Any]) -> RenderableType:
    before, after = rec.get("budget_before") or {}, rec.get("budget_after") or {}
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("node", plain(rec.get("node", "?")))
    grid.add_row("round", plain(rec.get("round", "?")))
    grid.add_row("duration", plain(f"{float(rec.get('seconds', 0)):.1f} s"))
    grid.add_row("budget", plain(f"{budget_text(before)}  →  {budget_text(after)}"
                                 f"  ({100 * float(after.get('fraction_spent', 0)):.0f}% of the cap)"))
    spent = lambda b, k: float((b.get("spent") or {}).get(k, 0))  # noqa: E731
    paid = lambda b, k: float((b.get("paid") or {}).get(k, 0))  # noqa: E731
    grid.add_row("this step", plain(f"{spent(after, 'calls') - spent(before, 'calls'):g} calls charged, "
                                    f"{paid(after, 'calls') - paid(before, 'calls'):g} paid in this process, "
                                    f"{int(after.get('cache_hits', 0)) - int(before.get('cache_hits', 0))} from the cache"))
    summary = {k: v for k, v in (rec.get("summary") or {}).items() if k != "seconds"}
    if summary:
        grid.add_row("summary", plain(", ".join(f"{k}={json.dumps(v, default=str) if isinstance(v, dict | list) else v}"
                                                 for k, v in summary.items())))
    title = Text(f"step {rec.get('step', '?')}: {rec.get('node', '?')}", style="bold")
    return Panel(grid, title=title, title_align="left", box=box.HEAVY)


def request_status(ev: dict[str, Any]) -> tuple[str, str]:
    if ev.get("skipped_budget"):
        return "skipped (budget)", "yellow"
    if ev.get("error"):
        return "error", "red"
    if ev.get("cached"):
        return "cached", "cyan"
    return "paid", "green"


def request_panel(ev: dict[str, Any], i: int, n: int, versions: dict[str, str], unfold: bool = False,
                  seen: dict[str, int] | None = None) -> Panel:
    """One teacher request: prompt, rendered messages, raw answer, parsed result or error, cost. `seen` maps
    message texts already shown (folded) to their request number: a repeat is named, not shown again."""
    status, colour = request_status(ev)
    prompt = ev.get("prompt") or "?"
    version = ev.get("prompt_version") or versions.get(prompt, "")
    title = Text(f"request {i}/{n} · prompt {prompt}" + (f" ({version})" if version else ""))
    if ev.get("example_id"):
        title.append(f" · {ev['example_id']}")
    if ev.get("sample_index"):
        title.append(f" · sample {ev['sample_index']}")
    subtitle = Text(f"{status} · {int(ev.get('tokens') or 0):,} tokens · {ev.get('attempts', 1)} attempt(s)", style=colour)
    parts: list[RenderableType] = []
    for m in ev.get("messages") or []:
        role = str(m.get("role", "?"))
        lim = FOLD["system"] if role == "system" else FOLD["user"]
        content = str(m.get("content", ""))
        if seen is not None and not unfold and content in seen:
            parts.append(Text.assemble((role, "bold magenta"), (f"  same as in request {seen[content]}", "dim italic")))
            continue
        if seen is not None:
            seen.setdefault(content, i)
        parts += [Text(role, style="bold magenta"), fold(content, *lim, unfold=unfold)]
    if ev.get("messages") is None:
        parts.append(Text("(prompts not recorded: trace_prompts is off)", style="dim"))
    if ev.get("raw"):
        parts += [Text("raw answer", style="bold magenta"), fold(str(ev["raw"]), *FOLD["raw"], unfold=unfold)]
    if ev.get("parsed") is not None:
        parts += [Text("parsed", style="bold magenta"), fold(_yaml(ev["parsed"]), *FOLD["parsed"], unfold=unfold)]
    if ev.get("error"):
        parts += [Text("error", style="bold red"), fold(str(ev["error"]), *FOLD["error"], unfold=unfold)]
    return Panel(Group(*parts), title=title, title_align="left", subtitle=subtitle, subtitle_align="right",
                 border_style=colour)


def _cell(key: str, value: Any, names: dict[int, str]) -> Text:
    if key in ("cluster", "asked", "nearest") and isinstance(value, int):
        return plain(cluster_label(value, names))
    if isinstance(value, float):
        return plain(f"{value:.4g}")
    if isinstance(value, list) and len(value) > 6:
        return plain(f"{len(value)} items")
    if isinstance(value, dict):
        if key == "sizes":
            return plain(", ".join(f"{cluster_label(k, names)}: {v}" for k, v in value.items()))
        return plain(f"{len(value)} items" if len(value) > 6 else json.dumps(value, default=str))
    if isinstance(value, list):
        return plain(", ".join(map(str, value)))
    return plain("-" if value is None else value)


def decision_tables(decisions: list[dict[str, Any]], names: dict[int, str]) -> list[Table]:
    """One table per kind of decision (allocate, select, reject, route, ...), in order of first appearance."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for d in decisions:
        groups.setdefault(str(d.get("what", "?")), []).append(d)
    tables = []
    for what, rows in groups.items():
        cols: list[str] = []
        for r in rows:
            cols += [k for k in r if k != "what" and k not in cols]
        if what == "allocate":  # the plan: the cluster first, the reason last
            order = ["cluster", "kind", "quota", "select", "synthesize", "reason"]
            cols = [c for c in order if c in cols] + [c for c in cols if c not in order]
        t = Table(title=Text(f"decisions: {what}", style="bold"), title_justify="left", box=box.SIMPLE_HEAD,
                  show_lines=False)
        for c in cols:
            t.add_column(c, overflow="fold", ratio=3 if c == "reason" else None)
        for r in rows:
            t.add_row(*[_cell(c, r.get(c), names) for c in cols])
        tables.append(t)
    return tables


def render_step(rec: dict[str, Any], *, names: dict[int, str] | None = None, versions: dict[str, str] | None = None,
                unfold: bool = False) -> list[RenderableType]:
    """Everything `trace RUN --step N` prints for one trace record, in order."""
    names = names or {}
    out: list[RenderableType] = [step_header(rec)]
    teacher = [e for e in rec.get("events", []) if e.get("kind") == "teacher"]
    seen: dict[str, int] = {}
    for i, ev in enumerate(teacher, 1):
        out.append(request_panel(ev, i, len(teacher), versions or {}, unfold, seen))
    other = [e for e in rec.get("events", []) if e.get("kind") != "teacher"]
    if other:
        t = Table("event", "details", title=Text("other events", style="bold"), title_justify="left", box=box.SIMPLE_HEAD)
        for e in other:
            t.add_row(plain(e.get("kind", "?")), plain(json.dumps({k: v for k, v in e.items() if k not in ("kind", "t")},
                                                                  default=str)[:300]))
        out.append(t)
    out += decision_tables(rec.get("decisions", []), names)
    if teacher:
        counts = Counter(request_status(e)[0] for e in teacher)
        out.append(Text(f"{len(teacher)} teacher request(s): " + ", ".join(f"{v} {k}" for k, v in counts.items()),
                        style="dim"))
    return out


# ---------------------------------------------------------------- what a step changed


def _votes(a: Any) -> str:
    votes = list(getattr(a, "votes", []) or [])
    if len(votes) <= 1:
        return f"{getattr(a, 'agreement', 1.0):.2f}"
    top = Counter(votes).most_common(1)[0][1]
    return f"{getattr(a, 'agreement', 1.0):.2f} ({top}/{len(votes)}: {', '.join(votes)})"


def _ids(items: Iterable[Any]) -> list[str]:
    return [str(getattr(x, "id", None) or (x.get("id") if isinstance(x, dict) else x)) for x in items]


def render_diff(before: dict[str, Any], after: dict[str, Any], *, step: int, names: dict[int, str],
                text_of: Callable[[str], str | None]) -> list[RenderableType]:
    """`trace RUN --diff N`: the annotations added (and removed), the items rejected with their reason,
    the candidates created, the other keys that changed, and the counts."""
    out: list[RenderableType] = []
    old_ids = set(_ids(before.get("dataset", []) or []))
    new_ids = set(_ids(after.get("dataset", []) or []))
    added = [a for a in after.get("dataset", []) or [] if a.id not in old_ids]
    removed = [a for a in before.get("dataset", []) or [] if a.id not in new_ids]
    text = lambda item: snippet(getattr(item, "text", None) or text_of(item.id)) or "-"  # noqa: E731
    if added:
        t = Table(title=Text(f"dataset: {len(added)} annotation(s) added", style="bold"), title_justify="left", box=box.SIMPLE_HEAD)
        for c in ("id", "label", "source", "cluster", "agreement (votes)", f"text (first {SNIPPET} characters)"):
            t.add_column(c, overflow="fold")
        for a in added:
            t.add_row(plain(a.id), plain(a.target), plain(a.source), plain(cluster_label(a.cluster, names)),
                      plain(_votes(a)), plain(text(a)))
        out.append(t)
    if removed:
        t = Table("id", "label", "cluster", title=Text(f"dataset: {len(removed)} annotation(s) removed", style="bold"),
                  title_justify="left", box=box.SIMPLE_HEAD)
        for a in removed:
            t.add_row(plain(a.id), plain(a.target), plain(cluster_label(a.cluster, names)))
        out.append(t)
    rejected = list(after.get("rejected", []) or [])[len(before.get("rejected", []) or []):]
    if rejected:
        t = Table("id", "reason", f"text (first {SNIPPET} characters)", title=Text(f"rejected ({len(rejected)})", style="bold"),
                  title_justify="left", box=box.SIMPLE_HEAD)
        for r in rejected:
            t.add_row(plain(r.get("id", "?")), plain(r.get("reason", "")), plain(snippet(text_of(str(r.get("id", ""))))))
        out.append(t)
    old_c = set(_ids(before.get("candidates", []) or []))
    created = [c for c in after.get("candidates", []) or [] if c.id not in old_c]
    if created:
        t = Table(title=Text(f"candidates created ({len(created)})", style="bold"), title_justify="left", box=box.SIMPLE_HEAD)
        for c in ("id", "source", "cluster", "score", "difficulty", f"text (first {SNIPPET} characters)"):
            t.add_column(c, overflow="fold")
        for c in created:
            t.add_row(plain(c.id), plain(c.source), plain(cluster_label(c.cluster, names)),
                      plain("-" if c.score is None else f"{c.score:.4g}"), plain(c.difficulty or "-"), plain(text(c)))
        out.append(t)
    itemised = {"dataset", "rejected", "candidates"}
    t = Table("key", "before", "after", title=Text("other changes", style="bold"), title_justify="left", box=box.SIMPLE_HEAD)
    for key in sorted((set(after) | set(before)) - itemised):
        va, vb = after.get(key), before.get(key)
        if va != vb and key == "ledger":
            t.add_row(plain("ledger (budget spent)"), plain(budget_text(vb)), plain(budget_text(va)))
        elif va != vb:
            t.add_row(plain(key), plain(_short(vb)), plain(_short(va)))
    if t.row_count:
        out.append(t)
    by_source = Counter(a.source for a in added)
    counts = (f"step {step}: {len(added)} annotation(s) added"
              + (f" ({', '.join(f'{v} {k}' for k, v in sorted(by_source.items()))})" if by_source else "")
              + f", {len(removed)} removed, {len(rejected)} rejected, {len(created)} candidate(s) created")
    out.append(Text(counts, style="bold"))
    return out


def _short(v: Any) -> str:
    if v is None:
        return "-"
    if hasattr(v, "model_dump"):
        v = v.model_dump()
    if isinstance(v, list | dict) and len(json.dumps(v, default=str)) > 80:
        return f"{len(v)} items"
    return json.dumps(v, default=str)[:80] if not isinstance(v, str) else v[:80]


# ---------------------------------------------------------------- the commands' bodies


def print_step(console: Any, run_dir: Path, rec: dict[str, Any], *, unfold: bool = False) -> None:
    """`trace RUN --step N`."""
    from distillgraph.graph.runner import load_run_config

    try:
        prompts_dir = load_run_config(run_dir).prompts.dir
    except Exception:  # noqa: BLE001 - an old or edited config must not hide the trace
        prompts_dir = None
    for part in render_step(rec, names=cluster_names(run_dir), versions=prompt_versions(prompts_dir), unfold=unfold):
        console.print(part)


def print_diff(console: Any, run_dir: Path, step: int) -> None:
    """`trace RUN --diff N`: what step N changed, from the checkpoints before and after it."""
    from distillgraph.graph.runner import history, load_run_config
    from distillgraph.graph.trace import run_texts
    from distillgraph.store.schema import UserError

    cfg = load_run_config(run_dir)
    by_step: dict[int, Any] = {}  # the snapshot after each step (the last one, if a resume wrote it twice)
    for snap in history(cfg, run_dir):
        if snap.metadata.get("source") == "loop" and snap.values.get("step") is not None:
            by_step[int(snap.values["step"])] = snap
    if step not in by_step:
        raise UserError(f"run {run_dir.name}: no checkpoint after step {step}")
    before = by_step.get(step - 1)
    for part in render_diff(before.values if before else {}, by_step[step].values, step=step,
                            names=cluster_names(run_dir), text_of=run_texts(cfg)):
        console.print(part)
