"""SIGKILL-and-resume trials of real `distillgraph` processes against one ControlledStub (tests and bench).

A trial starts `run --run-id`, kills it with SIGKILL at a trigger, resumes it to the end and compares with an
uninterrupted reference run of the same config: the distilled dataset (ids and labels) and the answers the
stub served per request key (an answer served twice for a key is an answer paid twice).

Triggers: `created` = `delay` s after the run directory appears (models loading, first node);
`request` = when the stub receives its Nth request (the stub stops answering at once, so the
request was asked but never answered nor billed: a kill in the middle of a teacher batch); `step` = when
trace.jsonl holds N steps, after `delay` seconds (a kill at a node boundary, or inside the next node).
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.reliability.harness import (
    ControlledStub,
    distilled,
    kill_when,
    paid_twice,
    paid_twice_by_key,
    run_cli,
    start_cli,
    trace_steps,
)


@dataclass
class Reference:
    run_dir: Path
    dataset: list[tuple[str, str]]
    answered: Counter[str]
    requests: Counter[str]
    total_requests: int
    step_seconds: dict[int, float]  # step -> seconds the node took
    step_nodes: dict[int, str]
    lock: dict[str, Any] = field(default_factory=dict)  # what a second process on the same run got


# an answer produced this long before the kill had been read: the client commits one within a few ms of the
# stub writing it (the answers paid twice in the soak were produced 0.1-2.5 ms before the kill in two soaks, 2026-12-05)
UNREAD_MS = 100.0


@dataclass
class Trial:
    name: str
    trigger: str  # "request" | "created" | "step" | "boundary"
    value: int
    delay: float = 0.0


@dataclass
class TrialResult:
    name: str
    killed: bool
    killed_in: str  # the node that was running (or "start" before the first step)
    resumed_rc: int
    identical: bool
    paid_twice: int  # answers served before the kill and paid again on resume: the defect this guards against
    repeated_unanswered: int  # requests asked again because the kill came before their answer
    in_flight_at_kill: int = 0  # answers the stub served after the kill (to a dead process), asked again on resume
    # for each answer paid twice: milliseconds between the stub producing it and the kill (a few ms: the dead
    # process had not yet read and committed it; no client can keep an answer it never read)
    paid_twice_ms: list[float] = field(default_factory=list)

    @property
    def paid_twice_read(self) -> int:
        """Answers paid twice that the killed process had time to read: the defect, where the others are the
        race no client can close (an answer still in the socket when SIGKILL lands is lost with the process)."""
        return sum(ms >= UNREAD_MS for ms in self.paid_twice_ms)


def reference_run(stub: ControlledStub, cfg_path: Path, runs: Path, logs: Path, *, check_lock: bool) -> Reference:
    """The uninterrupted run. With check_lock, its first teacher request is held while a second process
    tries to resume the same run directory (it must be refused by the lock)."""
    stub.reset_counts()
    run_id = "reference"
    lock: dict[str, Any] = {}
    gate = threading.Event()
    if check_lock:
        stub.on_request = lambda s, body: gate.wait(120) if s.requests == 1 else None
    first = start_cli(["run", str(cfg_path), "--run-id", run_id], logs, run_id)
    if check_lock:
        kill_when_ready = runs / run_id / "config.resolved.yaml"
        while not kill_when_ready.exists() or stub.requests < 1:
            if first.popen.poll() is not None:
                raise RuntimeError(f"reference run ended early: {first.err()[-2000:]}")
            threading.Event().wait(0.05)
        second = run_cli(["resume", run_id, "--runs-dir", str(runs)], logs, "second-process")
        lock = {"rc": second.popen.returncode, "stderr": second.err(), "first_alive": first.popen.poll() is None}
        gate.set()
        stub.on_request = None
    rc = first.wait(600)
    if rc != 0:
        raise RuntimeError(f"reference run failed ({rc}): {first.err()[-2000:]}")
    run_dir = runs / run_id
    trace = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    return Reference(run_dir, distilled(run_dir), Counter(stub.answered_keys), Counter(stub.key_counts),
                     stub.requests, {r["step"]: r["seconds"] for r in trace}, {r["step"]: r["node"] for r in trace},
                     lock)


def crash_trial(stub: ControlledStub, cfg_path: Path, runs: Path, logs: Path, trial: Trial,
                ref: Reference) -> TrialResult:
    stub.reset_counts()
    stub.down = False
    run_id = f"crash-{trial.name}"
    run_dir = runs / run_id
    shutil.rmtree(run_dir, ignore_errors=True)  # a trial may be aimed again
    proc = start_cli(["run", str(cfg_path), "--run-id", run_id], logs, run_id)

    def dead() -> None:
        stub.client_dead = True

    if trial.trigger == "request":

        def hook(s: ControlledStub, body: dict[str, Any]) -> None:
            if s.requests == trial.value:
                s.down = True  # from now on nothing is answered: the dying process gets no more answers
                s.client_dead = True  # requests already in flight are still answered, into a dead socket
                proc.kill()

        stub.on_request = hook
        proc.wait(600)
        killed = stub.down
    elif trial.trigger == "boundary":  # `value` steps done, nothing of the next node answered yet
        # a 20 ms poll can see the step late, after the next node's first answer was served (a kill then
        # lands mid-request, which the teacher-batch trial covers); so the first request made after the step
        # also kills, unanswered, whichever comes first
        def at_boundary(s: ControlledStub, body: dict[str, Any]) -> None:
            if trace_steps(run_dir) >= trial.value:
                s.down = True
                s.client_dead = True
                proc.kill()

        stub.on_request = at_boundary
        killed = kill_when(proc, lambda: trace_steps(run_dir) >= trial.value, trial.delay, before_kill=dead) or stub.down
    elif trial.trigger == "created":  # the run directory exists: loading models, indexing
        killed = kill_when(proc, lambda: (run_dir / "config.resolved.yaml").exists(), trial.delay, before_kill=dead)
    else:
        killed = kill_when(proc, lambda: trace_steps(run_dir) >= trial.value, trial.delay, before_kill=dead)
    time.sleep(0.2)  # answers still being written to the dead process count as in flight
    stub.on_request = None
    stub.down = False
    stub.client_dead = False  # the resume's answers are received again
    done = trace_steps(run_dir)
    killed_in = ref.step_nodes.get(done + 1, "end") if done else "start"
    before = Counter(stub.key_counts)
    resumed = run_cli(["resume", run_id, "--runs-dir", str(runs)], logs, f"{run_id}-resume")
    identical = resumed.popen.returncode == 0 and distilled(run_dir) == ref.dataset
    unanswered = sum(n - stub.answered_keys.get(k, 0) for k, n in before.items() if n > stub.answered_keys.get(k, 0))
    return TrialResult(trial.name, killed, killed_in, resumed.popen.returncode, identical,
                       paid_twice(stub.answered_keys, ref.answered, stub.answered_after_kill), unanswered,
                       sum(stub.answered_after_kill.values()), paid_twice_ages(stub, ref.answered))


def paid_twice_ages(stub: ControlledStub, reference: Counter[str]) -> list[float]:
    """Per answer paid twice, how long before the kill the stub produced it (ms), youngest first."""
    if stub.killed_at is None:
        return []
    ages = []
    for key, extra in paid_twice_by_key(stub.answered_keys, reference, stub.answered_after_kill).items():
        before = sorted(t for t in stub.served_at.get(key, []) if t < stub.killed_at)
        ages += [round(1000 * (stub.killed_at - t), 1) for t in before[max(0, len(before) - extra):]]
    return sorted(ages)
