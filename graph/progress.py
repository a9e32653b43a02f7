"""Live progress while a run works: round and node, a bar of the budget spent against the cap, the
teacher requests done and in flight, and an ETA from the measured seconds per teacher call.

`LiveProgress` is handed to `runner.execute(monitor=...)`, which calls `attach(deps)` once the
dependencies exist and sends the teacher's events to `teacher_event`. The display is a rich `Live`
region at the bottom of the terminal; the CLI's one line per step keeps printing above it. It is off
(`enabled=False`: every method is a no-op) with --quiet and when stdout is not a terminal.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

DONE_EVENTS = ("answer", "cache_hit", "skipped_budget")  # a request is settled (a failed one at the batch end)


def live_wanted(console: Console, quiet: bool) -> bool:
    return not quiet and console.is_terminal and not console.is_dumb_terminal


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class _CountingTeacher:
    """The run's teacher, counting the requests of each `ask_many` batch for the display (all else delegated)."""

    def __init__(self, inner: Any, progress: LiveProgress):
        self._inner = inner
        self._progress = progress

    def ask_many(self, requests: list[Any]) -> list[Any]:
        self._progress.batch_started(len(requests))
        t0 = time.monotonic()
        try:
            return self._inner.ask_many(requests)
        finally:
            self._progress.batch_ended(len(requests), time.monotonic() - t0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class LiveProgress:
    def __init__(self, console: Console, *, enabled: bool = True, refresh_per_second: float = 4.0):
        self.console = console
        self.enabled = enabled
        self.refresh = refresh_per_second
        self.deps: Any = None
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._live: Live | None = None
        self.round = 0
        self.last_step = 0
        self.done = 0             # requests settled, all batches
        self.cached = 0
        self.failed = 0
        self.batch_total = 0      # requests of the batch being asked (0 between batches)
        self.batch_done = 0
        self.teacher_seconds = 0.0  # wall time inside the teacher's batches
        self.timed_requests = 0     # requests in those batches that were not answered from the cache
        self._cached_before = 0
        self.concurrency = 1

    # ---------------------------------------------------------------- hooks the runner calls

    def attach(self, deps: Any) -> None:
        """Watch this run's dependencies: the ledger, the trace (the step running); count the teacher's batches."""
        if not self.enabled:
            return
        self.deps = deps
        self.concurrency = max(1, int(getattr(deps.cfg.teacher, "max_concurrency", 1) or 1))
        deps.teacher = _CountingTeacher(deps.teacher, self)

    def teacher_event(self, event: dict[str, Any]) -> None:
        if not self.enabled:
            return
        kind = event.get("kind")
        with self._lock:
            if kind in DONE_EVENTS:
                self.batch_done = min(self.batch_done + 1, self.batch_total) if self.batch_total else self.batch_done
                if kind == "cache_hit":
                    self.cached += 1
            elif kind == "failed":
                self.failed += 1

    def on_step(self, name: str, step: int, round_: int, summary: dict[str, Any], ledger: dict[str, Any]) -> None:
        with self._lock:
            self.round, self.last_step = round_, step

    def batch_started(self, n: int) -> None:
        with self._lock:
            self.batch_total, self.batch_done = n, 0
            self._cached_before = self.cached

    def batch_ended(self, n: int, seconds: float) -> None:
        with self._lock:
            self.done += n
            fresh = n - (self.cached - self._cached_before)
            if fresh > 0:
                self.teacher_seconds += seconds
                self.timed_requests += fresh
            self.batch_total = self.batch_done = 0

    # ---------------------------------------------------------------- display

    def __enter__(self) -> LiveProgress:
        if self.enabled:
            self._live = Live(console=self.console, get_renderable=self.render, refresh_per_second=self.refresh,
                              transient=True, redirect_stdout=True, redirect_stderr=True)
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def seconds_per_call(self) -> float | None:
        return self.teacher_seconds / self.timed_requests if self.timed_requests else None

    def render(self) -> RenderableType:
        deps = self.deps
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column()
        current = getattr(getattr(deps, "trace", None), "current", None) or {}
        node = current.get("node") or ("starting" if deps is None else "between steps")
        rnd = current.get("round", self.round)
        step = current.get("step", self.last_step + 1)
        grid.add_row(Text("run", style="bold"), Text(f"round {rnd} · {node} (step {step}) · "
                                                     f"{_duration(time.monotonic() - self.started)} elapsed"))
        if deps is not None:
            ledger = deps.ledger.to_dict()
            frac = float(ledger.get("fraction_spent", 0.0))
            spent = ledger.get("spent", {})
            caps = {k: v for k, v in deps.cfg.budget.model_dump().items() if v is not None and k.startswith("max_")}
            cap_text = ", ".join(
                f"{spent.get(k[4:], 0):,.4g} of {v:,.4g} {k[4:]}" for k, v in caps.items())
            bar = Table.grid(padding=(0, 1))
            bar.add_row(ProgressBar(total=1.0, completed=min(frac, 1.0), width=30),
                        Text(f"{100 * frac:.0f}% · {cap_text}"))
            grid.add_row(Text("budget", style="bold"), bar)
            with self._lock:
                in_batch = self.batch_total - self.batch_done
                in_flight = min(in_batch, self.concurrency)
                queued = in_batch - in_flight
                done = self.done + self.batch_done
            spc = self.seconds_per_call()
            line = f"{done} done ({self.cached} from the cache, {self.failed} failed) · {in_flight} in flight"
            line += f", {queued} queued" if queued else ""
            if spc is not None:
                left = float(deps.calls_left()) if hasattr(deps, "calls_left") else 0.0
                line += f" · {spc:.1f} s per call · ETA {_duration(left * spc)} for {left:.0f} calls left"
            grid.add_row(Text("teacher", style="bold"), Text(line))
        return Group(grid)
