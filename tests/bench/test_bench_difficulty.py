"""bench.difficulty: the suite under a teacher that errs on hard texts, summarised against the oracle suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.difficulty import collect, main, markdown


def _run(policy: str, seed: int, f1: float, acc: float | None = None, task: str = "bbc") -> dict:
    run = {"task": task, "student": "embedding-probe", "policy": policy, "budget": 20, "seed": seed, "tag": "",
           "macro_f1": f1, "worst_cluster_acc": f1 - 0.1}
    return run | ({"teacher_label_acc": acc} if acc is not None else {})


def _write(path: Path, runs: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"runs": runs, "test_seeds": [0, 1, 2], "meta": {"code": "abc", "written": "now"}}))


@pytest.fixture()
def sweeps(tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "difficulty"
    sim = [_run("distillgraph", s, 0.60 + 0.01 * s, 0.80) for s in range(3)]
    sim += [_run("random", s, 0.50 + 0.02 * s, 0.95) for s in range(3)]
    sim += [_run("margin", s, 0.70, 0.70) for s in range(3)]
    _write(out / "difficulty-bbc" / "suite.json", sim)
    oracle = tmp_path / "suite.json"
    _write(oracle, [_run("distillgraph", s, 0.9) for s in range(3)] + [_run("random", s, 0.8) for s in range(3)]
           + [_run("random", 5, 0.1)])  # a seed the sweep does not have: left out of the pair
    return out, oracle


def test_summary_pairs_by_seed_and_names_the_best_other(sweeps: tuple[Path, Path]) -> None:
    out, oracle = sweeps
    result = collect(out, [oracle])
    assert result["simulation"] is True
    row = result["sweeps"]["difficulty/bbc"]["budgets"]["20"]
    assert row["vs_random"]["diff"] == pytest.approx(0.09)  # (0.10 + 0.09 + 0.08) / 3
    assert row["vs_random"]["wins"] == 3
    assert row["vs_best_other"]["policy"] == "margin" and row["vs_best_other"]["diff"] == pytest.approx(-0.09)
    assert row["vs_best_other"]["verdict"] == "behind"
    assert row["oracle_vs_random"]["diff"] == pytest.approx(0.1) and row["oracle_vs_random"]["n"] == 3
    assert result["sweeps"]["difficulty/bbc"]["label_accuracy"] == {"distillgraph": 0.8, "margin": 0.7,
                                                                     "random": 0.95}
    text = markdown(result)
    assert "SIMULATION" in text and "| difficulty/bbc | 20 | 0.610 | 0.520 | +9.0" in text


def test_main_writes_the_fragment_and_keeps_its_notes(sweeps: tuple[Path, Path]) -> None:
    out, oracle = sweeps
    main(["--out", str(out), "--oracle", str(oracle), "--notes", "a note"])
    stored = json.loads((out / "difficulty.json").read_text())
    stored["demo_previous"] = {"why": "an older default", "runs": {"default/120/0": {"macro_f1": 0.9}}}
    (out / "difficulty.json").write_text(json.dumps(stored))
    main(["--out", str(out), "--oracle", str(oracle)])  # re-rendered: the note and the earlier demo runs stay
    assert "a note" in (out / "difficulty.md").read_text()
    assert json.loads((out / "difficulty.json").read_text())["notes"] == ["a note"]
    assert json.loads((out / "difficulty.json").read_text())["demo_previous"]["why"] == "an older default"
    with pytest.raises(SystemExit, match="no sweep"):
        main(["--out", str(out / "empty"), "--oracle", str(oracle)])


def test_demo_summary_pairs_the_arms_by_seed() -> None:
    from bench.difficulty import demo_summary

    runs = {f"default/120/{s}": {"macro_f1": 0.9 + 0.01 * s, "teacher_pool_label_accuracy": 0.8} for s in range(3)}
    runs |= {f"random/120/{s}": {"macro_f1": 0.85, "teacher_pool_label_accuracy": 0.9} for s in range(4)}
    row = demo_summary({"runs": runs})["120"]
    assert row["default_vs_random"]["n"] == 3 and row["default_vs_random"]["diff"] == pytest.approx(0.06)
    assert row["default_label_acc"] == 0.8 and row["random_label_acc"] == 0.9
    assert row["random_macro_f1"]["mean"] == pytest.approx(0.85)
    assert demo_summary({"runs": {"random/60/0": {"macro_f1": 0.5}}}) == {}  # one arm only: nothing to pair


def test_each_task_is_compared_with_the_oracle_suite_that_holds_it(sweeps: tuple[Path, Path], tmp_path: Path) -> None:
    out, oracle = sweeps
    sim = [_run(p, s, f1 + 0.01 * s, task="newsgroups") for p, f1 in (("distillgraph", 0.5), ("random", 0.3),
                                                                        ("typiclust", 0.55)) for s in range(3)]
    _write(out / "difficulty-newsgroups" / "suite.json", sim)
    unseen = tmp_path / "unseen_newsgroups" / "suite.json"
    _write(unseen, [_run("distillgraph", s, 0.6, task="newsgroups") for s in range(3)]
           + [_run("random", s, 0.4, task="newsgroups") for s in range(3)])
    result = collect(out, [oracle, unseen])
    assert result["sweeps"]["difficulty/bbc"]["budgets"]["20"]["oracle_vs_random"]["diff"] == pytest.approx(0.1)
    news = result["sweeps"]["difficulty/newsgroups"]["budgets"]["20"]
    assert news["oracle_vs_random"]["diff"] == pytest.approx(0.2)  # from the unseen suite, not bbc's
    pool = result["pooled_unseen"]  # only the unseen task's sweep is pooled (bbc is a tuning task)
    assert pool["tasks"] == ["newsgroups"]
    assert pool["macro_f1"]["20"]["random"]["diff"] == pytest.approx(20.0)
    assert pool["macro_f1"]["20"]["typiclust"]["diff"] == pytest.approx(-5.0)
    assert pool["macro_f1"]["20"]["typiclust"]["verdict"] == "behind"
    text = markdown(result)
    assert "Pooled over the unseen tasks" in text and "typiclust at 20 labels (-5.0)" in text
    assert "same pair, oracle" in text and "+20.0 [" in text
