"""Secrets: with the API key in the environment, no file a run writes (config dump, trace, checkpoints, cache,
metrics, report, export) nor its console output holds the key; the client's error texts are scrubbed (the
stub's 401 echoes the key, as OpenAI does)."""

from __future__ import annotations

from typer.testing import CliRunner

from distillgraph.graph.cli import app
from tests.reliability.harness import KEY_ENV, ControlledStub, config_dict, files_with, write_config
from tests.stub_server import Faults

KEY = "dgk_live_7Q2m9Xw4Lr8Tz1Vb"  # no sk- prefix: only the literal scrubbing of the configured key catches it
runner = CliRunner()


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args], env={KEY_ENV: KEY})


def test_no_file_or_output_of_a_run_holds_the_key(models, data, tmp_path):
    with ControlledStub(faults=Faults(rate_500=0.2, rate_malformed=0.1), seed=1) as stub:
        cfg = write_config(tmp_path / "c.yaml", config_dict(stub.base_url, models, data, tmp_path / "runs",
                                                            budget__max_calls=16))
        outputs = [cli("run", cfg, "--run-id", "s")]
    assert outputs[0].exit_code == 0, outputs[0].output
    assert any(KEY in h for h in stub.auth_headers), "the key was not used: the test proves nothing"
    run_dir = tmp_path / "runs" / "s"
    outputs += [cli("report", run_dir), cli("export", run_dir), cli("trace", run_dir), cli("trace", run_dir, "--step", 2)]
    assert all(r.exit_code == 0 for r in outputs), [r.output for r in outputs]
    for name in ("config.resolved.yaml", "trace.jsonl", "checkpoints.sqlite", "llm_cache.sqlite", "export"):
        assert (run_dir / name).exists(), name
    assert files_with(KEY, tmp_path) == []
    assert not [r for r in outputs if KEY in r.output]


def test_a_401_that_echoes_the_key_is_scrubbed(models, data, tmp_path):
    with ControlledStub(faults=Faults(script=["401"] * 20)) as stub:
        cfg = write_config(tmp_path / "c.yaml", config_dict(stub.base_url, models, data, tmp_path / "runs",
                                                            budget__max_calls=16))
        result = cli("run", cfg, "--run-id", "s")
    assert stub.faults_served["401"] >= 1
    assert result.exit_code == 2
    line = next(line for line in result.stderr.splitlines() if line.startswith("error:"))
    assert "refused the request" in line and "Incorrect API key provided" in line and KEY not in line
    assert KEY not in result.output
    assert files_with(KEY, tmp_path) == []


def test_a_short_key_is_masked_as_a_token_and_the_trace_stays_readable(tmp_path):
    """A key-sized secret is masked wherever it occurs; a short one (a test key "k") only as a whole token, so
    the trace keeps "token" intact and stays valid JSON, with the secret itself still gone."""
    import json

    from distillgraph.agents.teacher_types import scrub
    from distillgraph.graph.trace import TraceWriter

    assert scrub(f"auth {KEY}x failed", (KEY,)) == "auth ***x failed"
    assert scrub("key k rejected: token limit", ("k",)) == "key *** rejected: token limit"
    writer = TraceWriter(tmp_path / "trace.jsonl", secrets=["k", KEY])
    writer.begin("annotator", 1, 1, {"calls": 0})
    writer.event("error", message=f"bad key k for {KEY}", tokens=3, k="k")
    writer.end({"calls": 1}, {"note": "token"}, ["dataset"])
    rec = json.loads((tmp_path / "trace.jsonl").read_text())
    assert rec["summary"] == {"note": "token"}
    assert rec["events"][0]["message"] == "bad key *** for ***" and rec["events"][0]["***"] == "***"
    assert KEY not in (tmp_path / "trace.jsonl").read_text()
