"""The ner students (token-classifier, token-probe) on tiny random BERTs, their pure helpers, and ner_metrics."""

import json

import numpy as np
import pytest
import torch
from seqeval.metrics import f1_score
from seqeval.scheme import IOB2
from transformers import BertConfig, BertForTokenClassification, BertModel

from distillgraph.store.ner import repair, spans, tag_names
from distillgraph.store.schema import TaskConfig, UserError
from distillgraph.trainer.config import StudentConfig
from distillgraph.trainer.evaluate_ner import ner_metrics
from distillgraph.trainer.loop import weighted_loss
from distillgraph.trainer.student import TrainItem, build_student
from distillgraph.trainer.token import (
    TokenClassifierStudent,
    entity_uncertainty,
    first_pieces,
    piece_labels,
    predicted_tags,
    token_margin_mean,
    token_margin_min,
    word_rows,
)
from distillgraph.trainer.token_probe import TokenProbeStudent, with_context
from tests.trainer.conftest import small_cfg

TYPES = {"geo-loc": "places", "person": "people"}
TAGS = ["O", "B-geo-loc", "I-geo-loc", "B-person", "I-person"]
SENTENCES = [
    ("I live in Paris", "O O O B-geo-loc"),
    ("John Smith visited Berlin", "B-person I-person O B-geo-loc"),
    ("the weather is nice today", "O O O O O"),
    ("@paulwalk flew to New York", "B-person O O B-geo-loc I-geo-loc"),
]


@pytest.fixture
def ner_task() -> TaskConfig:
    return TaskConfig(type="ner", instruction="Tag the entities.", labels=TYPES)


def bert_config(vocab_size: int) -> BertConfig:
    return BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=128, num_labels=len(TAGS))


def classifier(task, tokenizer, **cfg):
    torch.manual_seed(0)
    model = BertForTokenClassification(bert_config(tokenizer.vocab_size))
    return build_student(small_cfg(kind="token-classifier", **cfg), task, model=model, tokenizer=tokenizer,
                         progress=False)


def probe(task, tokenizer, **cfg):
    torch.manual_seed(0)
    model = BertModel(bert_config(tokenizer.vocab_size))
    return build_student(small_cfg(kind="token-probe", **cfg), task, model=model, tokenizer=tokenizer, progress=False)


def items(pairs=SENTENCES):
    return [TrainItem(id=f"s{i}", text=text, target=tags) for i, (text, tags) in enumerate(pairs)]


# ---------------------------------------------------------------- pure helpers


def test_tag_names_and_iob2_repair():
    assert tag_names(TYPES) == TAGS
    assert repair(["I-person", "I-person", "O", "I-geo-loc", "B-person", "I-geo-loc"]) == [
        "B-person", "I-person", "O", "B-geo-loc", "B-person", "B-geo-loc"]
    assert repair(["B-geo-loc", "I-geo-loc", "I-geo-loc"]) == ["B-geo-loc", "I-geo-loc", "I-geo-loc"]
    assert spans(["B-geo-loc", "I-geo-loc", "O", "B-person", "B-person"]) == [
        (0, 2, "geo-loc"), (3, 4, "person"), (4, 5, "person")]


def test_word_pieces_alignment(ner_task, bert_tokenizer):
    student = classifier(ner_task, bert_tokenizer)
    row = student._encode_train([TrainItem(id="a", text="@paulwalk visited Kraków", target="B-person O B-geo-loc")])[0]
    pieces = bert_tokenizer.convert_ids_to_tokens(row["input_ids"])
    assert pieces == ["[CLS]", "@", "paul", "##walk", "visited", "krakow", "[SEP]"]
    assert row["labels"] == [-100, 3, -100, -100, 0, 1, -100]  # one label per word, on its first piece
    assert first_pieces([None, 0, 0, 2, None], 4) == [1, -1, 3, -1]  # word 1 has no piece, word 3 was cut off
    assert piece_labels(5, [1, -1, 3, -1], [3, 0, 1, 0]) == [-100, 3, -100, 1, -100]
    rows = word_rows(np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]), [1, -1, 3], 2)
    np.testing.assert_allclose(rows, [[0.8, 0.2], [1.0, 0.0], [0.6, 0.4]])


