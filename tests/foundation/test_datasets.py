"""Data loading: every format, every error case, and the bundled BBC split."""

import json
import logging
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from distillgraph.store.datasets import load_bbc, load_data, read_records, to_examples
from distillgraph.store.schema import BBCConfig, DataConfig, TaskConfig, UserError

TASK = TaskConfig(labels={"pos": "", "neg": ""})
ROWS = [{"text": "good film", "label": "pos", "topic": "film"}, {"text": "bad film", "label": "neg", "topic": "film"},
        {"text": "great book", "label": "pos", "topic": "book"}]


def write_all_formats(tmp_path: Path, rows: list[dict]) -> dict[str, Path]:
    paths = {}
    p = tmp_path / "d.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    paths["jsonl"] = p
    df = pd.DataFrame(rows)
    paths["csv"] = tmp_path / "d.csv"
    df.to_csv(paths["csv"], index=False)
    paths["parquet"] = tmp_path / "d.parquet"
    df.to_parquet(paths["parquet"])
    import datasets

    paths["hf"] = tmp_path / "hf"
    datasets.Dataset.from_list(rows).save_to_disk(str(paths["hf"]))
    return paths


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "hf"])
def test_every_format_gives_the_same_examples(tmp_path, fmt):
    path = write_all_formats(tmp_path, ROWS)[fmt]
    cfg = DataConfig(pool=str(path), dev=str(path), domain_field="topic")
    exs = to_examples(read_records(path), "dev", cfg, TASK, str(path))
    assert [e.text for e in exs] == ["good film", "bad film", "great book"]
    assert [e.label for e in exs] == ["pos", "neg", "pos"]
    assert [e.domain for e in exs] == ["film", "film", "book"]
    assert len({e.id for e in exs}) == 3


def test_ids_are_stable_content_hashes(tmp_path):
    p = write_all_formats(tmp_path, ROWS)["jsonl"]
    cfg = DataConfig(pool=str(p))
    a = load_data(cfg, TASK)["pool"]
    b = load_data(cfg, TASK)["pool"]
    assert [e.id for e in a] == [e.id for e in b]
    q = tmp_path / "other.jsonl"
    q.write_text("".join(json.dumps(r) + "\n" for r in reversed(ROWS)))
    c = load_data(DataConfig(pool=str(q)), TASK)["pool"]
    assert {e.id for e in a} == {e.id for e in c}


def _err(tmp_path, content: bytes | str, name="x.jsonl", split="dev", **cfg_kw):
    p = tmp_path / name
    p.write_bytes(content.encode() if isinstance(content, str) else content)
    cfg = DataConfig(pool=str(p), **cfg_kw)
    with pytest.raises(UserError) as exc:
        to_examples(read_records(p), split, cfg, TASK, str(p))
    return str(exc.value)


def test_missing_file():
    with pytest.raises(UserError, match="data file not found"):
        read_records("/nonexistent/pool.jsonl")


def test_missing_text_field(tmp_path):
    assert "field 'text' (data.text_field) not found" in _err(tmp_path, '{"body": "x", "label": "pos"}\n')


def test_missing_label_field_in_a_labelled_split(tmp_path):
    assert "field 'label' (data.label_field) not found" in _err(tmp_path, '{"text": "x"}\n')


def test_empty_set(tmp_path):
    p = tmp_path / "e.jsonl"
    p.write_text("")
    with pytest.raises(UserError, match="the pool set is empty"):
        to_examples(read_records(p), "pool", DataConfig(pool=str(p)), TASK, str(p))


def test_label_outside_label_set(tmp_path):
    assert "label 'meh' is not in task.labels" in _err(tmp_path, '{"text": "x", "label": "meh"}\n')


def test_duplicate_ids(tmp_path):
    assert "duplicate id" in _err(tmp_path, '{"text": "same", "label": "pos"}\n{"text": "same", "label": "neg"}\n')


def test_duplicate_ids_across_splits(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"text": "same", "label": "pos"}\n')
    with pytest.raises(UserError, match="in both the pool and the dev set"):
        load_data(DataConfig(pool=str(p), dev=str(p)), TASK)


def test_binary_file(tmp_path):
    assert "binary" in _err(tmp_path, b"\x00\x01\x02PK\x03\x04" * 10)


def test_bad_json_line(tmp_path):
    assert ":2: not valid JSON" in _err(tmp_path, '{"text": "x", "label": "pos"}\n{oops\n')


def test_unsupported_format(tmp_path):
    assert "unsupported format '.xlsx'" in _err(tmp_path, "x", name="x.xlsx")


def test_latin1_falls_back_with_a_warning(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="distillgraph.store.datasets")  # the benchmarks quiet this logger
    p = tmp_path / "l.csv"
    p.write_bytes("text,label\ncaf\xe9 na\xefve,pos\n".encode("latin-1"))
    exs = to_examples(read_records(p), "dev", DataConfig(pool=str(p)), TASK, str(p))
    assert exs[0].text == "café naïve"
    assert any("latin-1" in r.message for r in caplog.records)


def test_long_text_is_cut_with_a_warning(tmp_path, caplog):
    p = tmp_path / "long.jsonl"
    p.write_text(json.dumps({"text": "word " * 5000}) + "\n")
    exs = to_examples(read_records(p), "pool", DataConfig(pool=str(p), max_text_chars=1000), TASK, str(p))
    assert len(exs[0].text) == 1000


# ---------------------------------------------------------------- BBC

BBC_TASK = TaskConfig(labels={t: "" for t in ("business", "entertainment", "politics", "sports", "tech")})


def test_bbc_split_is_deterministic_long_tailed_and_disjoint():
    a = load_bbc(BBCConfig(), BBC_TASK)
    b = load_bbc(BBCConfig(), BBC_TASK)
    assert {s: [e.id for e in v] for s, v in a.items()} == {s: [e.id for e in v] for s, v in b.items()}
    ids = [e.id for v in a.values() for e in v]
    assert len(ids) == len(set(ids)), "splits overlap"
    sizes = sorted(Counter(e.domain for e in a["pool"]).values())
    assert len(sizes) == 5
    assert 7 <= sizes[-1] / sizes[0] <= 13, sizes  # roughly 10:1 from largest to smallest topic
    assert all(e.label is None for e in a["pool"]), "the pool is unlabelled"
    test_sizes = Counter(e.label for e in a["test"])
    assert len(set(test_sizes.values())) == 1, "test is balanced"


def test_bbc_other_seed_gives_other_split():
    a = load_bbc(BBCConfig(split_seed=0), BBC_TASK)
    b = load_bbc(BBCConfig(split_seed=1), BBC_TASK)
    assert {e.id for e in a["pool"]} != {e.id for e in b["pool"]}


def test_bbc_headline_task_has_bodies_and_reference_headlines():
    d = load_bbc(BBCConfig(pool_size=200, dev_size=20, test_size=20), TaskConfig(type="generation"))
    ex = d["dev"][0]
    assert ex.output and ex.output not in ex.text[:5] and ex.label is None and ex.domain
    assert all(e.output is None for e in d["pool"])


def test_bbc_needs_the_corpus_labels():
    with pytest.raises(UserError, match="needs labels"):
        load_bbc(BBCConfig(), TaskConfig(labels={"a": "", "b": ""}))
