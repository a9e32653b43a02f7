"""trace.jsonl: one line per completed node execution (a step), with everything it did.

A node collects events (rendered prompts, raw teacher answers, parsed results, decisions with their
reasons) while it runs; the line is appended, flushed and fsynced when the node ends. A node that
crashed wrote nothing; when it runs again on resume its line carries the same step number, and the
reader keeps the last line per step.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distillgraph.agents.teacher_types import mask_secret
from distillgraph.graph.config import redact


def _masked(value: Any, secrets: list[str]) -> Any:
    """Secrets masked inside every string (keys included), before serialising: the JSON stays valid."""
    if isinstance(value, str):
        for s in secrets:
            value = mask_secret(value, s)
        return value
    if isinstance(value, dict):
        return {_masked(str(k), secrets): _masked(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v, secrets) for v in value]
    return value


class TraceWriter:
    def __init__(self, path: Path, secrets: list[str] | None = None):
        self.path = path
        self.secrets = [s for s in (secrets or []) if s]
        self.current: dict[str, Any] | None = None

    def begin(self, node: str, step: int, round_: int, budget: dict[str, Any]) -> None:
        self.current = {"step": step, "node": node, "round": round_, "start": time.time(),
                        "budget_before": budget, "events": [], "decisions": []}

    def event(self, kind: str, **data: Any) -> None:
        if self.current is not None:
            self.current["events"].append({"kind": kind, "t": round(time.time(), 3), **data})

    def decision(self, what: str, **data: Any) -> None:
        if self.current is not None:
            self.current["decisions"].append({"what": what, **data})

    def end(self, budget: dict[str, Any], summary: dict[str, Any], update_keys: list[str]) -> dict[str, Any]:
        rec = self.current or {}
        rec.update(end=time.time(), budget_after=budget, summary=summary, updated=update_keys)
        rec["seconds"] = round(rec["end"] - rec.get("start", rec["end"]), 3)
        plain = json.loads(json.dumps(redact(rec), default=str))  # objects as the strings they are written as
        line = json.dumps(_masked(plain, self.secrets), ensure_ascii=False)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.current = None
        return rec


def read_trace(run_dir: Path) -> list[dict[str, Any]]:
    """Steps in order; when a step was written twice (a resume re-ran it), the last one wins."""
    path = run_dir / "trace.jsonl"
    if not path.exists():
        return []
    steps: dict[int, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill mid-write
            steps[int(rec["step"])] = rec
    return [steps[k] for k in sorted(steps)]


def run_texts(cfg: Any) -> Callable[[str], str | None]:
    """id -> text of the run's examples, loaded once on first use (None for an unknown id, or when the
    data cannot be loaded any more: a view then shows what it has)."""
    loaded: dict[str, str] | None = None

    def text_of(example_id: str) -> str | None:
        nonlocal loaded
        if loaded is None:
            from distillgraph.store.datasets import load_data
            from distillgraph.store.schema import UserError

            try:
                data = load_data(cfg.data, cfg.task)
                loaded = {e.id: e.text for split in data.values() for e in split}
            except (UserError, OSError, ValueError):
                loaded = {}
        return loaded.get(example_id)

    return text_of


def decisions(run_dir: Path, what: str) -> list[dict[str, Any]]:
    """A run's trace decisions named `what`, in order; one that names no round gets its step's."""
    return [{"round": step.get("round"), **d} for step in read_trace(run_dir) for d in step.get("decisions", [])
            if d.get("what") == what]
