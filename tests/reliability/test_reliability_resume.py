"""A process killed after a node finished but before LangGraph committed the checkpoint (the node's writes are
pending) must resume — not report "finished already" — and end with the uninterrupted run's dataset."""

from __future__ import annotations

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver
from rich.console import Console

import distillgraph.graph.runner as runner_mod
from distillgraph.graph.config import config_from_dict
from distillgraph.graph.runner import execute, new_run_dir
from tests.reliability.harness import KEY_ENV, SECRET, ControlledStub, config_dict, distilled


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing on the way catches it."""


def test_resume_applies_pending_writes_of_a_node_whose_checkpoint_was_never_written(models, data, tmp_path, monkeypatch):
    with ControlledStub() as stub:
        raw = config_dict(stub.base_url, models, data, tmp_path / "runs", budget__max_calls=14)
        cfg = config_from_dict(raw)
        ref_dir = new_run_dir(cfg, "reference")
        execute(cfg, ref_dir, env={KEY_ENV: SECRET}, console=Console(quiet=True), progress=False)
        real = runner_mod.checkpointer
        puts = {"n": 0}

        class DiesBeforeCheckpoint(SqliteSaver):
            def put(self, *args, **kwargs):  # the checkpoint after the 3rd node (trainer) never lands
                puts["n"] += 1
                if puts["n"] == 5:  # input, start, index, bootstrap, then the trainer's
                    raise Killed
                return super().put(*args, **kwargs)

        def dying(run_dir):
            saver = real(run_dir)
            return DiesBeforeCheckpoint(saver.conn, serde=saver.serde)

        monkeypatch.setattr(runner_mod, "checkpointer", dying)
        run_dir = new_run_dir(cfg, "killed")
        with pytest.raises(Killed):
            execute(cfg, run_dir, env={KEY_ENV: SECRET}, console=Console(quiet=True), progress=False)
        monkeypatch.setattr(runner_mod, "checkpointer", real)
        snap = runner_mod.reader_graph(cfg, real(run_dir)).get_state(runner_mod.thread(run_dir.name))
        assert not snap.next and snap.tasks, "the kill did not land between the node's writes and its checkpoint"
        state = execute(cfg, run_dir, env={KEY_ENV: SECRET}, console=Console(quiet=True), progress=False, resume=True)
    assert state.get("report"), "the resume stopped early"
    assert distilled(run_dir) == distilled(ref_dir)
