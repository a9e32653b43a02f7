"""The graph against a real Chroma server (`chroma run`, started and stopped here) behind an auth gateway:
header values come from environment variables named in the config, concurrent runs are isolated, and a
server lost mid-run ends in one resumable line."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import chromadb
import pytest
from chromadb.config import Settings
from rich.console import Console
from typer.testing import CliRunner

from distillgraph.graph.cli import app
from distillgraph.graph.config import load_config
from distillgraph.graph.runner import execute, final_state, new_run_dir
from distillgraph.store.schema import UserError
from distillgraph.store.vectors import ChromaUnreachable
from tests.scale.chroma_server import AuthGateway, ChromaServer
from tests.stub_server import chosen_tool

TOKEN = "chroma-token-5f1e9a77c0"
ENV = {"DG_TEST_KEY": "sk-test-secret-key-1234567890", "DG_CHROMA_TOKEN": TOKEN}
HEADER = "X-Chroma-Token"


@pytest.fixture
def chroma(tmp_path):
    with ChromaServer(tmp_path / "chroma-db") as server, AuthGateway(server.port, HEADER, TOKEN) as gateway:
        yield server, gateway


def config(make_config, stub, gateway, name, **over):
    path = make_config(stub.base_url, name=name, store__chroma_url=gateway.url,
                       store__chroma_headers={HEADER: "DG_CHROMA_TOKEN"}, budget__max_calls=10,
                       loop__rounds=1, loop__max_rounds=2, **over)
    return load_config(path)


def run(cfg, run_dir=None, **kw):
    run_dir = run_dir or new_run_dir(cfg)
    return run_dir, execute(cfg, run_dir, env=ENV, console=Console(quiet=True), progress=False, **kw)


def database_collections(server, database):
    client = chromadb.HttpClient(host="127.0.0.1", port=server.port, database=database,
                                 settings=Settings(anonymized_telemetry=False))
    return {c.name: c.count() for c in client.list_collections()}


def test_concurrent_runs_share_a_server_without_seeing_each_other(chroma, make_config, stub, dataset):
    server, gateway = chroma
    cfgs = [config(make_config, stub, gateway, name) for name in ("alpha", "beta")]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, cfgs))
    n_examples = sum(len(dataset[s].read_text().splitlines()) for s in ("pool", "dev", "test"))
    for run_dir, state in results:
        assert state["history"], "the run did not train"
        # each run has its own database: only its own collection, with its own items (+ synthetic ones)
        own = database_collections(server, f"distillgraph-{run_dir.name}")
        assert list(own) == ["distillgraph"] and own["distillgraph"] >= n_examples
        # the header value was sent but never written
        for p in run_dir.rglob("*"):
            if p.is_file():
                assert TOKEN.encode() not in p.read_bytes(), p
        assert "DG_CHROMA_TOKEN" in (run_dir / "config.resolved.yaml").read_text()
    assert results[0][0].name != results[1][0].name
    assert database_collections(server, "default_database") == {}
    assert gateway.forwarded > 0 and gateway.refused == 0
    # without the header the gateway refuses: one line, before any work
    bare = cfgs[0].model_copy(update={"store": cfgs[0].store.model_copy(update={"chroma_headers": {}})})
    with pytest.raises(UserError) as err:
        run(bare)
    assert "cannot reach Chroma" in str(err.value) and "\n" not in str(err.value) and gateway.refused > 0
    missing = cfgs[0].model_copy(update={"store": cfgs[0].store.model_copy(
        update={"chroma_headers": {HEADER: "DG_NOT_SET"}})})
    with pytest.raises(UserError, match=r"store.chroma_headers.X-Chroma-Token: environment variable DG_NOT_SET"):
        run(missing)


def test_server_restart_mid_run_is_one_resumable_line(chroma, make_config, stub):
    server, gateway = chroma
    cfg = config(make_config, stub, gateway, "restart")

    def stop_after_index(node, *rest):
        if node == "index":
            server.stop()

    run_dir = new_run_dir(cfg)
    with pytest.raises(ChromaUnreachable) as err:
        run(cfg, run_dir, on_step=stop_after_index)
    msg = str(err.value)
    assert "\n" not in msg and "lost the Chroma server" in msg and "distillgraph resume" in msg
    # the CLI says it in one line with exit code 2 while the server is down ...
    cli = CliRunner()
    down = cli.invoke(app, ["resume", str(run_dir)], env=ENV)
    errors = [ln for ln in down.output.splitlines() if ln.startswith("error:")]
    assert down.exit_code == 2 and len(errors) == 1 and "cannot reach Chroma" in errors[0], down.output
    # ... and once it is back (same port, same data), resume finishes the run without paying twice
    server.start()
    up = cli.invoke(app, ["resume", str(run_dir)], env=ENV)
    assert up.exit_code == 0, up.output
    state = final_state(run_dir)
    assert state["history"] and state.get("stop_reason")
    # the labels paid before the server went away came from the answer cache after it: none asked twice
    labels = [json.dumps(b["messages"]) for b in stub.bodies
              if (chosen_tool(b) or {}).get("function", {}).get("name") == "LabelAnswer"]
    assert labels and len(labels) == len(set(labels)) and stub.chat_requests <= 10

