"""Tiny random-weight models built from config, with the packaged MiniLM tokenizer (no download)."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    LlamaConfig,
    LlamaForCausalLM,
)

from distillgraph.prompts import PromptLibrary
from distillgraph.store.assets import minilm_path
from distillgraph.store.schema import TaskConfig
from distillgraph.trainer.config import StudentConfig

LABELS = {"sport": "games and players", "business": "companies and markets", "tech": "computers and phones"}
# a minimal chat template: the packaged MiniLM tokenizer has none, and [SEP] serves as end of turn
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} [SEP] {% endfor %}"
    "{% if add_generation_prompt %}assistant : {% endif %}"
)
TEXTS = {
    "sport": [
        "the team won the football match",
        "a great goal in the final game",
        "the players train for the cup",
    ],
    "business": [
        "the company shares fell on the market",
        "profits rose at the bank",
        "the firm bought a rival",
    ],
    "tech": [
        "a new phone with a faster chip",
        "the software update fixes bugs",
        "computers run the new program",
    ],
}


@pytest.fixture(scope="session")
def bert_tokenizer():
    return AutoTokenizer.from_pretrained(minilm_path())


@pytest.fixture(scope="session")
def chat_tokenizer():
    tok = AutoTokenizer.from_pretrained(minilm_path())
    tok.chat_template = CHAT_TEMPLATE
    tok.eos_token = "[SEP]"
    return tok


@pytest.fixture
def task() -> TaskConfig:
    return TaskConfig(type="classification", instruction="Classify the text by topic.", labels=LABELS)


@pytest.fixture
def gen_task() -> TaskConfig:
    return TaskConfig(type="generation", instruction="Write a headline for the text.")


@pytest.fixture(scope="session")
def student_prompt():
    return PromptLibrary().get("student")


def tiny_bert(vocab_size: int, num_labels: int = 3) -> BertForSequenceClassification:
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=num_labels,
    )
    return BertForSequenceClassification(cfg)


def tiny_llama(vocab_size: int, pad_id: int) -> LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=pad_id,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(cfg)


def small_cfg(**kw) -> StudentConfig:
    base = dict(
        per_device_train_batch_size=4,
        num_train_epochs=2,
        max_length=64,
        eval_batch_size=4,
        device="cpu",
        bf16="off",
        learning_rate=1e-2,
        min_train_steps=0,  # the tiny tests count their updates (the classifier's default asks for >= 100)
    )
    base.update(kw)
    return StudentConfig(**base)


def items_for(texts: dict[str, list[str]]):
    from distillgraph.trainer.student import TrainItem

    out = []
    for label, group in texts.items():
        for i, text in enumerate(group):
            out.append(TrainItem(id=f"{label}-{i}", text=text, target=label, cluster=i % 2))
    return out
