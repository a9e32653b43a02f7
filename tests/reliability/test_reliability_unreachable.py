"""Teacher unreachable at the start or mid-run: one clear line, exit code 2, the run stays resumable, and a
resume against a teacher back on the same URL finishes without paying again for anything already paid."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from typer.testing import CliRunner

from distillgraph.agents.local_server import free_port
from distillgraph.graph.cli import app
from tests.reliability.harness import (
    KEY_ENV,
    SECRET,
    ControlledStub,
    config_dict,
    distilled,
    paid_twice,
    write_config,
)

runner = CliRunner()


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args], env={KEY_ENV: SECRET})


def one_error_line(result) -> str:
    """The one error line (model loading may have drawn progress bars on stderr before it)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def cache_rows(run_dir: Path) -> int:
    with sqlite3.connect(run_dir / "llm_cache.sqlite") as conn:
        return conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0]


def test_teacher_down_from_the_start_stops_resumably(models, data, tmp_path):
    port = free_port()
    cfg = write_config(tmp_path / "c.yaml", config_dict(f"http://127.0.0.1:{port}/v1", models, data, tmp_path / "runs",
                                                        budget__max_calls=10))
    result = cli("run", cfg, "--run-id", "down")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "cannot be reached" in line and str(port) in line and "distillgraph resume" in line
    run_dir = tmp_path / "runs" / "down"
    with ControlledStub(port=port) as stub:
        resumed = cli("resume", "down", "--runs-dir", tmp_path / "runs")
        assert resumed.exit_code == 0, resumed.output
    assert distilled(run_dir) and stub.answered


def test_teacher_lost_mid_run_stops_resumably_and_keeps_what_was_paid(models, data, tmp_path):
    # the uninterrupted run, for comparison
    with ControlledStub() as stub:
        cfg = write_config(tmp_path / "ref.yaml", config_dict(stub.base_url, models, data, tmp_path / "runs"))
        assert cli("run", cfg, "--run-id", "ref").exit_code == 0
        reference, ref_answered = distilled(tmp_path / "runs" / "ref"), stub.answered_keys.copy()
        stop_at = stub.requests // 2

    def go_down(s: ControlledStub, body: dict) -> None:
        if s.requests == stop_at:
            s.down = True  # connections still open get no answer; new ones are refused once stopped
            threading.Thread(target=s.stop).start()

    first = ControlledStub(on_request=go_down).start()
    port = first.port
    cfg = write_config(tmp_path / "c.yaml", config_dict(first.base_url, models, data, tmp_path / "runs"))
    result = cli("run", cfg, "--run-id", "mid")
    first.stop()
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "cannot be reached" in line and "the run stopped resumable" in line and SECRET not in line
    run_dir = tmp_path / "runs" / "mid"
    assert cache_rows(run_dir) == first.answered > 0, "an answer that was paid for is not in the cache"
    with ControlledStub(port=port) as second:
        resumed = cli("resume", "mid", "--runs-dir", tmp_path / "runs")
        assert resumed.exit_code == 0, resumed.output
    assert distilled(run_dir) == reference
    assert paid_twice(first.answered_keys + second.answered_keys, ref_answered) == 0
