"""IOB2 tag arithmetic for the token students: the tag set, repair of a predicted sequence, entity spans.

A ner example's text is its tokens joined by single spaces and its target the IOB2 tags joined the
same way, one per token. A tag is "O", "B-<type>" or "I-<type>"; a type may hold hyphens ("geo-loc"),
so a tag is split on its first hyphen only.
"""

from __future__ import annotations

from collections.abc import Iterable


def tag_names(types: Iterable[str]) -> list[str]:
    """"O", then B-<type> and I-<type> for each entity type in the order given."""
    return ["O"] + [f"{prefix}-{t}" for t in types for prefix in ("B", "I")]


def split_tag(tag: str) -> tuple[str, str | None]:
    """(prefix, type): ("O", None) for "O"; the type is everything after the first hyphen."""
    if tag == "O":
        return "O", None
    prefix, _, etype = tag.partition("-")
    return prefix, etype or None


def repair(tags: list[str]) -> list[str]:
    """A valid IOB2 sequence: an I-X that does not follow B-X or I-X becomes B-X."""
    out: list[str] = []
    previous: str | None = None
    for tag in tags:
        prefix, etype = split_tag(tag)
        if prefix == "I" and etype != previous:
            tag = f"B-{etype}"
        out.append(tag)
        previous = etype
    return out


def spans(tags: list[str]) -> list[tuple[int, int, str]]:
    """Entities (start, end exclusive, type) of a valid IOB2 sequence (run `repair` first on a prediction)."""
    out: list[tuple[int, int, str]] = []
    start, current = 0, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, etype = split_tag(tag)
        if current is not None and (prefix != "I" or etype != current):
            out.append((start, i, current))
            current = None
        if prefix == "B":
            start, current = i, etype
    return out
