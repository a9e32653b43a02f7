"""bench/suite.py --add-seeds: later test seeds join a published suite only whole, and the shared seeds are checked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench import suite

PUBLISHED = Path(suite.__file__).parent / "results" / "suite.json"


def _folders(tmp_path: Path) -> tuple[Path, Path, dict]:
    out, source = tmp_path / "out", tmp_path / "source"
    out.mkdir()
    source.mkdir()
    shutil.copy(PUBLISHED, out / "suite.json")
    published = json.loads(PUBLISHED.read_text(encoding="utf-8"))
    probe = [r for r in published["runs"] if r["student"] == suite.PROBE]
    shared = [r for r in probe if r["seed"] == 0]
    new = [{**r, "seed": 50, "macro_f1": round(r["macro_f1"] * 0.9, 4)} for r in shared]  # a seed out lacks
    other = [{**new[0], "policy": "not_in_out", "seed": 50}]  # a point out does not have: left out
    later = {**published, "runs": shared + new + other, "test_seeds": [0, 50],
             "meta": {**published["meta"], "argv": "--seeds 0 50", "written": "2026-12-05 04:00"}}
    (source / "suite.json").write_text(json.dumps(later), encoding="utf-8")
    return out, source, later


def test_added_seeds_join_every_table_and_the_shared_seed_is_compared(tmp_path: Path) -> None:
    out, source, later = _folders(tmp_path)
    before = json.loads((out / "suite.json").read_text(encoding="utf-8"))
    suite.add_seeds(source, out)
    after = json.loads((out / "suite.json").read_text(encoding="utf-8"))
    added = [r for r in after["runs"] if r["seed"] == 50]
    assert after["test_seeds"] == sorted({*before["test_seeds"], 50})
    assert len(added) == len(after["runs"]) - len(before["runs"]) == sum(r["seed"] == 50 for r in later["runs"]) - 1
    assert not any(r["policy"] == "not_in_out" for r in after["runs"])
    record = after["meta"]["seed_additions"][-1]
    assert record["seeds"] == [50] and record["shared_runs_equal"] == record["shared_runs_compared"] > 0
    # the paired comparisons now pair 11 seeds where they paired 10
    assert after["paired"]["bbc"][suite.PROBE]["40"]["vs_random"]["n"] == \
        before["paired"]["bbc"][suite.PROBE]["40"]["vs_random"]["n"] + 1
    md = (out / "suite.md").read_text(encoding="utf-8")
    assert "added with `--add-seeds`" in md and f"equal this file's at {record['shared_runs_equal']} of" in md


def test_a_seed_missing_a_point_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    out, source, later = _folders(tmp_path)
    later["runs"] = [r for r in later["runs"] if not (r["seed"] == 50 and r["policy"] == "margin" and r["budget"] == 40
                                                      and r["task"] == "bbc")]
    (source / "suite.json").write_text(json.dumps(later), encoding="utf-8")
    before = (out / "suite.json").read_bytes()
    with pytest.raises(SystemExit, match="seed 50 lacks 1 point"):
        suite.add_seeds(source, out)
    assert (out / "suite.json").read_bytes() == before


def test_a_source_without_new_seeds_is_refused(tmp_path: Path) -> None:
    out, source, later = _folders(tmp_path)
    later["runs"] = [r for r in later["runs"] if r["seed"] == 0]
    (source / "suite.json").write_text(json.dumps(later), encoding="utf-8")
    with pytest.raises(SystemExit, match="no probe run at a seed"):
        suite.add_seeds(source, out)
