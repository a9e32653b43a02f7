"""SQLite cache of paid teacher answers: nothing is paid for twice, even across crashes and resumes.

Every paid answer is committed here BEFORE the caller uses it (WAL mode, one commit per put), so a run
killed at any point can be resumed without asking the teacher again. The key (see `cache_key`) covers
everything that determines the answer, including a sample index so that asking for a *new* sample of the
same prompt is a different key. Failed answers are never stored.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from distillgraph.store.schema import UserError


def cache_key(
    *,
    model: str,
    base_url: str,
    messages: list[dict[str, Any]],
    params: dict[str, Any],
    prompt_hash: str,
    sample_index: int,
) -> str:
    """sha256 over model, endpoint, full messages, sampling/schema parameters, prompt hash, sample index."""
    payload = {
        "model": model,
        "base_url": base_url.rstrip("/"),
        "messages": messages,
        "params": params,
        "prompt_hash": prompt_hash,
        "sample_index": sample_index,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class AnswerCache:
    """Thread-safe key → record store. A record is a JSON-friendly dict (raw, parsed, usage, cost...)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS answers ("
                "key TEXT PRIMARY KEY, created REAL NOT NULL, record TEXT NOT NULL)"
            )
        except sqlite3.Error as exc:
            raise UserError(f"answer cache {self.path}: cannot open ({exc})") from None
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute("SELECT record FROM answers WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, record: dict[str, Any]) -> None:
        """Store and commit at once (autocommit): the answer is durable before anyone uses it."""
        blob = json.dumps(record, ensure_ascii=False, default=str)
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO answers (key, created, record) VALUES (?, ?, ?)",
                (key, time.time(), blob),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> AnswerCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
