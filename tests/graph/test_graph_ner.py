"""NER through the graph: the stub teacher lists entities (one not in the text, rejected and traced), writes
sentences for the weak types, and the token-probe student (tiny BERT from config) is evaluated per type."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from distillgraph.graph.config import load_config
from distillgraph.graph.runner import execute, new_run_dir
from tests.graph.conftest import _last_data_block
from tests.stub_server import StubServer, chosen_tool

TYPES = {"person": "a person's name", "geo-loc": "a place"}
PEOPLE = ["Anna", "Paul", "Maria", "John", "Lena", "Omar"]
PLACES = ["Paris", "Rome", "Berlin", "Madrid", "Vienna", "Oslo"]
FRAMES = ["{p} flew to {c} today", "I saw {p} in {c}", "{c} was sunny , said {p}", "{p} loves {c} a lot"]


def _sentence(rng: random.Random) -> tuple[list[str], list[str]]:
    p, c, frame = rng.choice(PEOPLE), rng.choice(PLACES), rng.choice(FRAMES)
    tokens = frame.format(p=p, c=c).split(" ")
    tags = ["B-person" if t == p else "B-geo-loc" if t == c else "O" for t in tokens]
    return tokens, tags


@pytest.fixture(scope="module")
def ner_data(tmp_path_factory) -> dict[str, Path]:
    root, rng = tmp_path_factory.mktemp("ner"), random.Random(0)
    out, seen = {}, set()
    for split, n in (("pool", 60), ("dev", 16), ("test", 16)):
        rows = []
        while len(rows) < n:
            tokens, tags = _sentence(rng)
            if " ".join(tokens) in seen:  # ids are content hashes: one sentence once
                continue
            seen.add(" ".join(tokens))
            rows.append({"tokens": tokens} if split == "pool" else {"tokens": tokens, "tags": tags})
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        out[split] = root / f"{split}.jsonl"
    return out


def ner_responder(body: dict[str, Any]) -> dict[str, Any]:
    """Entities by word list (plus one invented entity), new sentences for synthesis, a weakness report."""
    tool = chosen_tool(body)
    name = tool["function"]["name"] if tool else ""
    if name == "EntitiesAnswer":
        words = _last_data_block(body).split(" ")
        ents = [{"text": w, "type": "person"} for w in words if w in PEOPLE]
        ents += [{"text": w, "type": "geo-loc"} for w in words if w in PLACES]
        return {"rationale": "names and places", "entities": [*ents, {"text": "Atlantis", "type": "geo-loc"}],
                "confidence": 0.9}
    if name == "SynthBatch":
        user = body["messages"][-1]["content"]
        n = int(re.search(r"Write (\d+) hard", user).group(1)) + int(re.search(r"and (\d+) easy", user).group(1))
        return {"samples": [{"text": f"{PEOPLE[i % 6]} moved to {PLACES[(i + 2) % 6]}, right?",
                             "difficulty": "hard" if i else "easy"} for i in range(n)]}
    if name == "WeaknessReport":
        return {"analysis": "misses places", "weaknesses": [
            {"description": "misses geo-loc after 'in'", "labels": ["geo-loc"], "clusters": [0], "example_ids": [],
             "suggestion": "sentences with places"}]}
    return {}


def test_ner_run_end_to_end(tmp_path, tiny_models, ner_data):
    cfg: dict[str, Any] = {
        "task": {"type": "ner", "name": "ner", "instruction": "Find the entities.", "labels": TYPES},
        "data": {s: str(p) for s, p in ner_data.items()},
        "student": {"kind": "token-probe", "base_model": str(tiny_models["embedder"].parent / "enc-base")},
        "store": {"embedding_model": str(tiny_models["embedder"]), "embedding_dtype": "float32", "n_clusters": 2},
        # the tiny embedder puts every sentence within 0.05 of another: keep the teacher's sentences
        "loop": {"rounds": 2, "max_rounds": 2, "patience": 5, "bootstrap_per_cluster": 3, "synthesis": "only",
                 "policy": "error_boost", "near_duplicate": 0.0},
        "budget": {"max_calls": 20},
        "run": {"dir": str(tmp_path / "runs"), "seed": 0},
    }
    with StubServer(responder=ner_responder) as srv:
        cfg["teacher"] = {"provider": "openai", "model": "stub", "base_url": srv.base_url,
                          "api_key_env": "DG_TEST_KEY", "demonstrations": 1, "max_retries": 1, "timeout": 5}
        (tmp_path / "ner.yaml").write_text(yaml.safe_dump(cfg))
        config = load_config(tmp_path / "ner.yaml")
        run_dir = new_run_dir(config)
        state = execute(config, run_dir, env={"DG_TEST_KEY": "k"}, console=Console(quiet=True), progress=False)
    hist = state["history"]
    assert len(hist) >= 2
    for m in hist:  # entity-level metrics per round, worst type and worst cluster
        assert {"entity_f1", "macro_f1", "worst_type_f1", "token_accuracy", "worst_cluster"} <= set(m.dev)
        assert 0.0 <= m.dev["entity_f1"] <= 1.0 and m.test
    # the stub teacher is right on this easy data (test: the run synthesises, so dev is measured on the half of
    # the few dev sentences the writer is never shown)
    assert hist[-1].test["entity_f1"] > 0.5
    # the teacher's entities became IOB2 tags aligned to the tokens; the invented one was rejected and traced
    anns = state["dataset"]
    assert anns and all(len(a.target.split(" ")) == len((a.text or "").split(" ")) or a.text is None for a in anns)
    trace = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    dropped = [d for t in trace for d in t["decisions"] if d["what"] == "entity_rejected"]
    assert dropped and all(d["text"] == "Atlantis" and d["reason"] == "not in the text" for d in dropped)
    # synthesis ran: teacher-written sentences, stored tokenized like the data, labelled by a separate call
    synthetic = [a for a in anns if a.source == "synthetic"]
    assert synthetic, "the plan asked for synthesis only, yet no synthetic sentence was labelled"
    for a in synthetic:
        assert a.text and a.text.endswith(" , right ?"), a.text
        tags = a.target.split(" ")
        assert len(tags) == len(a.text.split(" ")) and tags[0] == "B-person" and "B-geo-loc" in tags


def test_ner_run_shows_the_teacher_only_gold_seed_demonstrations_when_asked(tmp_path, tiny_models, ner_data):
    """teacher.demonstrations_from: gold: every annotator prompt's examples are seed sentences (gold), never a
    sentence the teacher labelled earlier in the run."""
    taken = {" ".join(json.loads(x)["tokens"]) for p in ner_data.values() for x in p.read_text().splitlines()}
    rng, seeds = random.Random(7), {}
    while len(seeds) < 4:
        tokens, tags = _sentence(rng)
        if " ".join(tokens) not in taken:
            seeds[" ".join(tokens)] = {"tokens": tokens, "tags": tags}
    (tmp_path / "seed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in seeds.values()))
    bodies: list[dict[str, Any]] = []

    def recording(body: dict[str, Any]) -> dict[str, Any]:
        bodies.append(body)
        return ner_responder(body)

    cfg: dict[str, Any] = {
        "task": {"type": "ner", "name": "ner", "instruction": "Find the entities.", "labels": TYPES},
        "data": {**{s: str(p) for s, p in ner_data.items()}, "seed": str(tmp_path / "seed.jsonl")},
        "student": {"kind": "token-probe", "base_model": str(tiny_models["embedder"].parent / "enc-base")},
        "store": {"embedding_model": str(tiny_models["embedder"]), "embedding_dtype": "float32", "n_clusters": 2},
        "loop": {"rounds": 2, "max_rounds": 2, "patience": 5, "synthesis": "off", "policy": "random"},
        "budget": {"max_calls": 12},
        "run": {"dir": str(tmp_path / "runs"), "seed": 0},
    }
    with StubServer(responder=recording) as srv:
        cfg["teacher"] = {"provider": "openai", "model": "stub", "base_url": srv.base_url, "api_key_env": "DG_TEST_KEY",
                          "demonstrations": 2, "demonstrations_from": "gold", "max_retries": 1, "timeout": 5}
        (tmp_path / "ner.yaml").write_text(yaml.safe_dump(cfg))
        config = load_config(tmp_path / "ner.yaml")
        state = execute(config, new_run_dir(config), env={"DG_TEST_KEY": "k"}, console=Console(quiet=True),
                        progress=False)
    assert len([a for a in state["dataset"] if a.source == "pool"]) >= 6  # labelled before the later rounds' prompts
    shown = []
    for body in bodies:
        tool, user = chosen_tool(body), body["messages"][-1]["content"]
        if tool and tool["function"]["name"] == "EntitiesAnswer" and "Labelled examples" in user:
            shown += [b.split("DATA>>>")[0].strip() for b in user.split("<<<DATA")[1:-1]]  # the last: the sentence
    assert shown, "no annotator prompt showed a demonstration"
    assert set(shown) <= set(seeds)
