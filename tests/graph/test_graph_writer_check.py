"""The writer check (`loop.writer_check`) and where the teacher's weakness report is paid for
(`loop.teacher_analysis`), in real graph runs against the stub teacher with the tiny models."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from distillgraph.graph import node_analyst, node_trainer
from distillgraph.graph.config import LoopConfig
from distillgraph.graph.trace import read_trace
from distillgraph.graph.writer_check import CHECKS
from tests.graph.test_graph_teacher_quality import decisions, run

WRITES = ["budget.max_calls=40", "loop.rounds=3", "loop.max_rounds=3", "loop.tail_factor=100"]  # tail: synthesis


def _analyst_calls(run_dir: Path) -> dict[int, int]:
    """Teacher answers asked by the analyst node, per round."""
    calls: dict[int, int] = {}
    for step in read_trace(run_dir):
        n = sum(1 for e in step.get("events", []) if e.get("kind") == "teacher" and e.get("node") == "analyst")
        if step.get("node") == "analyst":
            calls[step["round"]] = calls.get(step["round"], 0) + n
    return calls


def _synthetic_rounds(state: dict[str, Any]) -> set[int]:
    return {a.round for a in state["dataset"] if a.source == "synthetic"}


def test_synthesis_off_pays_no_weakness_report_unless_asked(stub, make_config) -> None:
    cfg = make_config(stub.base_url, name="analysis-off", loop__near_duplicate=0.0)
    writes_dir, writes = run(cfg, WRITES)
    assert _synthetic_rounds(writes) and sum(_analyst_calls(writes_dir).values()) > 0  # the report's reader: paid
    off_dir, off = run(cfg, [*WRITES, 'loop.synthesis="off"', "run.name=off"])
    assert not _synthetic_rounds(off)
    assert sum(_analyst_calls(off_dir).values()) == 0  # nothing reads it: not bought
    assert off["ledger"]["nodes"].get("analyst", {}).get("spent", {}).get("calls", 0) == 0
    always_dir, _ = run(cfg, [*WRITES, 'loop.synthesis="off"', "loop.teacher_analysis=always", "run.name=always"])
    assert sum(_analyst_calls(always_dir).values()) > 0


def test_weak_share_0_writes_and_pays_its_report_only_for_a_tail(stub, make_config) -> None:
    """Stage 65: with `loop.weak_synth_share=0` a weak head cluster writes nothing, and the report, whose one reader
    is then the tail writer, is bought only in a round whose plan writes for a tail."""
    cfg = make_config(stub.base_url, name="tail-only", loop__near_duplicate=0.0)
    heads = [*WRITES[:3], "loop.tail_factor=0.01", "loop.weak_synth_share=0"]  # no cluster is a tail
    head_dir, head = run(cfg, [*heads, "run.name=heads"])
    assert not _synthetic_rounds(head) and sum(_analyst_calls(head_dir).values()) == 0
    assert all(d["synthesize"] == 0 for d in decisions(head_dir, "allocate"))
    weak_dir, weak = run(cfg, [*WRITES[:3], "loop.tail_factor=0.01", "loop.weak_synth_labels=any",
                               "run.name=weak"])  # the weak heads' quarter
    assert _synthetic_rounds(weak) and sum(_analyst_calls(weak_dir).values()) > 0
    tail_dir, tail = run(cfg, [*WRITES, "loop.weak_synth_share=0", "run.name=tails"])  # every cluster a tail
    assert _synthetic_rounds(tail)
    writing = {d["round"] for d in decisions(tail_dir, "allocate") if d["synthesize"] > 0}
    assert writing and set(_analyst_calls(tail_dir)) >= writing and all(_analyst_calls(tail_dir)[r] for r in writing)


def test_writer_check_fits_without_the_first_synthetic_texts_and_records_both(stub, make_config) -> None:
    cfg = make_config(stub.base_url, name="writer-check", loop__near_duplicate=0.0)
    run_dir, state = run(cfg, [*WRITES, "loop.writer_check=true"])
    check = state["writer_check"]
    first = min(_synthetic_rounds(state))
    assert check["round"] == first and check["metric"] == "macro_f1"
    assert check["synthetic"] == sum(1 for a in state["dataset"]
                                     if a.source == "synthetic" and a.round == first and a.weight > 0)
    assert isinstance(check["with"], float) and isinstance(check["without"], float)
    assert check["with"] == state["history"][first].dev["macro_f1"]  # the round's own fit, with the texts
    assert check["stopped"] == (check["with"] <= check["without"])
    assert [d["round"] for d in decisions(run_dir, "writer check")] == [first]  # once per run
    assert (run_dir / "adapters" / f"round-{first}-without-synthetic" / "adapter_config.json").exists()
    rows = (run_dir / "rounds" / f"round-{first}" / "dev_without_synthetic_predictions.jsonl").read_text().splitlines()
    assert len(rows) == len(state["dev_ids"]) and {json.loads(r)["id"] for r in rows} == set(state["dev_ids"])
    # the round's own fit started from the previous round's adapter, not from the check's: same as without the check
    _, plain = run(cfg, [*WRITES, "run.name=plain"])
    assert [m.dev for m in plain["history"][: first + 1]] == [m.dev for m in state["history"][: first + 1]]
    assert "writer_check" not in plain


def test_a_writer_check_that_fails_stops_synthesis_and_its_report(stub, make_config, monkeypatch) -> None:
    real = node_trainer.writer_check_fit

    def rigged(*args: Any, **kwargs: Any) -> dict[str, Any] | None:
        out = real(*args, **kwargs)
        return {**out, "without": 2.0} if out else out  # no dev metric beats 2.0: the texts "did not help"

    monkeypatch.setattr(node_trainer, "writer_check_fit", rigged)
    cfg = make_config(stub.base_url, name="writer-stop", loop__near_duplicate=0.0)
    run_dir, state = run(cfg, [*WRITES, "loop.writer_check=true"])
    first = state["writer_check"]["round"]
    assert state["writer_check"]["stopped"] is True
    assert len(state["history"]) > first + 1, "no round after the check"
    assert _synthetic_rounds(state) == {first}  # nothing written after the check
    later = [d for step in read_trace(run_dir) if step.get("node") == "analyst" and step["round"] > first
             for d in step.get("decisions", []) if d.get("what") == "allocate"]
    assert later and all(d["synthesize"] == 0 for d in later)
    assert all(n == 0 for r, n in _analyst_calls(run_dir).items() if r > first)  # no report without its reader
    assert any(a.source == "pool" and a.round > first for a in state["dataset"])  # the budget went to the pool


@pytest.mark.parametrize("synthesis", ["off", "only"])
def test_writer_check_runs_only_with_auto_synthesis(stub, make_config, synthesis) -> None:
    cfg = make_config(stub.base_url, name=f"writer-check-{synthesis}", loop__near_duplicate=0.0)
    run_dir, state = run(cfg, ["budget.max_calls=24", "loop.rounds=2", "loop.max_rounds=2", "loop.tail_factor=100",
                               "loop.writer_check=true", f'loop.synthesis="{synthesis}"'])
    assert "writer_check" not in state and not decisions(run_dir, "writer check")


def test_writer_check_every_checks_each_round_on_all_synthetic_texts_so_far(stub, make_config) -> None:
    cfg = make_config(stub.base_url, name="writer-every", loop__near_duplicate=0.0)
    run_dir, state = run(cfg, [*WRITES, "loop.writer_check=every"])
    check, rounds = state["writer_check"], _synthetic_rounds(state)
    first = min(rounds)
    checked = [d["round"] for d in decisions(run_dir, "writer check")]
    assert check["mode"] == "every" and checked == check["checked"] and checked[0] == first
    # one check per round that trains on synthetic texts, up to the one that stopped (or the last round)
    last = len(state["history"]) - 1
    assert checked == list(range(first, (check["round"] if check["stopped"] else last) + 1))
    assert check["synthetic"] == sum(1 for a in state["dataset"] if a.source == "synthetic" and a.round <= check["round"]
                                     and a.weight > 0)  # all of them so far, not only the round's
    for rnd in checked:
        assert (run_dir / "adapters" / f"round-{rnd}-without-synthetic" / "adapter_config.json").exists()
    assert check["with"] == state["history"][check["round"]].dev["macro_f1"]
    assert check["drops"] == check["stopped"]


@pytest.mark.parametrize("mode", ["every", "per_call"])
def test_a_stopped_every_check_also_leaves_the_synthetic_texts_out_of_training(stub, make_config, monkeypatch,
                                                                             mode) -> None:
    real = node_trainer.writer_check_fit

    def rigged(*args: Any, **kwargs: Any) -> dict[str, Any] | None:
        out = real(*args, **kwargs)
        return {**out, "without": 2.0} if out else out  # the texts "did not help"

    monkeypatch.setattr(node_trainer, "writer_check_fit", rigged)
    cfg = make_config(stub.base_url, name=f"writer-{mode}-stop", loop__near_duplicate=0.0)
    run_dir, state = run(cfg, [*WRITES, f"loop.writer_check={mode}"])
    check = state["writer_check"]
    first = check["round"]
    assert check["stopped"] and check["drops"] and check["checked"] == [first]
    assert len(state["history"]) > first + 1, "no round after the check"
    assert _synthetic_rounds(state) == {first}  # nothing written after it
    synthetic = sum(1 for a in state["dataset"] if a.source == "synthetic" and a.weight > 0)
    kept = sum(1 for a in state["dataset"] if a.weight > 0)
    assert synthetic > 0
    seed = _seed_labels(state)
    # the round that checked trained on them; every later round trains on the rest only
    assert state["history"][first].train_size == seed + sum(1 for a in state["dataset"]
                                                            if a.round <= first and a.weight > 0)
    assert state["history"][-1].train_size == seed + kept - synthetic


def _seed_labels(state: dict[str, Any]) -> int:
    """Seed labels trained on: the first round's training set less the dataset's labels of round 0."""
    return state["history"][0].train_size - sum(1 for a in state["dataset"] if a.round == 0 and a.weight > 0)


@pytest.mark.parametrize(("given", "read"), [(True, "first"), (False, "off"), ("every", "every")])
def test_writer_check_reads_the_old_true_false_as_first_off(given: Any, read: str) -> None:
    assert LoopConfig(writer_check=given).writer_check == read
    with pytest.raises(ValueError, match="writer_check"):
        LoopConfig(writer_check="sometimes")


def test_writer_check_per_call_also_fits_without_as_many_calls_of_pool_labels(stub, make_config) -> None:
    cfg = make_config(stub.base_url, name="writer-per-call", loop__near_duplicate=0.0)
    run_dir, state = run(cfg, [*WRITES, "loop.writer_check=per_call"])
    checks = decisions(run_dir, "writer check")
    assert checks and [d["round"] for d in checks] == state["writer_check"]["checked"]
    for d in checks:
        rnd = d["round"]
        synthetic = sum(1 for a in state["dataset"] if a.source == "synthetic" and a.round <= rnd and a.weight > 0)
        first = min(a.round for a in state["dataset"] if a.source == "synthetic")
        pool = sum(1 for a in state["dataset"] if a.source == "pool" and first <= a.round <= rnd and a.weight > 0)
        assert d["synthetic"] == synthetic and d["calls"] > synthetic  # the writer's calls and one label each
        assert d["pool"] == min(d["calls"], pool)
        assert d["stopped"] == (d["without_pool"] <= d["without"])
        assert (run_dir / "adapters" / f"round-{rnd}-without-pool" / "adapter_config.json").exists()
        assert (run_dir / "rounds" / f"round-{rnd}" / "dev_without_pool_predictions.jsonl").exists()
    # the same draw on a re-run: the pool labels left out are seeded by the run seed and round
    _, again = run(cfg, [*WRITES, "loop.writer_check=per_call", "run.name=again"])
    assert again["writer_check"] == state["writer_check"]


@pytest.mark.parametrize(("without", "without_pool", "stopped"), [
    (0.5, 0.6, False),   # leaving the texts out costs more than leaving out as many calls of pool labels: go on
    (0.6, 0.5, True),    # the pool labels were worth more: stop
    (0.5, 0.5, True),    # a tie does not pay for the writer
    (0.5, None, True)])  # no figure: stop
def test_writer_check_per_call_verdict_weighs_the_texts_against_the_pool_labels(without, without_pool, stopped) -> None:
    seen: list[dict[str, Any]] = []
    deps = SimpleNamespace(trace=SimpleNamespace(decision=lambda what, **kw: seen.append(kw)))
    check = {"metric": "macro_f1", "mode": "per_call", "without": without, "without_pool": without_pool}
    record = node_trainer.writer_check_verdict(deps, check, {"macro_f1": 0.9})  # type: ignore[arg-type]
    assert record["stopped"] is stopped and record["drops"] is stopped and seen[0]["stopped"] is stopped
    every = node_trainer.writer_check_verdict(deps, {**check, "mode": "every"}, {"macro_f1": 0.9})  # type: ignore[arg-type]
    assert every["stopped"] is False  # every only asks whether the texts raised dev (0.9 with them)


def test_every_writer_check_setting_has_its_mode_class() -> None:
    assert set(typing.get_args(LoopConfig.model_fields["writer_check"].annotation)) == set(CHECKS)
    assert {n for n, c in CHECKS.items() if c.drops} == {"every", "per_call"}
    assert {n for n, c in CHECKS.items() if c.against_pool} == {"per_call"}
    assert [n for n, c in CHECKS.items() if c.due({})] == ["first", "every", "per_call"]  # off is never due
    assert [n for n, c in CHECKS.items() if c.due({"stopped": False, "round": 1})] == ["every", "per_call"]


def test_rare_weak_writers_pay_the_report_only_when_their_plan_writes(stub, make_config, monkeypatch) -> None:
    """Stage 66: with `weak_synth_labels: rare` and no label short, no weak cluster writes and no report is bought;
    with every label short and missed everywhere, weak clusters write and the report is bought where the plan
    writes."""
    from distillgraph.agents import analyst

    cfg = make_config(stub.base_url, name="rare", loop__near_duplicate=0.0)
    heads = [*WRITES[:3], "loop.tail_factor=0.01", "loop.weak_synth_labels=rare"]  # no cluster is a tail
    monkeypatch.setattr(analyst, "rare_labels", lambda counts, labels, factor=0.5: set())
    none_dir, none = run(cfg, [*heads, "run.name=none-short"])
    assert not _synthetic_rounds(none) and sum(_analyst_calls(none_dir).values()) == 0
    monkeypatch.setattr(analyst, "rare_labels", lambda counts, labels, factor=0.5: set(labels))
    monkeypatch.setattr(node_analyst, "writer_missed_labels",
                        lambda deps, state: {c: deps.cfg.task.label_names for c in range(50)})
    all_dir, every = run(cfg, [*heads, "run.name=all-short"])
    writing = {d["round"] for d in decisions(all_dir, "allocate") if d["synthesize"] > 0}
    assert _synthetic_rounds(every) and writing and all(_analyst_calls(all_dir).get(r) for r in writing)
