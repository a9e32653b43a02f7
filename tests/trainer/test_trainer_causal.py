"""Causal-LM student on a tiny random Llama with the MiniLM word-piece tokenizer and a toy chat template."""

import math

import numpy as np
import pytest
import torch

from distillgraph.store.schema import TaskConfig, UserError
from distillgraph.trainer.causal import IGNORE
from distillgraph.trainer.student import TrainItem, build_student
from tests.trainer.conftest import TEXTS, items_for, small_cfg, tiny_llama


def make(task, tokenizer, prompt, **kw):
    cfg = small_cfg(kind="causal-lm", max_new_tokens=4, **kw)
    model = tiny_llama(tokenizer.vocab_size, tokenizer.pad_token_id)
    return build_student(cfg, task, prompt=prompt, model=model, tokenizer=tokenizer, progress=False)


def test_loss_is_masked_to_the_response(task, chat_tokenizer, student_prompt):
    student = make(task, chat_tokenizer, student_prompt)
    row = student._encode_train([TrainItem(id="1", text="the team won the match", target="sport")])[0]
    prompt_len = sum(1 for x in row["labels"] if x == IGNORE)
    assert row["labels"][:prompt_len] == [IGNORE] * prompt_len
    assert row["labels"][prompt_len:] == row["input_ids"][prompt_len:]
    assert chat_tokenizer.decode(row["labels"][prompt_len:]) == "sport [SEP]"
    assert "the team won the match" in chat_tokenizer.decode(row["input_ids"][:prompt_len])


def test_rationale_goes_before_the_answer_line(chat_tokenizer, student_prompt):
    task = TaskConfig(labels={"sport": "", "tech": ""}, rationale=True)
    student = make(task, chat_tokenizer, student_prompt)
    item = TrainItem(id="1", text="a goal", target="sport", rationale="It is about a goal.")
    row = student._encode_train([item])[0]
    answer = [x for x in row["labels"] if x != IGNORE]
    assert chat_tokenizer.decode(answer) == "it is about a goal. answer : sport [SEP]"


def test_long_text_is_cut_to_max_length(task, chat_tokenizer, student_prompt):
    student = make(task, chat_tokenizer, student_prompt)
    row = student._encode_train([TrainItem(id="1", text="word " * 500, target="tech")])[0]
    assert len(row["input_ids"]) <= 64
    assert chat_tokenizer.decode([x for x in row["labels"] if x != IGNORE]) == "tech [SEP]"


def test_lora_step_changes_adapter_not_base_and_save_load_roundtrip(
    task, chat_tokenizer, student_prompt, tmp_path
):
    student = make(task, chat_tokenizer, student_prompt)
    base_before = {k: v.clone() for k, v in student.base.state_dict().items()}
    stats = student.fit(items_for(TEXTS), tmp_path / "round-1", round=1)
    lora = {k: v for k, v in student.model.named_parameters() if "lora_B" in k}
    assert lora and all(v.abs().sum() > 0 for v in lora.values())  # lora_B starts at zero
    assert stats["steps"] == 6 and math.isfinite(stats["final_loss"])
    texts = [it.text for it in items_for(TEXTS)]
    answers, entropies = student.generate(texts)
    other = make(task, chat_tokenizer, student_prompt)
    other.load(tmp_path / "round-1")
    assert other.generate(texts)[0] == answers
    np.testing.assert_allclose(other.generate(texts)[1], entropies, rtol=1e-5)
    student._reset()
    assert all(torch.equal(v, base_before[k]) for k, v in student.base.state_dict().items())


def test_predictions_are_parsed_to_labels(task, chat_tokenizer, student_prompt, monkeypatch):
    student = make(task, chat_tokenizer, student_prompt)
    answers = ["It mentions a goal.\nAnswer: sport", "tech", "no idea"]
    monkeypatch.setattr(student, "generate", lambda texts: (answers, np.zeros(len(texts))))
    preds = student.predict(["a", "b", "c"], ["x", "y", "z"])
    assert [p.prediction for p in preds] == ["sport", "tech", None]
    assert [p.raw for p in preds] == answers and [p.id for p in preds] == ["a", "b", "c"]


def test_uniform_model_hand_checked_entropy_and_ifd(task, chat_tokenizer, student_prompt):
    """With an all-zero output layer every next-token distribution is uniform over the vocabulary:
    token entropy = log V exactly, and PPL(answer | prompt) = PPL(answer) = V, so IFD = 1."""
    student = make(task, chat_tokenizer, student_prompt)
    with torch.no_grad():
        student.base.lm_head.weight.zero_()
    texts = ["the team won", "shares fell on the market today"]
    v = chat_tokenizer.vocab_size
    np.testing.assert_allclose(student.score(texts, "output_entropy"), [math.log(v)] * 2, rtol=1e-5)
    np.testing.assert_allclose(
        student.score(texts, "ifd", targets=["sport", "business"]), [1.0, 1.0], rtol=1e-5
    )
    # its own greedy answer is token 0 ([PAD], special) repeated: empty once decoded, so IFD is 0 by definition
    np.testing.assert_allclose(student.score(texts, "ifd"), [0.0, 0.0])


def test_ifd_matches_a_direct_computation(task, chat_tokenizer, student_prompt):
    student = make(task, chat_tokenizer, student_prompt)
    text, target = "the team won the cup", "sport"
    answer = chat_tokenizer(target, add_special_tokens=False)["input_ids"]
    prompt = student.prompt_ids(text, 64)

    def mean_nll(context, ans):
        ids = torch.tensor([context + ans])
        with torch.no_grad():
            logp = torch.log_softmax(student.model(input_ids=ids).logits[0, :-1].float(), -1)
        targets = ids[0, 1:]
        picked = logp[torch.arange(len(targets)), targets][len(context) - 1 :]
        return -picked.mean().item()

    expected = math.exp(mean_nll(prompt, answer) - mean_nll([chat_tokenizer.eos_token_id], answer))
    assert student.score([text], "ifd", targets=[target])[0] == pytest.approx(expected, rel=1e-4)


def test_generation_task_predicts_text(gen_task, chat_tokenizer, student_prompt, tmp_path):
    student = make(gen_task, chat_tokenizer, student_prompt)
    row = student._encode_train([TrainItem(id="1", text="the long article", target="short headline")])[0]
    assert chat_tokenizer.decode([x for x in row["labels"] if x != IGNORE]) == "short headline [SEP]"
    preds = student.predict(["1"], ["the long article"])
    assert preds[0].prediction == preds[0].raw and preds[0].probs is None


def test_user_errors(task, chat_tokenizer, bert_tokenizer, student_prompt):
    with pytest.raises(UserError, match="chat template"):
        make(task, bert_tokenizer, student_prompt)
    with pytest.raises(UserError, match="cannot score by 'margin'"):
        make(task, chat_tokenizer, student_prompt).score(["x"], "margin")