def test_score_functions_order_sentences():
    sure = np.array([[0.98, 0.01, 0.01], [0.97, 0.02, 0.01]])
    one_doubt = np.array([[0.98, 0.01, 0.01], [0.5, 0.45, 0.05]])
    all_doubt = np.array([[0.5, 0.45, 0.05], [0.5, 0.45, 0.05]])
    assert token_margin_mean(sure) < token_margin_mean(one_doubt) < token_margin_mean(all_doubt)
    assert token_margin_mean(one_doubt) == pytest.approx(1 - (0.97 + 0.05) / 2)
    assert token_margin_min(sure) < token_margin_min(one_doubt) == pytest.approx(token_margin_min(all_doubt))
    assert token_margin_min(one_doubt) == pytest.approx(0.95)
    tags = ["O", "B-x", "I-x"]
    sure_entity = np.array([[0.05, 0.9, 0.05], [0.1, 0.0, 0.9], [0.99, 0.0, 0.01]])
    weak_entity = np.array([[0.3, 0.6, 0.1], [0.4, 0.1, 0.5], [0.99, 0.0, 0.01]])
    assert entity_uncertainty(sure_entity, tags) == pytest.approx(1 - 0.9)
    assert entity_uncertainty(weak_entity, tags) == pytest.approx(1 - 0.55)
    near_miss = np.array([[0.55, 0.4, 0.05], [0.99, 0.0, 0.01]])  # no entity predicted: 1 - min P(O)
    assert entity_uncertainty(near_miss, tags) == pytest.approx(0.45)
    # a repaired tag is scored at its repaired (B-) probability: I-x alone becomes B-x (p 0.3)
    assert predicted_tags(np.array([[0.2, 0.3, 0.5]]), tags) == ["B-x"]
    assert entity_uncertainty(np.array([[0.2, 0.3, 0.5]]), tags) == pytest.approx(0.7)


def test_weighted_loss_on_token_logits():
    torch.manual_seed(0)
    logits, labels = torch.randn(2, 4, 3), torch.tensor([[-100, 1, 2, -100], [-100, 0, -100, -100]])
    plain = torch.nn.functional.cross_entropy(logits.view(-1, 3), labels.view(-1))  # ignores -100
    assert torch.allclose(weighted_loss(logits, labels, torch.ones(2)), plain)
    only_first = torch.nn.functional.cross_entropy(logits[0], labels[0], reduction="sum") / 3
    assert torch.allclose(weighted_loss(logits, labels, torch.tensor([1.0, 0.0])), only_first)


def test_with_context_concatenates_neighbours():
    v = np.array([[1.0], [2.0], [3.0]])
    np.testing.assert_allclose(with_context(v), [[0, 1, 2], [1, 2, 3], [2, 3, 0]])


