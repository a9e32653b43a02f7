"""The CLI shell: help, init -> plan, one-line user errors with exit code 2, prompts, data."""

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillgraph.graph.cli import app

runner = CliRunner()


def invoke(*args, input=None):
    return runner.invoke(app, list(args), input=input)


def test_help_lists_the_commands():
    out = invoke("--help").output
    for cmd in ("init", "plan", "run", "resume", "fork", "trace", "prompts", "report", "export", "data"):
        assert re.search(rf"\b{cmd}\b", out), cmd
    listed = re.findall(r"^\W*(\w+) ", out.split("Commands")[1], flags=re.M)
    assert [c for c in listed if c in ("init", "run", "trace", "export", "prompts")] == [
        "init", "run", "trace", "export", "prompts"]  # the split CLI keeps the order of --help


@pytest.mark.parametrize("kind", ["classification", "generation"])
def test_init_writes_a_config_that_plan_accepts(tmp_path, kind):
    cfg = tmp_path / "x.yaml"
    r = invoke("init", str(cfg), "--type", kind)
    assert r.exit_code == 0, r.output
    assert cfg.read_text().startswith("# distillgraph config")
    r = invoke("plan", str(cfg), "--set", "teacher.provider=openai")
    assert r.exit_code == 0, r.output
    assert "total" in r.output and "annotator" in r.output


def test_init_refuses_to_overwrite(tmp_path):
    cfg = tmp_path / "x.yaml"
    cfg.write_text("keep")
    r = invoke("init", str(cfg))
    assert r.exit_code == 2 and "exists already" in r.output
    assert cfg.read_text() == "keep"


def test_misspelt_key_gives_one_line_and_exit_code_2(tmp_path):
    cfg = tmp_path / "x.yaml"
    invoke("init", str(cfg))
    cfg.write_text(cfg.read_text().replace("max_calls: 200", "max_callz: 200"))
    r = invoke("plan", str(cfg))
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1, r.output
    assert "budget.max_callz: unknown key (did you mean max_calls?)" in lines[0]
    assert "Traceback" not in r.output


def test_missing_config_file_exit_2(tmp_path):
    r = invoke("run", str(tmp_path / "none.yaml"))
    assert r.exit_code == 2 and "config file not found" in r.output


def test_unknown_run_exit_2(tmp_path):
    r = invoke("trace", "no-such-run", "--runs-dir", str(tmp_path))
    assert r.exit_code == 2 and "not found" in r.output


def test_prompts_list_show_check_export(tmp_path):
    r = invoke("prompts", "list")
    assert r.exit_code == 0 and "annotator" in r.output and "packaged" in r.output
    r = invoke("prompts", "show", "annotator", "--render")
    assert r.exit_code == 0 and "<<<DATA" in r.output
    assert invoke("prompts", "check").exit_code == 0
    r = invoke("prompts", "export", str(tmp_path / "p"))
    assert r.exit_code == 0 and (tmp_path / "p" / "annotator.yaml").exists()


def test_prompts_check_fails_on_a_broken_user_template(tmp_path):
    d = tmp_path / "p"
    d.mkdir()
    (d / "annotator.yaml").write_text("name: annotator\nvariables: {text: x}\nuser: '{{ text }} {{ missing }'\n")
    r = invoke("prompts", "check", "--prompts", str(d))
    assert r.exit_code == 2 and "annotator" in r.output


def test_prompts_check_fails_on_undeclared_variable(tmp_path):
    d = tmp_path / "p"
    d.mkdir()
    (d / "judge.yaml").write_text("name: judge\nvariables: {text: x}\nuser: '{{ text }} {{ other }}'\n")
    r = invoke("prompts", "check", "--prompts", str(d))
    assert r.exit_code == 2 and "'other' is used but not declared" in r.output


def test_data_bbc_writes_the_split(tmp_path):
    r = invoke("data", "bbc", "--out", str(tmp_path / "bbc"), "--pool-size", "300")
    assert r.exit_code == 0, r.output
    for split in ("pool", "dev", "test"):
        assert (tmp_path / "bbc" / f"{split}.jsonl").stat().st_size > 0


def _config_with_run_dir(tmp_path, monkeypatch, run_dir: str = "experiments/"):
    """A starter config whose run.dir is not the default, in a fresh working directory."""
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "cfg.yaml"
    invoke("init", str(cfg))
    cfg.write_text(cfg.read_text().replace("  dir: runs\n", f"  dir: {run_dir}\n"))
    return cfg


def test_run_ids_are_found_under_the_configs_run_dir(tmp_path, monkeypatch):
    from distillgraph.graph.config import load_config
    from distillgraph.graph.runner import new_run_dir

    cfg = _config_with_run_dir(tmp_path, monkeypatch)
    run_dir = new_run_dir(load_config(cfg), "r1")  # what `distillgraph run cfg.yaml --run-id r1` creates
    assert run_dir == Path("experiments/r1")
    (run_dir / "trace.jsonl").write_text(json.dumps({"step": 1, "node": "index", "round": 0, "summary": {}}) + "\n")
    r = invoke("trace", "r1", "--config", str(cfg))
    assert r.exit_code == 0, r.output
    assert "index" in r.output
    assert invoke("trace", "r1", "--runs-dir", "experiments").exit_code == 0
    assert invoke("trace", str(run_dir)).exit_code == 0  # a path works as ever
    # without either, the one line says where it looked and how to point elsewhere
    r = invoke("trace", "r1")
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and "--config" in lines[0], r.output
    r = invoke("trace", "r1", "--config", str(cfg), "--runs-dir", "x")
    assert r.exit_code == 2 and "give one of them" in r.output


@pytest.mark.parametrize("command", [["resume"], ["report"], ["export"], ["train"], ["fork", "--step", "1"]])
def test_every_run_command_looks_under_the_configs_run_dir(tmp_path, monkeypatch, command):
    cfg = _config_with_run_dir(tmp_path, monkeypatch)
    r = invoke(command[0], "nope", *command[1:], "--config", str(cfg))
    assert r.exit_code == 2, r.output
    assert "experiments/nope/config.resolved.yaml" in " ".join(r.output.split()), r.output


@pytest.mark.parametrize("key", ["loop.scoring=judge", "loop.judge=true"])
def test_oracle_teacher_with_judge_is_refused_before_anything_is_written(tmp_path, monkeypatch, key):
    cfg = _config_with_run_dir(tmp_path, monkeypatch)
    r = invoke("run", str(cfg), "--set", "teacher.provider=oracle", "--set", key)
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1, r.output
    assert "oracle" in lines[0] and "judge" in lines[0]
    assert not (tmp_path / "experiments").exists()
