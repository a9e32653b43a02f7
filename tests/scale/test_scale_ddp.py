"""Multi-process training through `accelerate launch`: real 2-process DDP on CPU (gloo) on a tiny model.

Dropout is off in the tiny model and the adapter, so both runs see identical arithmetic up to the
order of the gradient all-reduce: the DDP adapter must match the single-process one closely.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertForSequenceClassification

from distillgraph.store.schema import UserError
from distillgraph.trainer.launch import LOG_FILE, command
from distillgraph.trainer.student import build_student
from tests.trainer.conftest import TEXTS, items_for, small_cfg


def no_dropout_bert(vocab_size: int) -> BertForSequenceClassification:
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128, num_labels=3,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertForSequenceClassification(cfg)


def adapter(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "adapter_model.safetensors"))


def test_two_process_ddp_matches_single_process(tmp_path, task, bert_tokenizer):
    # 9 examples in batches of 4: the last batch (1 example) leaves one process an empty share
    kw = dict(lora_dropout=0.0, num_train_epochs=2, per_device_train_batch_size=4, seed=3)
    items = items_for(TEXTS)
    single = build_student(small_cfg(**kw), task, model=no_dropout_bert(bert_tokenizer.vocab_size),
                           tokenizer=bert_tokenizer, progress=False)
    s_stats = single.fit(items, tmp_path / "single", round=0)
    ddp = build_student(small_cfg(num_processes=2, **kw), task, model=no_dropout_bert(bert_tokenizer.vocab_size),
                        tokenizer=bert_tokenizer, progress=False)
    d_stats = ddp.fit(items, tmp_path / "ddp", round=0)

    assert d_stats["num_processes"] == 2 and d_stats["steps"] == s_stats["steps"]
    assert (tmp_path / "ddp" / LOG_FILE).exists()
    a, b = adapter(tmp_path / "single"), adapter(tmp_path / "ddp")
    assert a.keys() == b.keys() and a
    moved = max((a[k] - 0).abs().max().item() for k in a)
    assert moved > 1e-3
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-4, rtol=1e-3), key
    assert abs(d_stats["final_loss"] - s_stats["final_loss"]) < 1e-3
    # the parent holds the DDP adapter: same predictions as the single-process student
    texts = [it.text for it in items]
    assert torch.allclose(torch.tensor(single.probabilities(texts)), torch.tensor(ddp.probabilities(texts)), atol=1e-4)
    meta = json.loads((tmp_path / "ddp" / "student.json").read_text())
    assert meta["config"]["num_processes"] == 2


def test_launch_failure_is_one_line(tmp_path, task, bert_tokenizer, monkeypatch):
    missing = build_student(small_cfg(num_processes=2, accelerate_config=str(tmp_path / "nope.yaml")), task,
                            model=no_dropout_bert(bert_tokenizer.vocab_size), tokenizer=bert_tokenizer,
                            progress=False)
    with pytest.raises(UserError, match=r"student.accelerate_config: .*nope.yaml not found"):
        missing.fit(items_for(TEXTS), tmp_path / "round-0", round=0)
    # a child that dies: the error names the exception line and the log, on one line
    student = build_student(small_cfg(num_processes=2), task, model=no_dropout_bert(bert_tokenizer.vocab_size),
                            tokenizer=bert_tokenizer, progress=False)
    crash = tmp_path / "crash.py"
    crash.write_text("import sys\nprint('step 1')\nraise RuntimeError('gloo: connection reset')\n")
    monkeypatch.setattr("distillgraph.trainer.launch.command", lambda cfg, job, cpu, python: [python, str(crash)])
    with pytest.raises(UserError) as err:
        student.fit(items_for(TEXTS), tmp_path / "round-1", round=1)
    msg = str(err.value)
    assert "\n" not in msg and "accelerate launch (2 processes) failed (exit 1)" in msg
    assert "RuntimeError: gloo: connection reset" in msg and str(tmp_path / "round-1" / LOG_FILE) in msg


def test_launch_command(tmp_path):
    cpu = command(small_cfg(num_processes=2), tmp_path, cpu=True, python="py")
    assert cpu[:3] == ["py", "-m", "accelerate.commands.launch"] and "--multi_gpu" in cpu  # torchrun, gloo
    assert "--cpu" in command(small_cfg(launcher="accelerate"), tmp_path, cpu=True, python="py")
    assert cpu[cpu.index("--num_processes") + 1] == "2" and cpu[-2:] == ["distillgraph.trainer.launch", str(tmp_path)]
    gpu = command(small_cfg(num_processes=4), tmp_path, cpu=False, python="py")
    assert "--multi_gpu" in gpu and "--cpu" not in gpu
    fsdp = command(small_cfg(num_processes=8, accelerate_config="fsdp.yaml"), tmp_path, cpu=False, python="py")
    assert fsdp[fsdp.index("--config_file") + 1] == "fsdp.yaml" and "--multi_gpu" not in fsdp
