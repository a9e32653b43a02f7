"""Step mode on a real run: a pool annotation rejected with `r PREFIX` after round 1's annotator is dropped,
stays taken, and is never asked of the teacher (paid for) again in the rounds that follow."""

from __future__ import annotations

import json

from rich.console import Console

import distillgraph.graph.cli_run as cli_run
from distillgraph.graph.config import config_from_dict
from distillgraph.graph.runner import execute, new_run_dir
from distillgraph.graph.state import labelled_ids
from distillgraph.graph.trace import read_trace
from distillgraph.store.datasets import load_data
from tests.graph.conftest import _last_data_block
from tests.reliability.harness import KEY_ENV, SECRET, ControlledStub, config_dict
from tests.stub_server import chosen_tool


def shortest_unique_prefix(target: str, others: list[str]) -> str:
    for n in range(cli_run.MIN_PREFIX, len(target) + 1):
        if not any(o != target and o.startswith(target[:n]) for o in others):
            return target[:n]
    return target


def label_requests_for(stub: ControlledStub, text: str) -> int:
    return sum(1 for body in stub.bodies
               if (chosen_tool(body) or {}).get("function", {}).get("name") == "LabelAnswer"
               and _last_data_block(body) == text)


def test_a_rejected_pool_annotation_is_never_bought_again(models, data, tmp_path, monkeypatch):
    rejected: dict[str, str] = {}

    with ControlledStub() as stub:
        cfg = config_from_dict(config_dict(stub.base_url, models, data, tmp_path / "runs", budget__max_calls=40,
                                           loop__synthesis="off"))
        texts = {e.id: e.text for e in load_data(cfg.data, cfg.task)["pool"]}
        run_dir = new_run_dir(cfg, "step")

        def handler(graph, snap, config):
            if rejected or read_trace(run_dir)[-1]["node"] != "annotator":
                return True  # Enter
            this_step = [a for a in snap.values["dataset"] if a.round == snap.values["round"]]
            target = next(a.id for a in this_step if a.source == "pool")
            prefix = shortest_unique_prefix(target, [a.id for a in this_step])
            rejected.update(id=target, text=texts[target])
            answers = iter([f"r {prefix}", ""])
            monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
            monkeypatch.setattr(cli_run, "_current_run", {"dir": str(run_dir), "ref": run_dir.name})
            return cli_run._step_handler(graph, snap, config)

        state = execute(cfg, run_dir, env={KEY_ENV: SECRET}, console=Console(quiet=True), progress=False,
                        step_handler=handler)

    assert rejected, "the run never reached an annotator with a pool annotation"
    assert state.get("report"), "the run stopped early"
    rounds = {json.loads(line)["round"] for line in (run_dir / "trace.jsonl").read_text().splitlines()}
    assert max(rounds) >= 2, "no round after the rejection: the test proves nothing"
    assert rejected["id"] not in {a.id for a in state["dataset"]}
    assert state["human_rejected"] == [rejected["id"]] and rejected["id"] in labelled_ids(state)
    assert label_requests_for(stub, rejected["text"]) == 1, "the rejected text was sent to the teacher again"
