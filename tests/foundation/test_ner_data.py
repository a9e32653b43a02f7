"""The NER data layer: IOB2 checks (one line each), spans, CoNLL and JSONL readers, entity alignment."""

from __future__ import annotations

import json

import pytest

from distillgraph.store.datasets import load_data, write_jsonl
from distillgraph.store.ner import (
    Span,
    align_entities,
    check_tags,
    encode,
    entities_of,
    gold_entities,
    read_conll,
    spans,
    tag_names,
    tags_from_spans,
)
from distillgraph.store.schema import DataConfig, TaskConfig, UserError

TYPES = ["person", "geo-loc", "company"]
TASK = TaskConfig(type="ner", instruction="Find the entities.", labels={t: "" for t in TYPES})


def test_tag_names_and_spans_round_trip():
    assert tag_names(["person", "geo-loc"]) == ["O", "B-person", "I-person", "B-geo-loc", "I-geo-loc"]
    tags = ["B-person", "I-person", "O", "B-geo-loc", "B-geo-loc", "I-geo-loc"]
    assert spans(tags) == [Span(0, 2, "person"), Span(3, 4, "geo-loc"), Span(4, 6, "geo-loc")]
    assert tags_from_spans(6, spans(tags)) == tags
    # a type change inside a run starts a new entity
    assert spans(["B-person", "I-company"]) == [Span(0, 1, "person"), Span(1, 2, "company")]


@pytest.mark.parametrize("tokens,tags,message", [
    (["a", "b"], ["O"], "1 tags for 2 tokens"),
    (["Paris"], ["B-city"], "entity type 'city' is not in task.labels"),
    (["in", "Paris"], ["O", "I-geo-loc"], "token 2: I-geo-loc without a B-geo-loc before it"),
    ([], [], "empty sentence"),
    (["x"], ["X-person"], "is not IOB2"),
])
def test_bad_sentences_give_one_line(tokens, tags, message):
    with pytest.raises(UserError, match=message) as err:
        check_tags(tokens, tags, TYPES, "f.jsonl: row 3")
    assert "\n" not in str(err.value) and str(err.value).startswith("f.jsonl: row 3")


ALIGN_CASES = {
    # every mention is placed, any case; what is not there or of an unknown type is rejected
    "mentions": ("Paul met Anna Smith in Paris , then Paul left Paris",
                 [("Anna Smith", "person"), ("paris", "geo-loc"), ("Paul", "person"), ("Rome", "geo-loc"),
                  ("Acme", "film")],
                 ["B-person", "O", "B-person", "I-person", "O", "B-geo-loc", "O", "O", "B-person", "O", "B-geo-loc"],
                 [("Acme", "unknown type"), ("Rome", "not in the text")]),
    # tokenized unlike the data ('N.J.', '#Astros') still aligns; an entity listed twice is not a rejection
    "tokenization": ("Go #Astros ! Back to N.J. with Tom , Tom said",
                     [("Astros", "company"), ("N.J.", "geo-loc"), ("Tom", "person"), ("Tom", "person"),
                      ("NYC", "geo-loc")],
                     ["O", "B-company", "O", "O", "O", "B-geo-loc", "O", "B-person", "O", "B-person", "O"],
                     [("NYC", "not in the text")]),
}


@pytest.mark.parametrize("case", list(ALIGN_CASES))
def test_align_entities_places_every_mention_and_rejects_what_is_not_there(case):
    text, ents, want, want_rejected = ALIGN_CASES[case]
    tokens = text.split(" ")
    tags, rejected = align_entities(tokens, [{"text": t, "type": ty} for t, ty in ents], TYPES)
    assert tags == want
    assert sorted((r["text"], r["reason"]) for r in rejected) == want_rejected
    if case == "mentions":  # the gold entities come back out as the teacher would write them
        assert entities_of(tokens, tags)[:2] == [{"text": "Paul", "type": "person"},
                                                 {"text": "Anna Smith", "type": "person"}]


def test_longer_entities_are_placed_before_their_parts():
    tokens = "New York and York".split(" ")
    tags, rejected = align_entities(tokens, [{"text": "York", "type": "geo-loc"}, {"text": "New York", "type": "geo-loc"}],
                                    TYPES)
    assert tags == ["B-geo-loc", "I-geo-loc", "O", "B-geo-loc"] and rejected == []


def test_every_gold_entity_of_the_packaged_tweets_aligns_back():
    """The gold entities written as the teacher writes them ({text, type}) align to their own tokens: none is
    rejected and all but a few sentences (a name tagged once where it appears twice) get their gold tags back."""
    from distillgraph.store.ner import WNUT_TYPES, wnut_split

    n = differ = 0
    for rows in wnut_split(0).values():
        for tokens, tags in rows:
            ents = [{"text": " ".join(tokens[s.start:s.end]), "type": s.type} for s in spans(tags)]
            if ents:
                got, rejected = align_entities(tokens, ents, WNUT_TYPES)
                assert rejected == [], (tokens, rejected)
                n, differ = n + 1, differ + (got != list(tags))
    assert n > 800 and differ <= n // 100


