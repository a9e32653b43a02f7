"""Runs: the run directory, its lock, building the dependencies, run / resume / fork / step mode."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from langgraph.checkpoint.sqlite import SqliteSaver
from rich.console import Console

from distillgraph.graph.build import NODES, build_graph, reader_graph
from distillgraph.graph.config import RunConfig, RunSection, config_from_dict, load_config, load_yaml
from distillgraph.graph.deps import Deps
from distillgraph.graph.state import serializer
from distillgraph.graph.trace import TraceWriter
from distillgraph.store.schema import UserError

if TYPE_CHECKING:
    from distillgraph.prompts import PromptLibrary

RESOLVED = "config.resolved.yaml"
DEFAULT_RUNS_DIR: str = RunSection.model_fields["dir"].default


# ---------------------------------------------------------------- run directory


def new_run_dir(cfg: RunConfig, run_id: str | None = None) -> Path:
    base = Path(cfg.run.dir)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    rid = run_id or f"{cfg.run.name or cfg.task.name}-{stamp}"
    path = base / rid
    n = 1
    while path.exists() and run_id is None:
        n += 1
        path = base / f"{rid}-{n}"
    if path.exists() and run_id is not None:
        raise UserError(f"{path}: run directory exists already (use `distillgraph resume {rid}`)")
    try:
        path.mkdir(parents=True)
    except OSError as exc:
        raise UserError(f"{base}: cannot create the run directory ({exc.strerror})") from None
    for sub in ("data", "adapters", "report"):
        (path / sub).mkdir()
    (path / RESOLVED).write_text(yaml.safe_dump(cfg.redacted(), sort_keys=False), encoding="utf-8")
    return path


def has_started(run_dir: Path) -> bool:
    """Did a node of this run finish (so that it has a checkpoint worth resuming)?"""
    return (run_dir / "trace.jsonl").exists()


def find_run(run: str, runs_dir: str | None = None) -> Path:
    """RUN is the path of a run directory, or a run id under `runs_dir` (the config's run.dir; default runs)."""
    base = runs_dir if runs_dir is not None else DEFAULT_RUNS_DIR
    for cand in (Path(run), Path(base) / run):
        if (cand / RESOLVED).exists():
            return cand
    hint = "" if runs_dir is not None else "; a run under another run.dir: add --config CONFIG or --runs-dir DIR"
    raise UserError(f"run '{run}' not found (looked for {run}/{RESOLVED} and {Path(base) / run}/{RESOLVED}{hint})")


def load_run_config(run_dir: Path, overrides: list[str] | None = None) -> RunConfig:
    data = load_yaml((run_dir / RESOLVED).read_text(encoding="utf-8"))
    from distillgraph.graph.config import apply_overrides

    return config_from_dict(apply_overrides(data, overrides or []))


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """One process per run directory: a second one is refused with a clear message."""
    path = run_dir / "run.lock"
    fh = path.open("a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        pid = fh.read().strip() or "?"
        fh.close()
        raise UserError(f"run {run_dir.name} is in use by another process (pid {pid}); wait for it or stop it") from None
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


# ---------------------------------------------------------------- dependencies


def oracle_gold(cfg: RunConfig, data: dict[str, Any]) -> dict[str, Any]:
    """What the oracle (and the simulated teachers built on it) answers: every gold target the run's data has,
    BBC's whole pool included; for NER the entities, as JSON, as the teacher would answer."""
    if cfg.task.type == "ner":
        from distillgraph.store.ner import gold_entities

        return gold_entities([e for s in data.values() for e in s])
    gold = {e.id: e.target for s in data.values() for e in s if e.target is not None}
    if cfg.data.source == "bbc":
        from distillgraph.store.datasets import pool_gold

        gold.update(pool_gold(cfg.data.bbc, cfg.task))
    return gold


def tokens_per_call(cfg: RunConfig, prompts: PromptLibrary, data: dict[str, Any]) -> tuple[int, int]:
    """A typical labelling call (the first pool text, with as many demonstrations): its estimated tokens (for
    planning) and the upper bound a reservation holds (prompt bound + max_tokens)."""
    from distillgraph.agents.budget import estimate_prompt_tokens, prompt_token_bound

    sample = data["pool"][0].text if data["pool"] else ""
    typical = prompts.get("annotator").render(
        task_type=cfg.task.type, instruction=cfg.task.instruction, labels=cfg.task.labels,
        demonstrations=[{"text": sample, "target": "x"}] * cfg.teacher.demonstrations, text=sample)
    return estimate_prompt_tokens(typical) + 120, prompt_token_bound(typical) + cfg.teacher.max_tokens


@contextlib.contextmanager
def open_deps(cfg: RunConfig, run_dir: Path, *, env: Mapping[str, str], console: Console, no_cache: bool = False,
              progress: bool = True, on_step: Callable[..., None] | None = None,
              prompts_dir: str | None = None, data: dict[str, Any] | None = None,
              on_event: Callable[[dict[str, Any]], None] | None = None) -> Iterator[Deps]:
    """Build every model and client once (data, prompts, embedder, Chroma, student, ledger, cache, teacher)."""
    from distillgraph.agents.budget import BudgetLedger
    from distillgraph.agents.cache import AnswerCache
    from distillgraph.agents.prices import teacher_prices
    from distillgraph.agents.simulated import simulate
    from distillgraph.agents.teacher import build_teacher
    from distillgraph.graph.report import write_report
    from distillgraph.prompts import RUN_PROMPTS, PromptLibrary
    from distillgraph.store.datasets import load_data
    from distillgraph.store.embed import build_embedder
    from distillgraph.store.vectors import VectorStore
    from distillgraph.trainer.student import build_student

    prices = teacher_prices(cfg.teacher, cfg.budget, env)  # refuses a max_usd it cannot price, before any loading
    prompts = PromptLibrary(prompts_dir or cfg.prompts.dir)
    prompts.check_supplied(RUN_PROMPTS)  # fail early on a broken prompt file (edited since the run began)
    data = data if data is not None else load_data(cfg.data, cfg.task)
    embedder = build_embedder(cfg.store, run_dir / "data" / "embeddings")
    store = VectorStore.open(cfg.store, run_dir, embedder, env=env)
    student = build_student(cfg.student, cfg.task, prompt=prompts.get("student") if cfg.student.kind == "causal-lm" else None,
                            embedder=embedder, progress=progress)
    ledger = BudgetLedger(cfg.budget, prices.input_per_1m, prices.output_per_1m)
    cache = AnswerCache(Path(cfg.teacher.cache_path) if cfg.teacher.cache_path else run_dir / "llm_cache.sqlite")
    gold = oracle_gold(cfg, data) if cfg.teacher.provider == "oracle" else None
    secret = env.get(cfg.teacher.api_key_env) or ""
    trace = TraceWriter(run_dir / "trace.jsonl", secrets=[secret])
    teacher = build_teacher(cfg.teacher, ledger, cache, env=env, prompts=prompts, gold=gold,
                            no_cache=no_cache or cfg.run.no_cache, on_event=on_event)
    teacher = simulate(teacher, cfg.teacher, gold=gold, labels=cfg.task.label_names, reserve=data.get("reserve"),
                       embed=embedder.encode, max_chars=cfg.data.max_text_chars, ledger=ledger,
                       pool=data.get("pool"))  # teacher.simulation
    est, bound = tokens_per_call(cfg, prompts, data)
    deps = Deps(cfg=cfg, run_dir=run_dir, run_id=run_dir.name, data=data, prompts=prompts, embedder=embedder,
                store=store, student=student, teacher=teacher, ledger=ledger, trace=trace,
                write_report=lambda state: write_report(run_dir, state, cfg, ledger.to_dict()),
                on_step=on_step or (lambda *a: None), est_tokens_per_call=est,
                reserve_tokens_per_call=bound)
    try:
        yield deps
    finally:
        teacher.close()
        cache.close()
        store.close()


def checkpointer(run_dir: Path) -> SqliteSaver:
    conn = sqlite3.connect(str(run_dir / "checkpoints.sqlite"), check_same_thread=False)
    return SqliteSaver(conn, serde=serializer())


def thread(run_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": run_id}, "recursion_limit": 10_000}


# ---------------------------------------------------------------- running


StepHandler = Callable[[Any, Any, dict[str, Any]], bool]  # (graph, snapshot, config) -> continue?


def execute(cfg: RunConfig, run_dir: Path, *, env: Mapping[str, str], console: Console, resume: bool = False,
            step_handler: StepHandler | None = None, no_cache: bool = False, progress: bool = True,
            on_step: Callable[..., None] | None = None, prompts_dir: str | None = None,
            data: dict[str, Any] | None = None, monitor: Any = None) -> dict[str, Any]:
    """Run (or resume) the graph to the end, or until the step handler says stop. Returns the final state.

    `data`: the already loaded splits (the CLI loads them before it creates a run directory).
    `monitor`: a live display (graph/progress.py): gets the teacher's events and `attach(deps)`."""
    with run_lock(run_dir), open_deps(cfg, run_dir, env=env, console=console, no_cache=no_cache,
                                      progress=progress, on_step=on_step, prompts_dir=prompts_dir,
                                      data=data, on_event=monitor.teacher_event if monitor else None) as deps:
        if monitor is not None:
            monitor.attach(deps)
        saver = checkpointer(run_dir)
        graph = build_graph(deps, saver, interrupt_after=list(NODES) if step_handler else None)
        config = thread(deps.run_id)
        snap = graph.get_state(config)
        if resume:
            if not snap.values:
                payload: Any = {"run_id": deps.run_id}  # crashed before the first checkpoint: start over
            elif finished(snap):
                console.print(f"run {deps.run_id} has finished already; nothing to resume")
                return dict(snap.values)
            else:
                payload = None
        else:
            payload = {"run_id": deps.run_id}
        while True:
            graph.invoke(payload, config)
            payload = None
            snap = graph.get_state(config)
            if not snap.next:
                return dict(snap.values)
            if step_handler is None or not step_handler(graph, snap, config):
                return dict(snap.values)


def finished(snap: Any) -> bool:
    """Has the graph reached its end? No next node is not enough: a process killed after a node finished
    but before LangGraph wrote the checkpoint leaves that node's writes pending (next is empty, the task is
    still listed); invoking again applies them and goes on without running the node again."""
    return not snap.next and not snap.tasks


def history(cfg: RunConfig, run_dir: Path) -> list[Any]:
    """State snapshots of a run, oldest first (without loading any model)."""
    graph = reader_graph(cfg, checkpointer(run_dir))
    return list(reversed(list(graph.get_state_history(thread(run_dir.name)))))


def state_at_step(cfg: RunConfig, run_dir: Path, step: int) -> Any | None:
    """The snapshot written after step N (the last one, if a resume wrote it twice)."""
    found = None
    for snap in history(cfg, run_dir):
        if snap.values.get("step") == step and snap.metadata.get("source") == "loop":
            found = snap
    return found


def final_state(run_dir: Path) -> dict[str, Any]:
    cfg = load_run_config(run_dir)
    snap = reader_graph(cfg, checkpointer(run_dir)).get_state(thread(run_dir.name))
    if not snap.values:
        raise UserError(f"run {run_dir.name}: no checkpoint yet (did it start?)")
    return dict(snap.values)


def fork(src_dir: Path, step: int, *, overrides: list[str] | None = None) -> tuple[RunConfig, Path]:
    """New run directory whose graph starts from the checkpoint after step N of src (time travel).

    The answer cache, embeddings, clusters and adapters are copied, so nothing already paid is paid
    again; prompt files edited since then take effect from the fork's next step on.
    """
    cfg = load_run_config(src_dir, overrides)
    snap = state_at_step(cfg, src_dir, step)
    if snap is None:
        raise UserError(f"run {src_dir.name}: no checkpoint after step {step} (see `distillgraph trace {src_dir.name}`)")
    dst = new_run_dir(cfg, run_id=f"{src_dir.name}-fork{step}-{dt.datetime.now().strftime('%H%M%S')}")
    if (src_dir / "llm_cache.sqlite").exists():
        shutil.copy2(src_dir / "llm_cache.sqlite", dst / "llm_cache.sqlite")
    for sub in ("data", "adapters", "rounds", "chroma"):
        if (src_dir / sub).exists():
            shutil.copytree(src_dir / sub, dst / sub, dirs_exist_ok=True)
    values = dict(snap.values)
    if values.get("adapter"):
        values["adapter"] = values["adapter"].replace(str(src_dir), str(dst))
    values["run_id"] = dst.name
    graph = reader_graph(cfg, checkpointer(dst))
    graph.update_state(thread(dst.name), values, as_node=_last_node(src_dir, step))
    return cfg, dst


def _last_node(run_dir: Path, step: int) -> str:
    from distillgraph.graph.trace import read_trace

    for rec in read_trace(run_dir):
        if rec["step"] == step:
            return str(rec["node"])
    raise UserError(f"run {run_dir.name}: step {step} is not in trace.jsonl")


__all__ = ["execute", "find_run", "fork", "load_config", "new_run_dir"]
