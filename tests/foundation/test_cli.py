"""The CLI shell: help, init -> plan, one-line user errors with exit code 2, prompts, data."""

import re

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
