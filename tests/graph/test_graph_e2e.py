"""End-to-end runs of the graph against the loopback stub teacher, with tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from distillgraph.graph.config import load_config
from distillgraph.graph.routing import plateaued, route_after_trainer, stop_reason
from distillgraph.graph.runner import execute, final_state, history, new_run_dir

ENV = {"DG_TEST_KEY": "sk-test-secret-key-1234567890"}


def run(cfg_path, overrides=None, resume_dir=None, **kw):
    cfg = load_config(cfg_path, overrides or [])
    run_dir = resume_dir or new_run_dir(cfg)
    state = execute(cfg, run_dir, env=ENV, console=Console(quiet=True), resume=resume_dir is not None,
                    progress=False, **kw)
    return cfg, run_dir, state


def dataset_of(state):
    return sorted((a.id, a.target, a.source, a.round) for a in state["dataset"])


def test_node_order_budget_and_outputs(stub, make_config):
    cfg, run_dir, state = run(make_config(stub.base_url))
    nodes = [s.next[0] for s in history(cfg, run_dir) if s.next and s.next[0] != "__start__"]
    assert nodes[:3] == ["index", "bootstrap", "trainer"]
    loop = nodes[3:-1]
    assert loop and len(loop) % 4 == 0
    for i in range(0, len(loop), 4):
        assert loop[i : i + 4] == ["analyst", "generator", "annotator", "trainer"]
    assert nodes[-1] == "report"
    # the budget is a hard cap: the stub's own count of requests never exceeds it
    assert stub.chat_requests <= 30
    assert state["ledger"]["spent"]["calls"] <= 30
    assert state["ledger"]["spent"]["calls"] >= 25, "the loop should spend (almost) all of the budget"
    # every accepted sample is valid and carries provenance
    assert state["dataset"], "nothing distilled"
    for a in state["dataset"]:
        assert a.target in {"sport", "business", "tech"} and a.teacher_model == "stub" and a.prompt_hash
    sources = {a.source for a in state["dataset"]}
    assert "bootstrap" in sources and ("pool" in sources or "synthetic" in sources)
    # run directory contents
    for name in ("config.resolved.yaml", "checkpoints.sqlite", "llm_cache.sqlite", "trace.jsonl", "metrics.jsonl"):
        assert (run_dir / name).exists(), name
    assert (run_dir / "adapters" / "round-0").is_dir()
    assert (run_dir / "report" / "learning_curve.png").stat().st_size > 1000
    rounds = [json.loads(line)["round"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rounds == list(range(len(rounds)))
    # no secret in anything the run wrote
    # (Chroma's HNSW segment files dump uninitialised process memory, which may hold any string the process holds:
    # they are not something distillgraph writes, so they are left out; everything distillgraph writes is checked.)
    for p in run_dir.rglob("*"):
        if p.is_file() and not (p.suffix == ".bin" and "chroma" in p.parts):
            assert ENV["DG_TEST_KEY"].encode() not in p.read_bytes(), p


def test_second_identical_run_with_shared_cache_pays_nothing(stub, make_config, tmp_path):
    cache = str(tmp_path / "shared_cache.sqlite")
    path = make_config(stub.base_url, teacher__cache_path=cache)
    _, _, first = run(path)
    paid = stub.chat_requests
    _, _, second = run(path)
    assert stub.chat_requests == paid, "a re-run paid again"
    assert dataset_of(first) == dataset_of(second)


def test_store_with_or_without_documents_sends_the_same_prompts(stub, make_config, tmp_path):
    """By default Chroma holds no texts and the demonstrations' texts come from the run's data; with
    store.documents=true they come from Chroma. The prompts (cache keys cover every message) are the same,
    so the second run on the shared cache pays nothing."""
    cache = str(tmp_path / "shared_cache.sqlite")
    path = make_config(stub.base_url, teacher__cache_path=cache)
    _, _, first = run(path)
    paid = stub.chat_requests
    _, _, second = run(path, ["store.documents=true"])
    assert stub.chat_requests == paid, "the prompts differ with and without documents in Chroma"
    assert dataset_of(first) == dataset_of(second)


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("node", ["annotator", "trainer", "generator"])
def test_crash_then_resume_gives_the_same_dataset_and_pays_nothing_twice(stub, make_config, monkeypatch, node):
    path = make_config(stub.base_url)
    _, _, reference = run(path)
    reference_counts = dict(stub.key_counts)
    stub.key_counts.clear()
    import distillgraph.graph.nodes as nodes_mod

    real = nodes_mod.make_nodes
    calls = {"n": 0}

    def crashing_make_nodes(deps):
        fns = real(deps)
        inner = fns[node]

        def wrapped(state):
            calls["n"] += 1
            if calls["n"] == 2:  # the second time this node runs, die in the middle of it
                raise Boom("injected crash")
            return inner(state)

        fns[node] = wrapped
        return fns

    monkeypatch.setattr("distillgraph.graph.build.make_nodes", crashing_make_nodes)
    with pytest.raises(Boom):
        run(path)
    monkeypatch.setattr("distillgraph.graph.build.make_nodes", real)
    cfg = load_config(path)
    run_dir = sorted(Path(cfg.run.dir).iterdir())[-1]
    _, _, resumed = run(path, resume_dir=run_dir)
    assert dataset_of(resumed) == dataset_of(reference)
    # identical requests can be legitimate (asking twice for new samples); what matters is that the
    # crashed + resumed run asked each one exactly as often as the uninterrupted run did
    assert dict(stub.key_counts) == reference_counts, "a request was paid twice"
    assert resumed["ledger"]["spent"]["calls"] == reference["ledger"]["spent"]["calls"]


def test_prompt_override_changes_what_the_teacher_receives(stub, make_config, tmp_path):
    from distillgraph.prompts import PromptLibrary

    folder = tmp_path / "my_prompts"
    folder.mkdir()
    text = PromptLibrary().path_of("annotator").read_text()
    (folder / "annotator.yaml").write_text(text.replace("You are an expert annotator", "MARKER-7 You are an annotator"))
    run(make_config(stub.base_url, prompts__dir=str(folder), budget__max_calls=10))
    systems = [m["content"] for b in stub.bodies for m in b["messages"] if m["role"] == "system"]
    assert any("MARKER-7" in s for s in systems)
    assert not any("You are an expert annotator" in s for s in systems)


def test_final_state_reads_without_models(stub, make_config):
    _, run_dir, state = run(make_config(stub.base_url, budget__max_calls=10))
    assert final_state(run_dir)["step"] == state["step"]


# ---------------------------------------------------------------- routing (pure)


def test_plateau():
    assert not plateaued([0.5, 0.6], 2, 0.0)
    assert plateaued([0.5, 0.7, 0.6, 0.65], 2, 0.0)
    assert not plateaued([0.5, 0.7, 0.6, 0.71], 2, 0.0)


def test_route_after_trainer(make_config, stub):
    from distillgraph.agents.records import RoundMetrics

    cfg = load_config(make_config(stub.base_url))
    m = lambda r, v: RoundMetrics(round=r, train_size=1, train_by_source={}, dev={"macro_f1": v})  # noqa: E731
    base = {"ledger": {"exhausted": False}, "round": 1, "history": [m(0, 0.3), m(1, 0.5)]}
    assert route_after_trainer(base, cfg.loop, "macro_f1") == "analyst"
    assert route_after_trainer({**base, "ledger": {"exhausted": True}}, cfg.loop, "macro_f1") == "report"
    assert stop_reason({**base, "round": 3}, cfg.loop, "macro_f1").startswith("reached loop.max_rounds")


def test_langgraph_json_points_at_a_graph_factory():
    import importlib.util

    root = Path(__file__).resolve().parents[2]
    spec = json.loads((root / "langgraph.json").read_text())
    path, attr = spec["graphs"]["distillgraph"].split(":")
    mod_spec = importlib.util.spec_from_file_location("studio_entry", root / path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    assert callable(getattr(mod, attr))
    assert (root / spec["env"]["DISTILLGRAPH_CONFIG"]).exists()
