"""A recorded run for the inspection tests: one real run of the graph (tiny models, loopback stub
teacher) whose texts, rationales and synthetic samples hold markup-like characters (rich markup,
HTML) that every view must show as plain text."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from tests.graph.conftest import LABELS, WORDS, teacher_responder, tiny_models  # noqa: F401  (fixture)
from tests.stub_server import StubServer, chosen_tool

ENV = {"DG_TEST_KEY": "sk-test-secret-key-1234567890"}
MARKUP = "[bold red]not bold[/] <script>window.__pwned=1</script> <b>x</b> & [link=http://x]y[/link]"


def markup_responder(body: dict[str, Any]) -> Any:
    """The tests' sensible teacher, with markup-like characters in rationales and written texts."""
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


def _texts(label: str, n: int, offset: int) -> list[str]:
    w = WORDS[label]
    out = []
    for i in range(n):
        text = f"{w[(i + offset) % 10]} {w[(3 * i + 1 + offset) % 10]} news number {i + offset} about {w[(7 * i + 2) % 10]}"
        out.append(f"{text} {MARKUP}" if i % 3 == 0 else text)
    return out


@pytest.fixture(scope="session")
def recorded_run(tmp_path_factory, tiny_models) -> Path:  # noqa: F811
    """The directory of a finished 2-round run (trace, checkpoints, metrics, report)."""
    from distillgraph.graph.config import load_config
    from distillgraph.graph.runner import execute, new_run_dir

    root = tmp_path_factory.mktemp("inspect")
    files = {}
    sizes = {"sport": 24, "business": 12, "tech": 6}  # long tail
    for split, n_of, offset in (("pool", sizes, 0), ("dev", dict.fromkeys(sizes, 4), 100),
                                ("test", dict.fromkeys(sizes, 4), 200)):
        rows = [{"text": t, **({"label": lb} if split != "pool" else {})}
                for lb, n in n_of.items() for t in _texts(lb, n, offset)]
        files[split] = root / f"{split}.jsonl"
        files[split].write_text("".join(json.dumps(r) + "\n" for r in rows))
    with StubServer(responder=markup_responder, seed=0) as srv:
        cfg_dict = {
            "task": {"type": "classification", "name": "inspect", "instruction": "Classify the topic.", "labels": LABELS},
            "data": {k: str(v) for k, v in files.items()},
            "teacher": {"provider": "openai", "model": "stub", "base_url": srv.base_url, "api_key_env": "DG_TEST_KEY",
                        "max_concurrency": 4, "demonstrations": 2, "max_retries": 2, "timeout": 5},
            "student": {"kind": "classifier", "base_model": str(tiny_models["classifier"]), "num_train_epochs": 2,
                        "learning_rate": 5e-3, "per_device_train_batch_size": 8, "max_length": 32,
                        "target_modules": ["query", "value"], "bf16": "off"},
            "store": {"embedding_model": str(tiny_models["embedder"]), "embedding_dtype": "float32", "n_clusters": 3},
            "loop": {"rounds": 2, "max_rounds": 2, "patience": 5, "bootstrap_per_cluster": 2},
            "budget": {"max_calls": 30},
            "run": {"dir": str(root / "runs"), "seed": 0},
        }
        path = root / "inspect.yaml"
        path.write_text(yaml.safe_dump(cfg_dict))
        cfg = load_config(path, [])
        run_dir = new_run_dir(cfg, "recorded")
        execute(cfg, run_dir, env=ENV, console=Console(quiet=True), progress=False)
    return run_dir


@pytest.fixture
def run_copy(recorded_run, tmp_path) -> Path:
    """A copy of the recorded run a test may write into (report/, ...)."""
    dst = tmp_path / "runs" / recorded_run.name
    shutil.copytree(recorded_run, dst)
    return dst
