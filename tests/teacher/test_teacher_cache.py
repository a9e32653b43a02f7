"""The SQLite answer cache and its key."""

from __future__ import annotations

import threading
from pathlib import Path

from distillgraph.agents.cache import AnswerCache, cache_key

BASE = dict(model="m", base_url="http://h/v1", messages=[{"role": "user", "content": "hi"}],
            params={"temperature": 0.0}, prompt_hash="p", sample_index=0)


def test_put_get_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with AnswerCache(path) as cache:
        cache.put("k1", {"raw": "{}", "parsed": {"label": "a"}, "stages": [{"input_tokens": 1}]})
        assert cache.get("missing") is None
    with AnswerCache(path) as cache:
        assert cache.get("k1") == {"raw": "{}", "parsed": {"label": "a"}, "stages": [{"input_tokens": 1}]}
        assert len(cache) == 1


def test_key_covers_everything_that_changes_the_answer() -> None:
    base = cache_key(**BASE)
    assert cache_key(**BASE) == base
    variants = [
        {"model": "other"},
        {"base_url": "http://other/v1"},
        {"messages": [{"role": "user", "content": "hi!"}]},
        {"params": {"temperature": 0.7}},
        {"prompt_hash": "q"},
        {"sample_index": 1},
    ]
    keys = {cache_key(**{**BASE, **change}) for change in variants}
    assert base not in keys and len(keys) == len(variants)
    assert cache_key(**{**BASE, "base_url": "http://h/v1/"}) == base  # trailing slash is the same endpoint


def test_concurrent_puts(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path / "c.sqlite")

    def writer(n: int) -> None:
        for i in range(25):
            cache.put(f"{n}-{i}", {"i": i})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 100
    assert cache.get("3-24") == {"i": 24}
    cache.close()
