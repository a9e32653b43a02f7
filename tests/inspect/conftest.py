"""A recorded run for the inspection tests: one real run of the graph (the tiny-model world of tests/graph
through tests/reliability/harness.py, the loopback stub teacher) whose pool texts, rationales, weaknesses
and synthetic samples hold markup-like characters (rich markup, HTML) that every view must show as plain
text."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tests.graph.conftest import WORDS, teacher_responder
from tests.reliability.harness import KEY_ENV, build_dataset, build_models, config_dict, write_config
from tests.stub_server import StubServer, chosen_tool

MARKUP = "[bold red]not bold[/] <script>window.__pwned=1</script> <b>x</b> & [link=http://x]y[/link]"


def markup_responder(body: dict[str, Any]) -> Any:
    """The tests' sensible teacher, with markup-like characters in rationales, weaknesses and written texts."""
    answer = teacher_responder(body)
    tool = chosen_tool(body)
    name = tool["function"]["name"] if tool else ""
    if name == "LabelAnswer":
        answer["rationale"] = f"{answer['rationale']} {MARKUP}"
    elif name == "SynthBatch":
        for s in answer["samples"]:
            s["text"] = f"{s['text']} {MARKUP}"
    elif name == "WeaknessReport":
        answer["weaknesses"][0]["description"] += f" {MARKUP}"
    return answer


@pytest.fixture(scope="session")
def recorded_run(tmp_path_factory) -> Path:
    """The directory of a finished 2-round run (trace, checkpoints, metrics, report)."""
    from distillgraph.graph.config import load_config
    from distillgraph.graph.runner import execute, new_run_dir

    root = tmp_path_factory.mktemp("inspect")
    extra = [f"{w} {WORDS[label][(i + 3) % 10]} {MARKUP} extra {i}"
             for label in WORDS for i, w in enumerate(WORDS[label][:4])]
    data = build_dataset(root / "data", extra_pool=extra)
    with StubServer(responder=markup_responder, seed=0) as srv:
        cfg_dict = config_dict(srv.base_url, build_models(root / "models"), data, root / "runs",
                               task__name="inspect", loop__max_rounds=2,
                               loop__weak_synth_labels="any")  # weak clusters write: the analyst asks the teacher
        cfg = load_config(write_config(root / "inspect.yaml", cfg_dict), [])
        run_dir = new_run_dir(cfg, "recorded")
        execute(cfg, run_dir, env={KEY_ENV: "sk-test-secret-key-1234567890"}, console=Console(quiet=True),
                progress=False)
    return run_dir


@pytest.fixture
def run_copy(recorded_run, tmp_path) -> Path:
    """A copy of the recorded run a test may write into (report/, ...)."""
    dst = tmp_path / "runs" / recorded_run.name
    shutil.copytree(recorded_run, dst)
    return dst