def test_word_shapes_see_what_an_uncased_encoder_cannot():
    from distillgraph.trainer.token_probe import SHAPES, word_shapes

    f = word_shapes("RT @bob saw NYC and iPhone # http://t.co 2day !")
    col = {name: f[:, i].tolist() for i, name in enumerate(SHAPES)}
    assert f.shape == (10, len(SHAPES))
    assert col["capitalised"] == [1, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    assert col["all capitals"] == [1, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    assert col["@mention"] == [0, 1, 0, 0, 0, 0, 0, 0, 0, 0] and col["url"] == [0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
    assert col["capital inside"] == [1, 0, 0, 1, 0, 1, 0, 0, 0, 0] and col["has a digit"][8] == 1
    assert col["punctuation only"] == [0, 0, 0, 0, 0, 0, 1, 0, 0, 1] and col["first word"][0] == 1


# ---------------------------------------------------------------- ner_metrics


def test_ner_metrics_hand_computed():
    gold = ["B-person I-person O B-geo-loc", "O B-geo-loc I-geo-loc", "O O"]
    pred = ["B-person O O B-geo-loc", "O B-geo-loc I-geo-loc", "B-person O"]
    m = ner_metrics(gold, pred, ["person", "geo-loc", "company"], clusters=[0, 0, 1])
    # gold: person(0-2), geo(3), geo(1-3); pred: person(0-1) [partial miss: FP + FN], geo(3), geo(1-3), person(0) FP
    assert (m["n"], m["entity_precision"], m["entity_recall"]) == (3, 0.5, pytest.approx(2 / 3))
    assert m["entity_f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert m["per_type"]["person"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["per_type"]["geo-loc"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert m["per_type"]["company"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["macro_f1"] == pytest.approx(0.5)  # person and geo-loc occur; company nowhere
    assert (m["worst_type"], m["worst_type_f1"]) == ("person", 0.0)
    assert m["token_accuracy"] == pytest.approx(7 / 9)
    assert m["per_cluster"][0] == {"n": 2, "entity_f1": pytest.approx(2 / 3)}  # 2 of 3 found, 2 of 3 right
    assert m["per_cluster"][1] == {"n": 1, "entity_f1": 0.0}
    assert (m["worst_cluster"], m["cluster_spread"]) == (1, pytest.approx(2 / 3))
    split = [s.split(" ") for s in gold], [s.split(" ") for s in pred]
    assert m["entity_f1"] == pytest.approx(f1_score(*split, mode="strict", scheme=IOB2))
    json.dumps(m)


def test_ner_metrics_edges():
    nothing = ner_metrics(["O O", "O"], ["O O", "O"], ["person"], clusters=[3, 3])
    assert nothing["entity_f1"] == 1.0 and nothing["worst_type"] is None and nothing["per_cluster"][3]["entity_f1"] == 1.0
    stray = ner_metrics(["O I-person"], ["O I-person"], ["person"])  # strict IOB2: an I- alone is no entity
    assert stray["entity_f1"] == 1.0 and stray["per_type"]["person"]["support"] == 0
    with pytest.raises(ValueError, match="sentences"):
        ner_metrics(["O"], [], ["person"])
    with pytest.raises(ValueError, match="sentence 0: 2 gold tags, 1 predicted"):
        ner_metrics(["O O"], ["O"], ["person"])


# ---------------------------------------------------------------- the students


def test_token_classifier_learns_saves_and_loads(ner_task, bert_tokenizer, tmp_path):
    student = classifier(ner_task, bert_tokenizer, num_train_epochs=40, learning_rate=5e-2)
    assert isinstance(student, TokenClassifierStudent)
    texts = [t for t, _ in SENTENCES]
    before = student.predict(["a", "b", "c", "d"], texts)
    stats = student.fit(items(), tmp_path / "r1", round=1)
    assert stats["n_train"] == 4 and stats["final_loss"] < 0.1
    assert any("classifier.modules_to_save" in name for name, _ in student.model.named_parameters())
    assert json.loads((tmp_path / "r1" / "student.json").read_text())["kind"] == "token-classifier"
    preds = student.predict(["a", "b", "c", "d"], texts)
    assert [p.prediction for p in preds] == [tags for _, tags in SENTENCES] != [p.prediction for p in before]
    assert preds[0].probs is None and preds[0].id == "a"
    fresh = classifier(ner_task, bert_tokenizer)
    fresh.load(tmp_path / "r1")
    for a, b in zip(fresh.tag_probabilities(texts), student.tag_probabilities(texts), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    for method in fresh.score_methods:
        np.testing.assert_allclose(fresh.score(texts, method), student.score(texts, method), atol=1e-6)
    first = student.tag_probabilities(texts)
    student.fit(items(), tmp_path / "r2", round=2)  # a fresh adapter and head from the same base: the same result
    for a, b in zip(student.tag_probabilities(texts), first, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_token_classifier_trains_in_a_launched_process(ner_task, bert_tokenizer, tmp_path):
    """`accelerate launch` (one CPU process) rebuilds the token-classification model from the saved base."""
    kw = dict(num_train_epochs=40, learning_rate=5e-2, lora_dropout=0.0)
    launched = classifier(ner_task, bert_tokenizer, launcher="accelerate", **kw)
    stats = launched.fit(items(), tmp_path / "launched", round=1)
    assert stats["num_processes"] == 1 and stats["final_loss"] < 0.1
    texts = [t for t, _ in SENTENCES]
    assert [p.prediction for p in launched.predict(["a", "b", "c", "d"], texts)] == [tags for _, tags in SENTENCES]


def test_token_classifier_truncation_predicts_o(ner_task, bert_tokenizer, tmp_path):
    student = classifier(ner_task, bert_tokenizer, max_length=5, num_train_epochs=40, learning_rate=5e-2)
    student.fit(items([("Paris Paris Paris Paris Paris Paris", "B-geo-loc B-geo-loc B-geo-loc B-geo-loc O O")]),
                tmp_path, round=1)
    [pred] = student.predict(["x"], ["Paris Paris Paris Paris Paris Paris"])
    assert pred.prediction == "B-geo-loc B-geo-loc B-geo-loc O O O"  # [CLS] + 3 pieces + [SEP]: words 4-6 cut off
    probs = student.tag_probabilities(["Paris Paris Paris Paris Paris Paris"])[0]
    np.testing.assert_allclose(probs[3:], [[1, 0, 0, 0, 0]] * 3)


def test_token_probe_learns_caches_and_roundtrips(ner_task, bert_tokenizer, tmp_path):
    student = probe(ner_task, bert_tokenizer)
    assert isinstance(student, TokenProbeStudent)
    calls = []
    forward = student.encoder.forward
    student.encoder.forward = lambda **kw: calls.append(len(kw["input_ids"])) or forward(**kw)
    texts = [t for t, _ in SENTENCES]
    stats = student.fit(items(), tmp_path / "r1", round=1)
    assert stats["n_train"] == 4 and stats["final_loss"] >= 0
    preds = student.predict(["a", "b", "c", "d"], texts)
    assert [p.prediction for p in preds] == [tags for _, tags in SENTENCES]
    student.score(texts + ["a new sentence"], "entity_uncertainty")
    assert sum(calls) == 5  # every sentence through the encoder once
    other = probe(ner_task, bert_tokenizer)
    other.load(tmp_path / "r1")
    assert [p.prediction for p in other.predict(["a", "b", "c", "d"], texts)] == [p.prediction for p in preds]
    for method in student.score_methods:
        scores = other.score(texts, method)
        np.testing.assert_allclose(scores, student.score(texts, method))
        assert scores.shape == (4,) and np.all((scores >= 0) & (scores <= 1))


def test_token_probe_sample_weights_and_cold_start(ner_task, bert_tokenizer, tmp_path):
    student = probe(ner_task, bert_tokenizer, outside_weight=1.0)
    heavy_o = [TrainItem(id="a", text="Paris", target="B-geo-loc", weight=0.1),
               TrainItem(id="b", text="Paris", target="O", weight=1.0)]
    student.fit(heavy_o, tmp_path, round=1)
    assert student.predict(["x"], ["Paris"])[0].prediction == "O"
    heavy_o[0].weight, heavy_o[1].weight = 1.0, 0.1
    student.fit(heavy_o, tmp_path, round=2)
    assert student.predict(["x"], ["Paris"])[0].prediction == "B-geo-loc"
    student.fit(items([("nothing here", "O O")]), tmp_path, round=3)  # one tag seen: a constant "O"
    np.testing.assert_allclose(student.tag_probabilities(["Paris is big"])[0], [[1, 0, 0, 0, 0]] * 3)
    np.testing.assert_allclose(student.score(["Paris is big"], "token_margin_mean"), [0.0])


def test_token_probe_outside_weight_trades_o_for_entities(ner_task, bert_tokenizer, tmp_path):
    """Two equal votes, B-geo-loc at weight 1.2 and O at 2: O wins unless O words weigh less (outside_weight)."""
    data = [TrainItem(id="a", text="Paris", target="B-geo-loc", weight=1.2),
            TrainItem(id="b", text="Paris", target="O", weight=2.0)]
    plain = probe(ner_task, bert_tokenizer, outside_weight=1.0)
    plain.fit(data, tmp_path / "plain", round=1)
    assert plain.predict(["x"], ["Paris"])[0].prediction == "O"
    light_o = probe(ner_task, bert_tokenizer, outside_weight=0.5)
    light_o.fit(data, tmp_path / "light", round=1)
    assert light_o.predict(["x"], ["Paris"])[0].prediction == "B-geo-loc"


def test_outside_weight_is_for_the_token_probe_only():
    from distillgraph.graph.config import config_from_dict

    base = {"task": {"type": "ner", "instruction": "Tag.", "labels": TYPES}, "data": {"source": "wnut"},
            "budget": {"max_calls": 10}}
    assert config_from_dict({**base, "student": {"kind": "token-probe", "outside_weight": 0.25}}).student.outside_weight == 0.25
    assert StudentConfig(kind="token-probe").resolved().outside_weight == 0.1  # the kind's default (dev-chosen)
    assert StudentConfig(kind="token-classifier").resolved().outside_weight == 1.0
    with pytest.raises(UserError, match="only the token-probe student weighs its O words"):
        config_from_dict({**base, "student": {"kind": "token-classifier", "outside_weight": 0.25}})
    with pytest.raises(ValueError, match="outside_weight"):
        StudentConfig(kind="token-probe", outside_weight=0)


def test_user_errors(ner_task, task, bert_tokenizer, tmp_path):
    student = classifier(ner_task, bert_tokenizer)
    with pytest.raises(UserError, match="item s7: 2 tags for 3 tokens"):
        student.fit([TrainItem(id="s7", text="I saw Rome", target="O O")], tmp_path, round=1)
    with pytest.raises(UserError, match="item s8: tag 'B-city' is not O"):
        student.fit([TrainItem(id="s8", text="Rome", target="B-city")], tmp_path, round=1)
    with pytest.raises(UserError, match="cannot score by 'entropy'"):
        student.score(["x"], "entropy")
    with pytest.raises(UserError, match="no saved adapter"):
        student.load(tmp_path / "missing")
    three_outputs = bert_config(bert_tokenizer.vocab_size)
    three_outputs.num_labels = 3
    with pytest.raises(UserError, match="model has 3 outputs, task has 5 IOB2 tags"):
        build_student(small_cfg(kind="token-classifier"), ner_task,
                      model=BertForTokenClassification(three_outputs), tokenizer=bert_tokenizer)
    untrained = probe(ner_task, bert_tokenizer)
    with pytest.raises(UserError, match="not been trained"):
        untrained.predict(["1"], ["x"])
    with pytest.raises(UserError, match="no saved token probe"):
        untrained.load(tmp_path)
    for kind in ("classifier", "causal-lm", "embedding-probe"):
        with pytest.raises(UserError, match=f"needs a token-classifier or token-probe student, not {kind}"):
            build_student(StudentConfig(kind=kind), ner_task)
    for kind in ("token-classifier", "token-probe"):
        with pytest.raises(UserError, match=f"{kind} needs a ner task"):
            build_student(StudentConfig(kind=kind), task)


# ---------------------------------------------------------------- the packaged MiniLM (integration)

PEOPLE = ["John Smith", "Mary Jones", "Peter Brown", "Anna Miller", "David Wilson", "Laura Taylor",
          "James Clark", "Emma Davis", "Thomas White", "Sarah Moore", "Robert Hall", "Julia King"]
CITIES = ["Paris", "London", "Berlin", "Madrid", "Rome", "Tokyo", "Chicago", "Boston", "Vienna", "Dublin",
          "Lisbon", "Prague"]
TEMPLATES = ["{p} flew to {c} on Monday", "yesterday {p} arrived in {c}", "{c} is where {p} grew up",
             "the weather in {c} was cold", "{p} called me this morning"]


def synthetic(people: list[str], cities: list[str], n: int, offset: int) -> list[TrainItem]:
    """n sentences from TEMPLATES with the given names and cities, tags built word by word."""
    out = []
    for i in range(n):
        template = TEMPLATES[(i + offset) % len(TEMPLATES)]
        person, city = people[(i * 5 + offset) % len(people)], cities[(i * 7 + offset) % len(cities)]
        words, tags = [], []
        for word in template.split(" "):
            if word == "{p}":
                words += person.split(" ")
                tags += ["B-person", "I-person"]
            elif word == "{c}":
                words.append(city)
                tags.append("B-geo-loc")
            else:
                words.append(word)
                tags.append("O")
        out.append(TrainItem(id=f"syn-{offset}-{i}", text=" ".join(words), target=" ".join(tags)))
    return out


def entity_f1(student, test: list[TrainItem]) -> float:
    preds = student.predict([it.id for it in test], [it.text for it in test])
    return ner_metrics([it.target for it in test], [p.prediction for p in preds], list(TYPES))["entity_f1"]


@pytest.mark.integration
def test_minilm_students_learn_unseen_names(ner_task, tmp_path):
    train = synthetic(PEOPLE[:8], CITIES[:8], 40, 0)
    test = synthetic(PEOPLE[8:], CITIES[8:], 12, 1)  # names and cities never seen in training
    cfg = dict(device="cpu", bf16="off", max_length=32, per_device_train_batch_size=8)
    lora = build_student(StudentConfig(kind="token-classifier", num_train_epochs=20, **cfg), ner_task, progress=False)
    untrained = entity_f1(lora, test)
    lora.fit(train, tmp_path / "lora", round=1)
    trained = entity_f1(lora, test)
    again = build_student(StudentConfig(kind="token-classifier", **cfg), ner_task, progress=False)
    again.load(tmp_path / "lora")
    texts = [it.text for it in test]
    assert [p.prediction for p in again.predict(["x"] * 12, texts)] == [p.prediction for p in lora.predict(["x"] * 12, texts)]
    fast = build_student(StudentConfig(kind="token-probe", **cfg), ner_task, progress=False)
    fast.fit(train, tmp_path / "probe", round=1)
    print(f"untrained {untrained:.3f}, token-classifier {trained:.3f}, token-probe {entity_f1(fast, test):.3f}")
    assert untrained < 0.2 and trained >= 0.8 and entity_f1(fast, test) >= 0.8
