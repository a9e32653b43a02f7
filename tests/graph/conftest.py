"""End-to-end graph fixtures: tiny models saved to disk (random weights, built from config), a small
labelled dataset, a loopback stub teacher that answers like a sensible teacher, and a config writer.

The configs point at the tiny models by path, so runs go through the same loading code as a user's.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertModel

from distillgraph.store.assets import minilm_path
from tests.stub_server import StubServer, chosen_tool, example_from_schema, request_schema

LABELS = {"sport": "games and players", "business": "companies and markets", "tech": "computers and phones"}
WORDS = {
    "sport": ["football", "match", "goal", "players", "cup", "team", "coach", "league", "tennis", "race"],
    "business": ["shares", "profits", "bank", "market", "company", "firm", "sales", "economy", "trade", "prices"],
    "tech": ["phone", "software", "chip", "computer", "internet", "app", "robot", "laptop", "data", "network"],
}


def _texts(label: str, n: int, offset: int) -> list[str]:
    w = WORDS[label]
    return [f"{w[(i + offset) % 10]} {w[(3 * i + 1 + offset) % 10]} news number {i + offset} about {w[(7 * i + 2) % 10]}"
            for i in range(n)]


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """A tiny BERT classifier and a tiny sentence-transformer, saved like real checkpoints."""
    from sentence_transformers import SentenceTransformer, models

    root = tmp_path_factory.mktemp("tiny")
    tok = AutoTokenizer.from_pretrained(minilm_path())
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128, num_labels=3)
    clf = root / "clf"
    BertForSequenceClassification(cfg).save_pretrained(clf)
    tok.save_pretrained(clf)
    enc = root / "enc-base"
    BertModel(cfg).save_pretrained(enc)
    tok.save_pretrained(enc)
    word = models.Transformer(str(enc), max_seq_length=64)
    st = SentenceTransformer(modules=[word, models.Pooling(word.get_word_embedding_dimension(), "mean")])
    emb = root / "emb"
    st.save(str(emb))
    return {"classifier": clf, "embedder": emb}


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    pool, dev, test = [], [], []
    sizes = {"sport": 24, "business": 12, "tech": 6}  # long tail
    for label, n in sizes.items():
        pool += [{"text": t} for t in _texts(label, n, 0)]
        dev += [{"text": t, "label": label} for t in _texts(label, 4, 100)]
        test += [{"text": t, "label": label} for t in _texts(label, 4, 200)]
    out = {}
    for name, rows in (("pool", pool), ("dev", dev), ("test", test)):
        p = root / f"{name}.jsonl"
        p.write_text("".join(json.dumps(r) + "\n" for r in rows))
        out[name] = p
    return out


def _last_data_block(body: dict[str, Any]) -> str:
    text = "\n".join(str(m.get("content") or "") for m in body.get("messages", []) if m.get("role") == "user")
    blocks = re.findall(r"<<<DATA\n(.*?)\nDATA>>>", text, flags=re.S)
    return blocks[-1] if blocks else text


def teacher_responder(body: dict[str, Any]) -> dict[str, Any]:
    """Answers like a sensible teacher, deterministically from the request content."""
    tool = chosen_tool(body)
    name = tool["function"]["name"] if tool else ""
    digest = hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode()).hexdigest()
    if name == "LabelAnswer":
        text = _last_data_block(body).lower()
        scores = {lb: sum(text.count(w) for w in ws) for lb, ws in WORDS.items()}
        label = max(scores, key=lambda lb: (scores[lb], lb))
        return {"rationale": f"mentions {label} words", "label": label, "confidence": 0.9}
    if name == "SynthBatch":
        user = body["messages"][-1]["content"]
        n = int(re.search(r"Write (\d+) hard", user).group(1)) + int(re.search(r"and (\d+) easy", user).group(1))
        label = next((lb for lb in WORDS if lb in user.split("Inputs the student got wrong")[-1]), "tech")
        return {"samples": [{"text": f"{WORDS[label][i % 10]} {WORDS[label][(i + 5) % 10]} synthetic {digest[:8]} {i}",
                             "difficulty": "hard" if i else "easy"} for i in range(n)]}
    if name == "WeaknessReport":
        return {"analysis": "the student confuses tail topics", "weaknesses": [
            {"description": "confuses tech with business", "labels": ["tech"], "clusters": [0], "example_ids": [],
             "suggestion": "more tech articles"}]}
    schema = request_schema(body)
    return example_from_schema(schema) if schema else {}


@pytest.fixture
def stub():
    with StubServer(responder=teacher_responder, seed=0) as srv:
        yield srv


@pytest.fixture
def make_config(tmp_path, tiny_models, dataset):
    """Write a config for a run against the stub teacher with the tiny models; returns its path."""

    def make(base_url: str, name: str = "e2e", **over: Any) -> Path:
        cfg: dict[str, Any] = {
            "task": {"type": "classification", "name": name, "instruction": "Classify the topic.", "labels": LABELS},
            "data": {"pool": str(dataset["pool"]), "dev": str(dataset["dev"]), "test": str(dataset["test"])},
            "teacher": {"provider": "openai", "model": "stub", "base_url": base_url, "api_key_env": "DG_TEST_KEY",
                        "max_concurrency": 4, "demonstrations": 2, "max_retries": 2, "timeout": 5},
            "student": {"kind": "classifier", "base_model": str(tiny_models["classifier"]), "num_train_epochs": 2,
                        "learning_rate": 5e-3, "per_device_train_batch_size": 8, "max_length": 32,
                        "target_modules": ["query", "value"], "bf16": "off",
                        "min_train_steps": 0},
            "store": {"embedding_model": str(tiny_models["embedder"]), "embedding_dtype": "float32", "n_clusters": 3},
            "loop": {"rounds": 2, "max_rounds": 3, "patience": 5, "bootstrap_per_cluster": 2},
            "budget": {"max_calls": 30},
            "run": {"dir": str(tmp_path / "runs"), "seed": 0},
        }
        for key, value in over.items():
            section, field = key.split("__")
            cfg.setdefault(section, {})[field] = value
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        return path

    return make