def test_encode_splits_tokens_holding_spaces():
    text, output = encode(["New York", "rocks"], ["B-geo-loc", "O"])
    assert text == "New York rocks" and output == "B-geo-loc I-geo-loc O"


def test_read_conll_tab_separated_with_blank_tab_lines(tmp_path):
    f = tmp_path / "ner.txt"
    f.write_text("Paul\tB-person\nsmiles\tO\n\t\nIn\tO\nParis\tB-geo-loc\n\nlast\tO\n", encoding="utf-8")
    assert read_conll(f) == [(["Paul", "smiles"], ["B-person", "O"]), (["In", "Paris"], ["O", "B-geo-loc"]),
                             (["last"], ["O"])]
    f.write_text("Paul\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"ner.txt:1: expected 'token<TAB>tag'"):
        read_conll(f)


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_load_data_reads_tokens_tags_and_char_offsets(tmp_path):
    pool = _jsonl(tmp_path / "pool.jsonl", [{"tokens": ["Paul", "is", "here"]}, {"text": "Visit Paris now!"}])
    dev = _jsonl(tmp_path / "dev.jsonl", [
        {"tokens": ["Anna", "in", "Rome"], "tags": ["B-person", "O", "B-geo-loc"]},
        {"text": "Acme Corp. hires in Berlin.", "entities": [{"start": 0, "end": 10, "type": "company"},
                                                            {"start": 20, "end": 26, "type": "geo-loc"}]},
    ])
    data = load_data(DataConfig(pool=pool, dev=dev), TASK)
    assert [e.text for e in data["pool"]] == ["Paul is here", "Visit Paris now !"]
    assert all(e.output is None for e in data["pool"])
    second = data["dev"][1]
    assert second.text == "Acme Corp . hires in Berlin ."
    assert entities_of(second.text.split(" "), second.output.split(" ")) == [
        {"text": "Acme Corp .", "type": "company"}, {"text": "Berlin", "type": "geo-loc"}]
    # the oracle's answers: the gold entities as JSON
    gold = gold_entities(data["dev"])
    assert json.loads(gold[data["dev"][0].id]) == [{"text": "Anna", "type": "person"}, {"text": "Rome", "type": "geo-loc"}]
    write_jsonl(data["dev"], tmp_path / "out.jsonl", TASK)
    again = load_data(DataConfig(pool=pool, dev=str(tmp_path / "out.jsonl")), TASK)
    assert [(e.id, e.text, e.output) for e in again["dev"]] == [(e.id, e.text, e.output) for e in data["dev"]]


def test_dev_rows_need_tags_and_bad_rows_name_their_row(tmp_path):
    pool = _jsonl(tmp_path / "pool.jsonl", [{"tokens": ["a"]}])
    dev = _jsonl(tmp_path / "dev.jsonl", [{"tokens": ["Anna"]}])
    with pytest.raises(UserError, match=r"dev.jsonl: row 1: no gold 'tags'"):
        load_data(DataConfig(pool=pool, dev=dev), TASK)
    dev = _jsonl(tmp_path / "dev.jsonl", [{"tokens": ["Anna"], "tags": ["B-person"]},
                                          {"tokens": ["in", "Rome"], "tags": ["O", "I-geo-loc"]}])
    with pytest.raises(UserError, match=r"dev.jsonl: row 2: token 2: I-geo-loc without a B-geo-loc"):
        load_data(DataConfig(pool=pool, dev=dev), TASK)


def test_ner_task_checks():
    with pytest.raises(ValueError, match="at least 1 entity type"):
        TaskConfig(type="ner", labels={})
    with pytest.raises(ValueError, match="must be one word"):
        TaskConfig(type="ner", labels={"geo loc": ""})


def test_the_packaged_wnut_tweets_load_once_each_and_reproducibly():
    from distillgraph.store.ner import WNUT_TYPES

    task = TaskConfig(type="ner", labels=WNUT_TYPES)
    data = load_data(DataConfig(source="wnut"), task)  # the file repeats ~100 tweets: each is kept once
    assert {k: len(v) for k, v in data.items() if v} == {"pool": 1495, "dev": 400, "test": 400}
    again = load_data(DataConfig(source="wnut"), task)
    assert [e.id for e in again["test"]] == [e.id for e in data["test"]]
    with pytest.raises(UserError, match="also tag"):
        load_data(DataConfig(source="wnut"), TaskConfig(type="ner", labels={"person": ""}))
