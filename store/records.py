"""Reading the user's data files: JSONL, JSON, CSV/TSV, Parquet and HF `save_to_disk` folders, as rows.

JSONL, CSV/TSV and Parquet are streamed in batches; text is UTF-8 (BOM stripped), falling back to latin-1
with a warning; UTF-16/32 and binary files are refused in one line.
"""

from __future__ import annotations

import codecs
import itertools
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from distillgraph.store.schema import UserError

# the data-loading logger, shared with store/datasets.py: the benchmarks and tests set its level by that name
log = logging.getLogger("distillgraph.store.datasets")


def read_text_file(path: Path, quiet: bool = False) -> str:
    """UTF-8, falling back to latin-1 with a warning (`quiet`: a debug note, for the bundled corpus)."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        (log.debug if quiet else log.warning)("%s: not UTF-8, decoded as latin-1", path)
        return raw.decode("latin-1")


def _decode(raw: bytes, path: Path) -> str:
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise UserError(f"{path}: is UTF-16/32 text; save it as UTF-8")
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    if b"\x00" in raw[:4096]:
        raise UserError(f"{path}: looks like a binary file, expected text (JSONL/CSV)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        log.warning("%s: not UTF-8, decoded as latin-1", path)
        return raw.decode("latin-1")


READ_BATCH = 10_000  # rows per batch when streaming a pool file


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a JSONL, JSON, CSV/TSV or Parquet file, or of a HF datasets `save_to_disk` folder."""
    return [row for batch in iter_records(path) for row in batch]


def iter_records(path: str | Path, batch_size: int = READ_BATCH) -> Iterator[list[dict[str, Any]]]:
    """The rows of a data file in batches of at most `batch_size`: JSONL, CSV/TSV and Parquet are streamed
    (memory bounded by the batch, not the file); a JSON list or a HF folder is read whole, then batched."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: data file not found")
    suffix = p.suffix.lower()
    if p.is_dir():
        rows = _read_hf_folder(p)
    elif suffix in (".parquet", ".pq"):
        yield from _parquet_batches(p, batch_size)
        return
    elif suffix in (".jsonl", ".ndjson"):
        yield from _batched(_jsonl_rows(p), batch_size)
        return
    elif suffix in (".csv", ".tsv"):
        yield from _batched(_csv_rows(p, "\t" if suffix == ".tsv" else ","), batch_size)
        return
    elif suffix == ".json":
        text = _decode(p.read_bytes(), p)
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{p}:{exc.lineno}: not valid JSON") from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise UserError(f"{p}: expected a JSON list of objects")
    else:
        raise UserError(
            f"{p}: unsupported format '{suffix}' (use .jsonl, .json, .csv, .tsv, .parquet or a HF dataset folder)"
        )
    yield from _batched(iter(rows), batch_size)


def _batched(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    while batch := list(itertools.islice(rows, size)):
        yield batch


def _text_lines(p: Path) -> Iterator[str]:
    """Decoded lines of a text file, read incrementally: the first 64 KB decide UTF-8 or latin-1 (with the
    same BOM and binary checks as a whole-file read); a later invalid byte falls back to latin-1 there."""
    with p.open("rb") as handle:
        head = handle.read(65536)
        _decode(head[: len(head) - 4] if len(head) == 65536 else head, p)  # BOM / binary / UTF-16 checks
        encoding = "utf-8"
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:
                encoding = "latin-1"
        handle.seek(len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0)
        warned = encoding == "latin-1"
        for raw in handle:
            try:
                yield raw.decode(encoding)
            except UnicodeDecodeError:
                if not warned:
                    log.warning("%s: not UTF-8, decoded as latin-1", p)
                    warned = True
                yield raw.decode("latin-1")


def _jsonl_rows(p: Path) -> Iterator[dict[str, Any]]:
    for n, line in enumerate(_text_lines(p), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise UserError(f"{p}:{n}: not valid JSON") from None
        if not isinstance(row, dict):
            raise UserError(f"{p}:{n}: each line must be a JSON object")
        yield row


def _csv_rows(p: Path, delimiter: str) -> Iterator[dict[str, Any]]:
    import csv

    csv.field_size_limit(1 << 30)
    for row in csv.DictReader(_text_lines(p), delimiter=delimiter):
        yield dict(row)


def _parquet_batches(p: Path, batch_size: int) -> Iterator[list[dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(p)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise UserError(f"{p}: cannot read as Parquet ({type(exc).__name__})") from None
    with handle:
        for batch in handle.iter_batches(batch_size=batch_size):
            yield batch.to_pylist()


def _read_hf_folder(p: Path) -> list[dict[str, Any]]:
    if not (
        (p / "dataset_info.json").exists()
        or (p / "dataset_dict.json").exists()
        or (p / "state.json").exists()
    ):
        raise UserError(f"{p}: is a folder but not a HF datasets save_to_disk folder")
    import datasets

    try:
        ds = datasets.load_from_disk(str(p))
    except Exception as exc:
        raise UserError(f"{p}: cannot load HF dataset ({type(exc).__name__})") from None
    if isinstance(ds, datasets.DatasetDict):
        if len(ds) != 1:
            raise UserError(f"{p}: a DatasetDict with splits {list(ds)}; point each data key at one split")
        ds = next(iter(ds.values()))
    return ds.to_list()
