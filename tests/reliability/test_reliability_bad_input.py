"""Bad input, table-driven: malformed configs, data files, run directories and prompt folders each give ONE
clear line on stderr and exit code 2 through `distillgraph run` / `plan`, and nothing in an existing run
directory changes (nor does a new one appear)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from distillgraph.graph.cli import app
from distillgraph.prompts import PromptLibrary
from tests.reliability.harness import KEY_ENV, SECRET, config_dict, tree_hashes

runner = CliRunner()
BOTH = ("run", "plan")


@dataclass
class Case:
    name: str
    expect: str  # a fragment of the one error line
    edit: Callable[[dict[str, Any], Path], Any]  # edits the config dict (may write files); may return a path
    commands: tuple[str, ...] = BOTH
    extra: tuple[str, ...] = ()


def _set(section: str, key: str, value: Any) -> Callable[[dict[str, Any], Path], None]:
    return lambda cfg, tmp: cfg.setdefault(section, {}).__setitem__(key, value)


def _raw_config(content: bytes) -> Callable[[dict[str, Any], Path], Path]:
    def edit(cfg: dict[str, Any], tmp: Path) -> Path:
        path = tmp / "raw.yaml"
        path.write_bytes(content)
        return path
    return edit


def _pool_bytes(content: bytes, suffix: str = ".jsonl", split: str = "pool") -> Callable[[dict[str, Any], Path], None]:
    def edit(cfg: dict[str, Any], tmp: Path) -> None:
        path = tmp / f"bad-{split}{suffix}"
        path.write_bytes(content)
        cfg["data"][split] = str(path)
    return edit


def _rows(*rows: dict[str, Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _prompt_dir(name: str, text: str | None) -> Callable[[dict[str, Any], Path], None]:
    def edit(cfg: dict[str, Any], tmp: Path) -> None:
        folder = tmp / "my_prompts"
        folder.mkdir(exist_ok=True)
        if text is not None:
            (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
        cfg["prompts"] = {"dir": str(folder if text is not None else tmp / "no-such-folder")}
    return edit


def _annotator_with(old: str, new: str) -> str:
    return PromptLibrary().path_of("annotator").read_text(encoding="utf-8").replace(old, new)


def _same_text_in_pool_and_dev(cfg: dict[str, Any], tmp: Path) -> None:
    dev = Path(cfg["data"]["dev"]).read_text(encoding="utf-8").splitlines()
    pool = tmp / "pool-dup.jsonl"
    pool.write_text(Path(cfg["data"]["pool"]).read_text(encoding="utf-8") + json.dumps(
        {"text": json.loads(dev[0])["text"]}) + "\n", encoding="utf-8")
    cfg["data"]["pool"] = str(pool)


def _unwritable_run_dir(cfg: dict[str, Any], tmp: Path) -> None:
    blocker = tmp / "a-file"
    blocker.write_text("not a folder")
    cfg["run"]["dir"] = str(blocker / "runs")  # root can write anywhere, but not under a file


CASES = [
    Case("unknown top-level key", "telemetry: unknown key", _set("telemetry", "on", True)),
    Case("unknown nested key", "did you mean max_tokens", _set("budget", "max_tokenz", 10)),
    Case("wrong type", "loop.rounds", _set("loop", "rounds", "many")),
    Case("negative budget", "budget.max_calls", _set("budget", "max_calls", -5)),
    Case("no budget cap", "set at least one of", lambda cfg, tmp: cfg.__setitem__("budget", {})),
    Case("one label", "at least 2 labels", _set("task", "labels", {"sport": ""})),
    Case("max_rounds below rounds", "loop.max_rounds", _set("loop", "max_rounds", 1)),
    Case("generation with a classifier", "student.kind", _set("task", "type", "generation")),
    Case("config not YAML", "not valid YAML", _raw_config(b"task: [unclosed\n  budget: {")),
    Case("config is a list", "must be a mapping", _raw_config(b"- task\n- budget\n")),
    Case("config binary", "not UTF-8", _raw_config(bytes(range(256)) * 4)),
    Case("config latin-1", "not UTF-8", _raw_config("task: {name: caf\u00e9}\n".encode("latin-1"))),
    Case("config missing", "config file not found", lambda cfg, tmp: tmp / "nope.yaml"),
    Case("bad --set", "expected key.path=value", lambda cfg, tmp: None, extra=("--set", "budget.max_calls")),
    Case("empty pool", "pool set is empty", _pool_bytes(b"")),
    Case("missing text field", "field 'text'", _pool_bytes(_rows({"body": "a"}, {"body": "b"}))),
    Case("empty text", "row 2: 'text' is empty", _pool_bytes(_rows({"text": "a"}, {"text": "  "}))),
    Case("label not in label set", "label 'weather' is not in task.labels",
         _pool_bytes(_rows({"text": "rain", "label": "weather"}), split="dev")),
    Case("5 MB single text", "far over data.max_text_chars", _pool_bytes(_rows({"text": "word " * 1_000_000}))),
    Case("binary data file", "binary file", _pool_bytes(b"\x00\x01\x02PK\x03\x04" * 100)),
    Case("UTF-16 data file", "UTF-16", _pool_bytes('{"text": "hello"}\n'.encode("utf-16"))),
    Case("invalid JSONL line", ":2: not valid JSON", _pool_bytes(b'{"text": "a"}\n{"text": \n')),
    Case("unsupported format", "unsupported format", _pool_bytes(b"PK", suffix=".xlsx")),
    Case("data file missing", "data file not found", lambda cfg, tmp: cfg["data"].__setitem__("pool", "/no/such.jsonl")),
    Case("duplicated ids", "duplicate id 7", _pool_bytes(_rows({"id": 7, "text": "a"}, {"id": 7, "text": "b"}))),
    Case("same text in pool and dev", "in both the pool and the dev set", _same_text_in_pool_and_dev),
    Case("unwritable run dir", "cannot create the run directory", _unwritable_run_dir, commands=("run",)),
    Case("run id exists", "exists already", lambda cfg, tmp: None, commands=("run",), extra=("--run-id", "existing")),
    Case("prompt folder missing", "prompts folder", _prompt_dir("annotator", None)),
    Case("prompt not a mapping", "expected a mapping", _prompt_dir("annotator", "- just\n- a list\n")),
    Case("broken prompt template", "template line", _prompt_dir("annotator", _annotator_with("{% if demonstrations -%}",
                                                                                             "{% if -%}"))),
    Case("missing prompt variable", "does not supply", _prompt_dir("annotator", _annotator_with(
        "Now annotate this input:", "Now annotate this input for {{ customer_name }}:"))),
]


@pytest.fixture(scope="module")
def existing_run(tmp_path_factory) -> Path:
    """A pre-existing run directory in the runs folder every case points at."""
    runs = tmp_path_factory.mktemp("bad-input") / "runs"
    run = runs / "existing"
    (run / "report").mkdir(parents=True)
    (run / "config.resolved.yaml").write_text("task: {name: existing}\n")
    (run / "trace.jsonl").write_text('{"step": 1, "node": "index"}\n')
    (run / "checkpoints.sqlite").write_bytes(b"SQLite format 3\x00" + bytes(100))
    (run / "report" / "metrics.json").write_text("{}")
    return runs


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_input_gives_one_clear_line_and_exit_code_2(case, models, data, existing_run, tmp_path):
    before = tree_hashes(existing_run)
    cfg = config_dict("http://127.0.0.1:9/v1", models, data, existing_run)
    path = case.edit(cfg, tmp_path)
    if path is None:
        path = tmp_path / "cfg.yaml"
        path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    for command in case.commands:
        result = runner.invoke(app, [command, str(path), *case.extra], env={KEY_ENV: SECRET})
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.exit_code == 2, (command, result.output, result.exception)
        assert len(lines) == 1 and lines[0].startswith("error:") and len(lines[0]) < 400, (command, result.stderr)
        assert case.expect in lines[0], (command, lines[0])
        assert not result.stdout.strip(), (command, result.stdout)
    assert tree_hashes(existing_run) == before, "a file of the existing run changed"
    assert [p.name for p in existing_run.iterdir()] == ["existing"], "a run directory was left behind"


def test_the_table_is_big_enough():
    assert len(CASES) >= 20
