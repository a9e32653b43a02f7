"""bench.teacher_quality's pure parts: the gate is chosen on dev only, the noise table pairs seeds, and the demo /
generation entries read a finished run (metrics.json + trace) and render with their timing."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench import teacher_quality as tq


def key(gate: dict[str, Any]) -> tuple:
    return tuple(sorted(gate.items()))


def fake_noise_run(dev_gain: dict[tuple, float], test_gain: dict[tuple, float]):
    """noise_run stand-in: ungated dev 0.70 / test 0.80 (noise-free 0.90), a gate adds its gain."""
    calls: list[Any] = []

    def run(rate: float, seed: int, budget: int, gate: dict[str, Any] | None) -> dict[str, Any]:
        calls.append((rate, seed, gate))
        key = tuple(sorted(gate.items())) if gate else None
        clean = rate == 0
        dev = 0.9 if clean else 0.70 + (dev_gain.get(key, 0.0) if key else 0.0)
        test = 0.9 if clean else 0.80 + (test_gain.get(key, 0.0) if key else 0.0) + 0.001 * seed
        return {"rate": rate, "seed": seed, "gated": gate is not None, "gate": gate, "dev_macro_f1": dev,
                "macro_f1": test}

    run.calls = calls  # type: ignore[attr-defined]
    return run


def test_gate_is_chosen_on_dev_never_on_test(monkeypatch) -> None:
    # dev favours the third grid setting; test would favour the first: the choice must follow dev
    dev_best, test_best = tq.GATE_GRID[2], tq.GATE_GRID[0]
    run = fake_noise_run({key(dev_best): 0.05, key(test_best): 0.01}, {key(test_best): 0.2})
    monkeypatch.setattr(tq, "noise_run", run)
    out = tq.gate_tuning([0.2, 0.3], [100, 101], budget=40)
    assert out["chosen"] == dev_best
    assert {s for _, s, _ in run.calls} == {100, 101}          # tuning seeds only
    row = next(r for r in out["table"] if r["gate"] == dev_best)
    assert row["dev_gain"] == pytest.approx(0.05) and row["wins"] == row["n"] == 4
    assert len(out["table"]) == len(tq.GATE_GRID)


def test_noise_sweep_pairs_seeds_and_measures_the_recovered_share(monkeypatch) -> None:
    monkeypatch.setattr(tq, "noise_run", fake_noise_run({}, {key({"mode": "drop", "threshold": 0.5}): 0.05}))
    out = tq.noise_sweep([0.0, 0.2], [0, 1, 2], budget=40, gate={"mode": "drop", "threshold": 0.5})
    row = out["noise"]["0.2"]
    # noise costs 0.9 - 0.801 = 0.099; the gate wins back 0.05 of it
    assert row["recovered"] == pytest.approx(0.05 / (0.9 - 0.801), abs=1e-3)
    assert row["paired"]["diff"] == pytest.approx(0.05) and row["paired"]["wins"] == 3 and row["paired"]["n"] == 3
    assert out["noise_setup"]["gate"] == {"mode": "drop", "threshold": 0.5}
    md = tq.markdown({**{k: out[k] for k in ("noise", "noise_free", "noise_setup")}})
    assert "SIMULATION" in md and "+5.0 [" in md and "3/3" in md


def write_run(tmp_path: Path, rounds: list[dict[str, Any]], steps: list[tuple[str, float]]) -> Path:
    run = tmp_path / "runs" / "bbc-x"
    (run / "report").mkdir(parents=True)
    best = max(rounds, key=lambda r: r["dev"].get("macro_f1", 0))
    (run / "report" / "metrics.json").write_text(json.dumps({"rounds": rounds, "stop_reason": "reached max",
                                                             "best_round": {"round": best["round"], "test": best["test"]}}))
    (run / "trace.jsonl").write_text("\n".join(json.dumps({"step": i, "node": n, "seconds": s})
                                               for i, (n, s) in enumerate(steps)))
    return run


def test_demo_entry_reads_the_run_and_renders_its_timing(tmp_path) -> None:
    rounds = [{"round": i, "train_size": 10 * (i + 1), "budget_spent": {"calls": 20.0 * i},
               "dev": {"macro_f1": [0.5, 0.7, 0.6][i]}, "test": {"macro_f1": 0.6 + 0.1 * i}} for i in range(3)]
    run = write_run(tmp_path, rounds, [("trainer", 10.0), ("annotator", 90.5), ("annotator", 80.0), ("trainer", 5.0)])
    timing = {"wall_seconds": 540.0, "load_average_1m_before": 0.4, "load_average_1m_after": 1.9, "cores": 2}
    entry = tq.demo_entry(run, timing)
    assert entry["round0_test_macro_f1"] == 0.6 and entry["final_test_macro_f1"] == pytest.approx(0.8)
    assert (entry["best_dev_round"], entry["best_dev_round_test_macro_f1"]) == (1, pytest.approx(0.7))
    assert entry["node_seconds"] == {"trainer": 15.0, "annotator": 170.5}
    md = tq.markdown({"demo": entry})
    assert "9.0 min on 2 cores" in md and "annotator 170 s, trainer 15 s" in md
    assert "ships the best dev round's student: round 1, 0.7000" in md


def test_generation_entry_reports_chrf_per_round(tmp_path) -> None:
    rounds = [{"round": i, "train_size": 4 + i, "budget_spent": {"calls": 10.0 * i},
               "dev": {"chrf": 20.0 + i, "rougeL": 0.1}, "test": {"chrf": 21.0 + 2 * i, "rougeL": 0.2 + i / 100,
                                                                  "worst_cluster": 15.0}} for i in range(3)]
    entry = tq.generation_entry(write_run(tmp_path, rounds, [("trainer", 1.0)]))
    assert (entry["round0_test_chrf"], entry["final_test_chrf"]) == (21.0, 25.0)
    assert entry["curve"][2]["test_rougeL"] == pytest.approx(0.22) and entry["curve"][0]["test_worst_cluster_chrf"] == 15
    md = tq.markdown({"generation": entry})
    assert "| 2 | 6 | 20.0 | 22.00 | 25.00 | 0.2200 | 15.00 |" in md


def test_distill_table_and_speedup() -> None:
    row = {"student_accuracy": 0.9, "student_macro_f1": 0.88, "calls": 59.0, "train_size": 53,
           "train_by_source": {"seed": 10, "pool": 40, "synthetic": 3}, "teacher_seconds_per_label": 6.0}
    distill = {"60": {"random": {**row, "student_accuracy": 0.7, "teacher_seconds_per_label": 4.0}, "mixed": row}}
    sp = tq.speed(distill, 0.01)
    assert sp == {"teacher_seconds_per_label": 5.0, "student_seconds_per_example": 0.01, "student_speedup": 500.0}
    assert tq.speed(distill, 0.0) == {}
    md = tq.markdown({"distill": distill, **sp, "embedded_teacher": None})
    assert "| 60 | random | 0.7000 | 0.8800 | 59 | 53 (seed 10, pool 40, synthetic 3) | 4.0 |" in md
    assert "10.0 ms, 500x faster" in md
    md = tq.markdown({"distill": distill, "distill_notes": ["the planner is not the cause"], "embedded_teacher": None})
    assert "Note: the planner is not the cause" in md.split("| 60 | mixed |")[1]  # under the table


def test_pool_label_accuracy_checks_bought_pool_labels_against_gold() -> None:
    from distillgraph.agents.records import Annotation
    from distillgraph.graph.config import load_config
    from distillgraph.store.datasets import pool_gold

    cfg = load_config(tq.EXAMPLE, [])
    gold = pool_gold(cfg.data.bbc, cfg.task)
    (a, la), (b, lb) = list(gold.items())[:2]
    wrong = next(lab for lab in cfg.task.labels if lab != lb)
    dataset = [Annotation(id=a, target=la, cluster=0, source="pool", round=1),
               Annotation(id=b, target=wrong, cluster=0, source="pool", round=1),
               Annotation(id="synthetic-1", target=wrong, cluster=0, source="synthetic", round=1, text="x"),
               Annotation(id=b, target=wrong, cluster=0, source="seed", round=0)]
    assert tq.pool_label_accuracy(dataset, cfg) == {"teacher_pool_label_accuracy": 0.5, "pool_labels_checked": 2,
                                                    "gate_dropped": 0, "gate_dropped_wrong": 0}
    assert tq.pool_label_accuracy(dataset[2:], cfg) == {}
    dataset[0].weight = dataset[1].weight = 0.0  # both gated out: one right, one wrong
    row = tq.pool_label_accuracy(dataset, cfg)
    assert (row["gate_dropped"], row["gate_dropped_wrong"]) == (2, 1)
    assert tq.pool_right(row).endswith("; gate dropped 2 (1 wrong)")
    assert "gate dropped" not in tq.pool_right({"teacher_pool_label_accuracy": 0.5, "pool_labels_checked": 2})


def test_demo_repeats_count_the_goal_per_seed() -> None:
    """+20 points over round 0 and at least the audited teacher: one seed meets it, one misses each part."""
    runs = [{"seed": 0, "round0_test_macro_f1": 0.60, "final_test_macro_f1": 0.85, "teacher_audit_accuracy": 0.80},
            {"seed": 1, "round0_test_macro_f1": 0.70, "final_test_macro_f1": 0.85, "teacher_audit_accuracy": 0.80},
            {"seed": 2, "round0_test_macro_f1": 0.50, "final_test_macro_f1": 0.75, "teacher_audit_accuracy": 0.90,
             "timing": {"wall_seconds": 600, "load_average_1m_before": 0.4, "load_average_1m_after": 2.04},
             "best_dev_round": 2, "best_dev_round_test_macro_f1": 0.78, "annotator_prompt": "v3"}]
    text = "\n".join(tq.demo_repeats_text(runs))
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [row.split(" | ")[5] for row in rows] == ["yes", "no", "no"]
    assert "| 2 | 0.5000 | 0.7500 | +25.0 | 0.900 | no | 10.0 (600 s) (load 0.4-2.0) | round 2, 0.7800 | v3 |" in rows
    assert rows[0].endswith("| - | - | - |")  # no timing, no exported round, no template recorded
    assert "Goal met on 1 of 3 seeds; mean gain +21.7 points (range +15.0 to +25.0)" in text


def test_demo_repeat_sets_the_seed_and_split(monkeypatch, tmp_path) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(tq, "timed_example", lambda ex, overrides=None: (seen.append((ex, overrides)), (tmp_path, {}))[1])
    monkeypatch.setattr(tq, "demo_entry", lambda run_dir, timing: {
        "round0_test_macro_f1": 0.6, "final_test_macro_f1": 0.7, "teacher_audit_accuracy": None})
    assert tq.demo_repeat(3)["seed"] == 3
    assert seen == [("examples/bbc-topic.yaml", ["run.seed=3", "data.bbc.split_seed=3", "run.name=demo-seed3"])]


def test_gate_check_sets_the_two_runs_side_by_side(tmp_path) -> None:
    def rounds(dev: list[float], test: list[float], train: list[int]) -> list[dict[str, Any]]:
        return [{"round": i, "train_size": train[i], "budget_spent": {"calls": 30.0 * i}, "dev": {"macro_f1": dev[i]},
                 "test": {"macro_f1": test[i]}} for i in range(2)]
    ungated = write_run(tmp_path / "u", rounds([0.5, 0.6], [0.55, 0.62], [10, 30]), [("trainer", 1.0)])
    gated = write_run(tmp_path / "g", rounds([0.5, 0.7], [0.55, 0.71], [10, 26]), [("trainer", 1.0)])
    for run, gate in ((ungated, {"mode": "off", "w_model": 0.0}), (gated, {"mode": "drop", "w_model": 1.0})):
        (run / "config.resolved.yaml").write_text(json.dumps({"run": {"seed": 0}, "teacher": {"gate": gate}}))
    check = tq.gate_check(ungated, gated)
    assert [r["dev_macro_f1"] for r in check["gated"]] == [0.5, 0.7] and check["ungated"][1]["train"] == 30
    text = "\n".join(tq.gate_check_text(check))
    assert "| 1 | 30, 0.6000, 0.6200 | 26, 0.7000, 0.7100 |" in text and "noise simulation" in text


def test_the_simulations_run_todays_defaults_not_the_sample_efficiency_pin(monkeypatch) -> None:
    """The noise and synthesis sweeps once inherited sample_efficiency's error_boost=30 pin; they must follow
    the config default (the one users get), while sample_efficiency keeps its pin for older comparisons."""
    from bench import sample_efficiency as se
    from distillgraph.graph.config import LoopConfig

    assert tq.sweep_config(40, 0, []).loop.error_boost == LoopConfig().error_boost
    assert se.run_config("distillgraph", 40, 0).loop.error_boost == 30.0
    seen: list[Any] = []
    last = SimpleNamespace(test={"macro_f1": 0.5, "worst_cluster": 0.4}, dev={"macro_f1": 0.6, "worst_cluster": 0.3})
    monkeypatch.setattr(tq, "final_round", lambda cfg: (seen.append(cfg), last)[1])
    out = tq.synthesis_sweep([40], [0, 1], workers=1)
    assert out["40"]["per_seed"]["select_synth"] == {"0": {"macro_f1": 0.5, "worst_cluster_acc": 0.4},
                                                     "1": {"macro_f1": 0.5, "worst_cluster_acc": 0.4}}
    assert len(seen) == 6 and out["40"]["paired"]["n_seeds"] == 2
    assert seen and all(cfg.loop.error_boost == LoopConfig().error_boost for cfg in seen)


def test_prompt_clip_variants_edit_only_the_clip_lengths_and_the_rule_keeps_the_shortest_close_one(tmp_path) -> None:
    from bench import prompt_clip
    from distillgraph.prompts import PACKAGED_DIR, PromptLibrary

    folder = prompt_clip.variant_dir(tmp_path, 7, 11)
    tpl = PromptLibrary(folder).get("annotator")
    assert tpl.hash != PromptLibrary().get("annotator").hash
    packaged = (PACKAGED_DIR / "annotator.yaml").read_text(encoding="utf-8").splitlines()
    edited = (folder / "annotator.yaml").read_text(encoding="utf-8").splitlines()
    assert [b for a, b in zip(packaged, edited, strict=True) if a != b] == [
        "  {{ d.text | clip(7) | delimit }}", "  {{ text | clip(11) | delimit }}"]
    rows = {"long": {"right": ["a", "b", "c"]}, "mid": {"right": ["a", "b", "d"]}, "short": {"right": ["a"]}}
    assert prompt_clip.choose(rows) == "mid"  # short loses two articles: too many
    assert (rows["mid"]["gained"], rows["mid"]["lost"]) == (1, 1)
    rows["short"]["right"] = ["a", "c"]
    assert prompt_clip.choose(rows) == "short"


def test_a_run_says_which_annotator_template_it_used(tmp_path) -> None:
    from distillgraph.prompts import PromptLibrary

    tpl = PromptLibrary().get("annotator")

    def run_with(events: list[dict[str, Any]]) -> Path:
        run = tmp_path / str(len(list(tmp_path.iterdir())))
        run.mkdir()
        (run / "trace.jsonl").write_text(json.dumps({"step": 1, "node": "annotator", "events": events}) + "\n")
        return run

    def label(prompt_hash: str) -> dict[str, Any]:
        return {"kind": "teacher", "prompt": "annotator", "prompt_hash": prompt_hash}

    assert tq.annotator_prompt(run_with([label(tpl.hash)])) == f"v{tpl.version}"
    assert tq.annotator_prompt(run_with([{"kind": "teacher", "prompt": "analyst"}, label("0" * 16)])) == "earlier"
    assert tq.annotator_prompt(run_with([])) == "-"


def test_nearest_seed_jobs_show_each_text_its_closest_gold_seeds() -> None:
    from types import SimpleNamespace as E

    seeds = [E(id=f"s{i}", text=t, target=lab) for i, (t, lab) in enumerate([
        ("The striker scored twice in the cup final.", "sport"), ("Shares fell as the bank cut its forecast.", "business"),
        ("The goalkeeper saved a penalty in extra time.", "sport"), ("The central bank raised interest rates.", "business")])]
    jobs = tq.nearest_seed_jobs([E(id="x", text="Interest rates and bank profits dominated the markets.")], seeds, k=2)
    assert [j.candidate.id for j in jobs] == ["x"] and jobs[0].text.startswith("Interest rates")
    assert {d["target"] for d in jobs[0].demonstrations} == {"business"}  # the two bank texts, not the football
    assert set(jobs[0].demonstrations[0]) == {"id", "text", "target"}


def test_the_demonstrations_check_labels_the_same_dev_articles_with_each_count(monkeypatch) -> None:
    from types import SimpleNamespace as E

    from bench import prompt_clip

    dev = [E(id=f"d{i}", text=f"text {i}", target="sport" if i % 2 else "business") for i in range(4)]
    monkeypatch.setattr(prompt_clip, "demo_split", lambda: (None, {"dev": dev, "seed": ["s"]}))
    monkeypatch.setattr(prompt_clip, "stratified", lambda items, n: items[:n])
    monkeypatch.setattr(prompt_clip, "build_teacher", lambda *a, **k: E(close=lambda: None))
    shown: list[tuple[int, list[str]]] = []
    monkeypatch.setattr(prompt_clip, "nearest_seed_jobs", lambda items, seeds, k: [(k, e.id) for e in items])

    def timed(teacher, jobs, task, prompts, gold, per_item):
        k = jobs[0][0]
        shown.append((k, [i for _, i in jobs]))
        return {"accuracy": 1.0, "right": [i for _, i in jobs][: 4 if k == 3 else 3]}  # 2 demos: one article less

    monkeypatch.setattr(prompt_clip, "timed_label", timed)
    got = prompt_clip.demos_check(4, [3, 2])
    assert shown == [(3, ["d0", "d1", "d2", "d3"]), (2, ["d0", "d1", "d2", "d3"])]  # the same articles, paired
    assert got["chosen"] == "2 demonstrations" and got["variants"]["2 demonstrations"]["lost"] == 1


def test_generator_totals_sum_the_generator_steps_of_a_trace(tmp_path):
    from bench.teacher_quality import generator_totals

    steps = [{"step": 1, "node": "generator", "summary": {"selected": 3, "synthesized": 2, "synthesis_short": 1}},
             {"step": 2, "node": "annotator", "summary": {"selected": 99}},
             {"step": 3, "node": "generator", "summary": {"selected": 4, "synthesized": 0, "synthesis_short": 2,
                                               "synthesis_short_filled_from_pool": 2, "seconds": 1.5}}]
    (tmp_path / "trace.jsonl").write_text("".join(json.dumps(s) + "\n" for s in steps))
    assert generator_totals(tmp_path) == {"selected": 7, "synthesized": 2, "synthesis_short": 3,
                                          "synthesis_short_filled_from_pool": 2}


def test_distill_seeds_pair_seed_zero_from_the_distill_rows_and_skip_finished_runs(monkeypatch, tmp_path) -> None:
    results = tmp_path / "teacher_quality.json"
    results.write_text(json.dumps({"distill": {"120": {"random": {"student_macro_f1": 0.90},
                                                       "mixed": {"student_macro_f1": 0.85}}}}), encoding="utf-8")
    monkeypatch.setattr(tq, "RESULTS", results)
    ran: list[tuple] = []

    def run(budget: int, arm: str, seed: int) -> dict[str, Any]:
        ran.append((budget, arm, seed))
        return {"student_macro_f1": {"random": 0.80, "mixed": 0.86}[arm] + 0.01 * seed}

    monkeypatch.setattr(tq, "distill_seed_run", run)
    tq.distill_seeds(120, ["random", "mixed"], [1, 2])
    tq.distill_seeds(120, ["random", "mixed"], [1, 2, 3])  # 1 and 2 are stored: only seed 3 runs
    assert ran == [(120, a, s) for s in (1, 2) for a in ("random", "mixed")] + [(120, "random", 3), (120, "mixed", 3)]
    data = json.loads(results.read_text(encoding="utf-8"))
    pair = tq.seed_pairs(data, "120", "mixed")
    assert pair["seeds"] == [0, 1, 2, 3] and pair["n"] == 4 and pair["wins"] == 3
    assert pair["diff"] == pytest.approx((-0.05 + 3 * 0.06) / 4)
    text = "\n".join(tq.seed_pairs_text(data))
    assert "| 120 | 0, 1, 2, 3 | 0.850 / 0.870 / 0.880 / 0.890 | 0.900 / 0.810 / 0.820 / 0.830 | +3.2" in text
    assert "| 3/4 | 5.5 | 11.4 | 29 / 12 | not recorded (before 2026-12-02) / not recorded (before 2026-12-02) |" in text
    # the differences -0.05, +0.06, +0.06, +0.06: sd 0.055; (t_.975,3 + t_.8,3) x 0.055 / 2 = 11.4 points
    assert pair["sd"] == pytest.approx(0.055) and pair["seeds_for"] == {"3": 29, "5": 12}
    assert tq.seed_pairs({"distill": {"120": {"random": {"student_macro_f1": 0.9}}}}, "120", "mixed") is None


def test_the_synthesis_goal_is_checked_against_the_probes_ceiling_on_the_split() -> None:
    """The goal needs select-only's mean + 3 macro-F1 / + 10 worst-cluster points; where that is above the
    probe fitted on the whole pool plus every reserve text, the table says it cannot be reached."""
    arm = {"macro_f1": {"mean": 0.80, "std": 0.0}, "worst_cluster_acc": {"mean": 0.85, "std": 0.0}}
    synthesis = {"80": {"select_only": arm}, "40": {"select_only": {**arm, "worst_cluster_acc": {"mean": 0.70}}}}
    ceiling = {"seeds": [0, 1], "pool": {"macro_f1": {"mean": 0.9}, "worst_cluster_acc": {"mean": 0.88}},
               "pool_reserve": {"macro_f1": {"mean": 0.95}, "worst_cluster_acc": {"mean": 0.90}}}
    rows = tq.synthesis_reach(synthesis, ceiling)
    assert [(r["budget"], r["metric"], r["needed"], r["reachable"]) for r in rows] == [
        (40, "macro_f1", 0.83, True), (40, "worst_cluster_acc", 0.8, True),
        (80, "macro_f1", 0.83, True), (80, "worst_cluster_acc", 0.95, False)]
    text = "\n".join(tq.synthesis_reach_text({"synthesis": synthesis, "synthesis_ceiling": ceiling,
                                              "synthesis_setup": {"seeds": [1, 0]}}))
    assert "| 80 | worst_cluster_acc | 0.8500 | 0.9500 | 0.9000 | **no** |" in text and "the table's" in text
    other = "\n".join(tq.synthesis_reach_text({"synthesis": synthesis, "synthesis_ceiling": ceiling}))
    assert "not known to be the table's" in other
    assert tq.synthesis_reach_text({"synthesis": synthesis}) == []


def test_the_dev_test_gap_pairs_each_seeds_synthesis_gain_on_dev_and_on_test() -> None:
    def row(seed: int, arm: str, dev: float, test: float) -> dict[str, Any]:
        return {"budget": 40, "seed": seed, "arm": arm, "dev_macro_f1": dev, "dev_worst_cluster": dev - 0.1,
                "macro_f1": test, "worst_cluster_acc": test - 0.1}

    # synthesis gains 0.10 on dev and 0.02 on test at every seed; one seed lacks its select+synth run
    rows = [r for s in range(5) for r in (row(s, "select_only", 0.70, 0.70), row(s, "select_synth", 0.80, 0.72))]
    rows.append(row(9, "select_only", 0.5, 0.5))
    gap = tq.dev_test_gap(rows, 40)
    for metric in ("macro_f1", "worst_cluster"):
        assert gap[metric]["dev_gain"]["diff"] == pytest.approx(0.10) and gap[metric]["dev_gain"]["n"] == 5
        assert gap[metric]["test_gain"]["diff"] == pytest.approx(0.02) and gap[metric]["test_gain"]["wins"] == 5
        assert gap[metric]["dev_minus_test"]["diff"] == pytest.approx(0.08)
    with pytest.raises(ValueError):  # no run at that budget
        tq.dev_test_gap(rows, 80)
    text = "\n".join(tq.synthesis_dev_gap_text({"synthesis_dev_gap": {"seeds": list(range(5)),
                                                                     "by_budget": {"40": gap}}}))
    assert "| 40 | macro_f1 | +10.0 [+10.0, +10.0] 5/5 | +2.0 [+2.0, +2.0] 5/5 | +8.0 [+8.0, +8.0] 5/5 |" in text
    assert tq.synthesis_dev_gap_text({}) == []


def _synthesis_entry(values: dict[int, float]) -> dict[str, Any]:
    per_seed = {str(s): {"macro_f1": v, "worst_cluster_acc": v - 0.1} for s, v in values.items()}
    mean = sum(values.values()) / len(values)
    return {"select_synth": {"macro_f1": {"mean": mean}, "worst_cluster_acc": {"mean": mean - 0.1}},
            "per_seed": {"select_synth": per_seed}}


def test_the_anchor_table_pairs_todays_synthesis_runs_with_each_earlier_steering(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tq, "RESULTS", tmp_path / "teacher_quality.json")
    old = {"synthesis": {"40": _synthesis_entry({0: 0.70, 1: 0.80, 2: 0.90})}, "synthesis_setup": {"seeds": [0, 1, 2]},
           "synthesis_dev_gap": {"by_budget": {"40": {"macro_f1": {"dev_minus_test": {
               "diff": 0.05, "ci_low": 0.01, "ci_high": 0.09, "wins": 3, "n": 3}}}}}}
    tq.keep_previous_anchor(old)  # stored before the settings existed: dev anchoring, no missed labels
    dev_key = "hard_anchor=dev, missed_labels=false"
    kept = tq.stored()["synthesis_earlier"]
    assert list(kept) == [dev_key] and kept[dev_key]["synthesis"] == old["synthesis"] and kept[dev_key]["seeds"] == [0, 1, 2]
    stage25 = {"synthesis": {"40": _synthesis_entry({0: 0.6, 1: 0.6, 2: 0.6})},
               "synthesis_setup": {"hard_anchor": "labelled"}, "synthesis_earlier": kept}
    tq.keep_previous_anchor(stage25)  # another steering: kept beside the first
    assert set(tq.stored()["synthesis_earlier"]) == {dev_key, "hard_anchor=labelled, missed_labels=false"}
    today = {"synthesis_setup": tq.todays_steering()}
    # a table stored before weak_synth_labels was recorded wrote for every weak cluster (any): not today's steering
    assert tq.steering({"hard_anchor": "dev_half", "missed_labels": True}) != tq.steering(tq.todays_steering())
    assert tq.steering({"hard_anchor": "dev_half", "missed_labels": True}) == "hard_anchor=dev_half, missed_labels=true"
    tq.keep_previous_anchor({**stage25, **today, "synthesis_earlier": tq.stored()["synthesis_earlier"]})
    assert len(tq.stored()["synthesis_earlier"]) == 2  # today's own steering is not "earlier"
    data = {"synthesis": {"40": _synthesis_entry({0: 0.72, 1: 0.81, 2: 0.88, 7: 0.5})}, **today,
            "synthesis_earlier": {dev_key: kept[dev_key]}}
    rows = tq.anchor_comparison(data)
    assert [(r["against"], r["budget"], r["metric"]) for r in rows] == [(dev_key, 40, "macro_f1"),
                                                                        (dev_key, 40, "worst_cluster_acc")]
    assert rows[0]["diff"]["n"] == 3 and rows[0]["diff"]["diff"] == pytest.approx(0.0033, abs=1e-4)
    assert rows[0]["diff"]["wins"] == 2 and rows[0]["gap_previous"]["diff"] == 0.05 and rows[0]["gap_now"] is None
    text = "\n".join(tq.anchor_text(data))
    assert f"| 40 | macro_f1 | `{dev_key}` | 0.7275 | 0.8000 | +0.3 [" in text and "+5.0 [+1.0, +9.0] 3/3 |" in text
    assert f"today (`{tq.steering(today['synthesis_setup'])}`)" in text and "dev_half" in text
    assert tq.anchor_text({"synthesis": data["synthesis"]}) == []


def test_the_dev_sweep_of_synthesis_variants_keeps_dev_only_and_refuses_test_seeds(monkeypatch) -> None:
    seen: list[Any] = []

    from distillgraph.graph.node_tools import shown_dev

    def final(cfg: Any) -> Any:
        seen.append(cfg)
        synth = cfg.loop.synthesis != "off"
        value = 0.5 + 0.1 * synth + 0.05 * (synth and cfg.loop.missed_labels) + cfg.run.seed / 1000
        last = SimpleNamespace(dev={"macro_f1": value, "worst_cluster": value - 0.2}, test={"macro_f1": 0.99})
        # select-only is right on the held half of dev only, a synthesis variant on the shown half only
        names = cfg.task.label_names
        rows = [{"id": f"d{i}", "gold": names[i % 2], "cluster": 0} for i in range(8)]
        for r in rows:
            r["pred"] = r["gold"] if (not shown_dev(r["id"])) != synth else "other"
        return {"history": [last], "dev_predictions": rows}

    monkeypatch.setattr(tq, "final_state", final)
    out = tq.synthesis_dev_sweep([40], [100, 101], ["select_only", "labelled", "labelled_missed"], workers=1)
    assert len(seen) == 6 and {c.run.seed for c in seen} == {100, 101}
    assert {c.loop.hard_anchor for c in seen if c.loop.synthesis != "off"} == {"labelled"}
    row = out["by_budget"]["40"]
    assert row["select_only"]["dev_macro_f1"]["mean"] == pytest.approx(0.6005, abs=1e-4)
    assert row["labelled_missed"]["vs_select_only"]["dev_macro_f1"]["diff"] == pytest.approx(0.15)
    assert row["labelled"]["vs_select_only"]["dev_worst_cluster"]["wins"] == 2
    assert "0.99" not in json.dumps(out)  # nothing of test is kept
    held = {v: row[v]["held_macro_f1"]["mean"] for v in ("select_only", "labelled")}
    assert held["select_only"] == pytest.approx(2 / len(seen[0].task.label_names)) and held["labelled"] == 0.0
    assert 0 < out["runs"][0]["held_n"] < 8
    assert row["labelled"]["vs_select_only"]["held_macro_f1"]["wins"] == 0
    with pytest.raises(SystemExit, match="test seeds"):
        tq.synthesis_dev_sweep([40], [3, 100], ["select_only"], workers=1)


def test_the_dev_sweep_counts_how_often_the_writer_check_stopped_synthesis(monkeypatch) -> None:
    def final(cfg: Any) -> Any:
        mode = cfg.loop.writer_check
        value = 0.6 + (0.05 if cfg.loop.synthesis != "off" else 0.0) - (0.02 if mode != "off" else 0.0)
        last = SimpleNamespace(dev={"macro_f1": value, "worst_cluster": value}, test={})
        state: dict[str, Any] = {"history": [last] * 3, "dev_predictions": [], "dataset": []}  # rounds 0-2
        if mode == "first":  # seed 100 stops, seed 101 goes on
            state["writer_check"] = {"round": 1, "with": 0.6, "without": 0.7 - (cfg.run.seed - 100) * 0.2,
                                     "stopped": cfg.run.seed == 100}
        elif mode == "every":  # seed 100 stops in round 1, seed 101 only in the last round (2): too late to matter
            stop = 1 if cfg.run.seed == 100 else 2
            state["writer_check"] = {"round": stop, "with": 0.6, "without": 0.7, "stopped": True,
                                     "checked": list(range(1, stop + 1))}
        return state

    monkeypatch.setattr(tq, "final_state", final)
    variants = ["select_only", "dev_half_missed", "writer_check", "bad_writer_check", "writer_every"]
    out = tq.synthesis_dev_sweep([40], [100, 101], variants, workers=1)
    row = out["by_budget"]["40"]
    assert row["writer_check"]["writer_check"] == {"checked": 2, "stopped": 1, "stopped_before_last": 1, "runs": 2}
    assert row["bad_writer_check"]["writer_check"]["stopped"] == 1
    assert row["writer_every"]["writer_check"] == {"checked": 2, "stopped": 2, "stopped_before_last": 1, "runs": 2}
    assert "writer_check" not in row["dev_half_missed"] and "writer_check" not in row["select_only"]
    assert row["writer_check"]["vs_dev_half_missed"]["dev_macro_f1"]["diff"] == pytest.approx(-0.02)
    assert row["writer_check"]["vs_select_only"]["dev_macro_f1"]["diff"] == pytest.approx(0.03)
    assert "vs_dev_half_missed" not in row["dev_half_missed"]
    bad = [r for r in out["runs"] if r["variant"] == "bad_writer_check"]
    assert bad and all(r["writer_check"]["round"] == 1 and r["writer_check"]["checked"] == [1] for r in bad)
    assert {r["seed"]: r["writer_check"]["checked"] for r in out["runs"] if r["variant"] == "writer_every"} == {
        100: [1], 101: [1, 2]}


def test_the_dev_sweep_reuses_runs_it_is_given_and_runs_only_the_rest(monkeypatch) -> None:
    ran: list[tuple[str, int]] = []

    def final(cfg: Any) -> Any:
        ran.append((cfg.run.name, cfg.run.seed))
        last = SimpleNamespace(dev={"macro_f1": 0.7, "worst_cluster": 0.7}, test={})
        return {"history": [last], "dev_predictions": [], "dataset": []}

    monkeypatch.setattr(tq, "final_state", final)
    earlier = {"budget": 40, "seed": 100, "variant": "select_only", "dev_macro_f1": 0.5, "dev_worst_cluster": 0.5,
               "held_macro_f1": 0.5, "held_worst_cluster": 0.5, "held_n": 3, "synthetic": 0}
    out = tq.synthesis_dev_sweep([40], [100], ["select_only", "dev_half_missed"], workers=1,
                                 reuse=[earlier, {**earlier, "budget": 80}])
    assert len(ran) == 1 and ran[0][0].startswith("select_synth")  # select_only at 40 was not run again
    assert earlier in out["runs"] and len(out["runs"]) == 2  # the 80-call run is not part of this sweep
    diff = out["by_budget"]["40"]["dev_half_missed"]["vs_select_only"]["dev_macro_f1"]["diff"]
    assert diff == pytest.approx(0.2)  # paired with the reused run


def test_writer_check_real_stores_apart_from_the_test_series_and_refuses_its_seeds(monkeypatch, tmp_path) -> None:
    results = tmp_path / "teacher_quality.json"
    results.write_text(json.dumps({"distill_seeds": {"60": {"mixed": {"4": {"student_macro_f1": 0.8}}}}}),
                       encoding="utf-8")
    monkeypatch.setattr(tq, "RESULTS", results)
    ran: list[tuple] = []

    def run(budget: int, arm: str, seed: int) -> dict[str, Any]:
        ran.append((budget, arm, seed))
        return {"student_macro_f1": 0.9, "writer_check": {"stopped": seed == 101}}

    monkeypatch.setattr(tq, "distill_seed_run", run)
    tq.writer_check_real(60, [100, 101])
    tq.writer_check_real(60, [100, 101])  # stored: nothing runs again
    assert ran == [(60, "writer_every", 100), (60, "writer_every", 101)]
    data = json.loads(results.read_text(encoding="utf-8"))
    assert data["writer_check_real"]["60"]["writer_every"]["101"]["writer_check"]["stopped"] is True
    assert data["distill_seeds"] == {"60": {"mixed": {"4": {"student_macro_f1": 0.8}}}}  # the series untouched
    with pytest.raises(SystemExit, match="test seeds"):
        tq.writer_check_real(60, [27, 100])
    assert tq.CHECK_ARMS["writer_every"] == ["loop.writer_check=every"]


def test_writer_check_real_text_tables_each_check_and_the_stop() -> None:
    row = {"generator": {"synthesized": 6}, "writer_check": {"round": 3, "stopped": True},
           "writer_checks": [{"round": 1, "synthetic": 1, "with": 0.8253, "without": 0.749, "stopped": False},
                             {"round": 3, "synthetic": 6, "with": 0.8053, "without": 0.826, "stopped": True}]}
    going = {**row, "writer_check": {"round": 1, "stopped": False}, "writer_checks": row["writer_checks"][:1]}
    text = "\n".join(tq.writer_check_real_text({"writer_check_real": {"60": {"writer_every": {"102": row,
                                                                                           "103": going}}}}))
    assert "| 60 | 102 | 6 | round 1: 1 texts, 0.825 / 0.749; round 3: 6 texts, 0.805 / 0.826 | round 3 |" in text
    assert "| 60 | 103 | 6 | round 1: 1 texts, 0.825 / 0.749 | no |" in text and "stage 64" in text


def test_decisions_of_reads_a_runs_trace_decisions_with_their_round(tmp_path) -> None:
    from distillgraph.graph.trace import TraceWriter

    trace = TraceWriter(tmp_path / "trace.jsonl")
    for step, (node, rnd) in enumerate([("trainer", 1), ("analyst", 2), ("trainer", 2)]):
        trace.begin(node, step, rnd, {})
        trace.decision("writer check" if node == "trainer" else "allocate", stopped=rnd == 2)
        trace.end({}, {}, [])
    got = tq.decisions_of(tmp_path, "writer check")
    assert [(d["round"], d["stopped"]) for d in got] == [(1, False), (2, True)]


def test_distill_sim_stores_per_teacher_skips_finished_runs_and_tables_next_to_the_real_pair(monkeypatch,
                                                                                            tmp_path) -> None:
    results = tmp_path / "teacher_quality.json"
    real = {"120": {"random": {"1": {"student_macro_f1": 0.80, "teacher_pool_label_accuracy": 0.9},
                               "2": {"student_macro_f1": 0.82, "teacher_pool_label_accuracy": 0.8}},
                    "mixed": {"1": {"student_macro_f1": 0.81, "teacher_pool_label_accuracy": 0.7},
                              "2": {"student_macro_f1": 0.80, "teacher_pool_label_accuracy": 0.8}}}}
    results.write_text(json.dumps({"distill_seeds": real}), encoding="utf-8")
    monkeypatch.setattr(tq, "RESULTS", results)
    ran: list[tuple] = []

    def run(budget: int, arm: str, seed: int, teacher: str) -> dict[str, Any]:
        ran.append((arm, seed, teacher))
        return {"student_macro_f1": {"random": 0.80, "mixed": 0.85}[arm] + 0.01 * seed,
                "teacher_pool_label_accuracy": 1.0}

    monkeypatch.setattr(tq, "distill_sim_run", run)
    tq.distill_sim(120, ["random", "mixed"], [1, 2], "oracle")
    tq.distill_sim(120, ["random", "mixed"], [1, 2], "oracle")  # stored: nothing runs again
    tq.distill_sim(120, ["random"], [1], "difficulty-13.6")  # another teacher is stored apart
    assert ran == [("random", 1, "oracle"), ("mixed", 1, "oracle"), ("random", 2, "oracle"), ("mixed", 2, "oracle"),
                   ("random", 1, "difficulty-13.6")]
    data = json.loads(results.read_text(encoding="utf-8"))
    assert set(data["distill_sim"]) == {"oracle", "difficulty-13.6"}
    text = "\n".join(tq.sim_pairs_text(data))
    assert "| real teacher | 120 | 1, 2 | 0.805 | 0.810 | -0.5" in text and "| 75.0% (2) | 85.0% (2) |" in text
    assert "| oracle (SIMULATION) | 120 | 1, 2 | 0.865 | 0.815 | +5.0" in text and "| 2/2 | 100.0% (2) |" in text
    assert "difficulty-13.6 (SIMULATION)" not in text  # no seed with both arms yet
    assert tq.sim_pairs_text({"distill_seeds": real}) == []  # no simulated row: no table
    assert set(tq.SIM_TEACHERS["difficulty-13.6"]) >= {"teacher.provider=oracle", "teacher.simulation.noise=0.136"}


def test_a_pre_registered_series_is_read_over_its_own_seeds_and_stays_interim_until_complete(monkeypatch) -> None:
    """Stage 59's row: only the series' seeds (not the older ones at the same budget), no verdict until every
    planned pair is in; complete, the verdict comes from the CI."""
    monkeypatch.setattr(tq, "SERIES", {"stage 59": ("60", (4, 5, 6)), "stage 67": ("60", (30, 31))})

    def data(seeds: list[int]) -> dict[str, Any]:
        arms = {arm: {str(s): {"student_macro_f1": 0.80 + (0.05 if arm == "mixed" else 0.0) + 0.01 * (s % 2)}
                      for s in seeds} for arm in ("mixed", "random")}
        arms["mixed"]["1"] = {"student_macro_f1": 0.10}  # an older seed: in the budget's row, not the series'
        return {"distill_seeds": {"60": arms}}

    partial = data([1, 4, 5])
    series = tq.seed_pairs(partial, "60", "mixed", only=(4, 5, 6))
    assert series["seeds"] == [4, 5] and series["diff"] == pytest.approx(0.05) and series["n"] == 2
    assert tq.seed_pairs(partial, "60", "mixed")["seeds"] == [1, 4, 5]
    text = "\n".join(tq.seed_pairs_text(partial))
    assert "| 60 (stage 59 series: seeds 4-6) | 4, 5 | 0.850 / 0.860 | 0.800 / 0.810 | +5.0 [+5.0, +5.0] " \
           "(interim, 2 of 3 pairs: no verdict) | 2/2 |" in text
    assert "| - (seed 0 not in the row) |" in text
    complete = "\n".join(tq.seed_pairs_text(data([1, 4, 5, 6])))
    assert "| 60 (stage 59 series: seeds 4-6) | 4, 5, 6 |" in complete and "(ahead) | 3/3 |" in complete
    assert "interim" not in complete
    later = "\n".join(tq.seed_pairs_text(data([1, 4, 5, 6, 30])))  # a later default's series: its own row only
    assert "| 60 | 1, 4, 5, 6 |" in later and "| 60 (stage 67 series: seeds 30-31) | 30 |" in later
    assert "(interim, 1 of 2 pairs: no verdict)" in later


def test_the_series_seeds_are_disjoint_test_seeds_and_a_120_call_series_gets_its_own_row() -> None:
    """Stage 68 (120 calls, seeds 52-75): its seeds are (a)'s test seeds (tuning diagnostics refuse them), no other
    series shares them, and at 120 calls the budget's own row keeps the seeds run on the earlier default only."""
    planned = [set(seeds) for _, seeds in tq.SERIES.values()]
    assert all(not (a & b) for i, a in enumerate(planned) for b in planned[i + 1:])
    assert tq.SERIES["stage 68"] == ("120", tuple(range(52, 76))) and set(range(52, 76)) <= set(tq.A_TEST_SEEDS)
    with pytest.raises(SystemExit, match="test seeds"):
        tq.writer_check_real(60, [75])
    arms = {arm: {str(s): {"student_macro_f1": 0.80 + (0.03 if arm == "mixed" else 0.0)} for s in (1, 2, 52)}
            for arm in ("mixed", "random")}
    arms["mixed"]["52"] = {"student_macro_f1": 0.70}  # the new series' seed: its row only
    text = "\n".join(tq.seed_pairs_text({"distill_seeds": {"120": arms}}))
    assert "| 120 | 1, 2 | 0.830 / 0.830 |" in text
    assert "| 120 (stage 68 series: seeds 52-75) | 52 | 0.700 | 0.800 | -10.0" in text
    assert "(interim, 1 of 24 pairs: no verdict)" in text


def test_a_pre_registered_arm_series_pairs_the_arm_with_each_base_over_its_seeds(monkeypatch) -> None:
    """Stage 60's table: select_only minus mixed and minus random over the planned seeds only, the labels each arm
    bought, interim until every seed has the arm, no table before the arm has a run."""
    monkeypatch.setattr(tq, "ARM_SERIES", {"stage 60": ("60", "select_only", ("mixed", "random"), (4, 5, 6))})
    f1 = {"select_only": 0.90, "mixed": 0.85, "random": 0.88}
    src = {"select_only": {"pool": 50, "seed": 10}, "mixed": {"pool": 40, "synthetic": 4, "seed": 10},
           "random": {"pool": 54, "seed": 10}}

    def data(arm_seeds: list[int]) -> dict[str, Any]:
        arms = {arm: {str(s): {"student_macro_f1": f1[arm] + 0.01 * (s % 2), "train_by_source": src[arm],
                               "teacher_pool_label_accuracy": 0.8 if arm == "select_only" else 0.9}
                      for s in ([1, 4, 5, 6] if arm != "select_only" else arm_seeds)} for arm in f1}
        return {"distill_seeds": {"60": arms}}

    assert tq.arm_series_text({"distill_seeds": {"60": {"mixed": {}, "random": {}}}}) == []
    text = "\n".join(tq.arm_series_text(data([1, 4, 5])))  # seed 1 is not planned: left out
    assert "| stage 60 | 60 | select_only - mixed | 4-6 | 0.905 | 0.855 | +5.0 [+5.0, +5.0] (interim, 2 of 3 " \
           "pairs: no verdict) | 2/2 | 50.0 / 0.0 | 80.0% | 40.0 / 4.0 | 90.0% |" in text
    assert "| select_only - random | 4-6 | 0.905 | 0.885 | +2.0 [+2.0, +2.0] (interim" in text
    complete = "\n".join(tq.arm_series_text(data([4, 5, 6])))
    assert "(ahead) | 3/3 |" in complete and "interim" not in complete


def test_a_series_per_seed_table_is_rendered_from_the_stored_runs() -> None:
    from bench.series_table import series_detail_text

    def run(f1: float, right: float | None, code: str, dropped: int | None = None) -> dict[str, Any]:
        row = {"student_macro_f1": f1, "train_by_source": {"pool": 97, "synthetic": 4, "seed": 10}, "code": code}
        if right is not None:
            row["teacher_pool_label_accuracy"] = right
        if dropped is not None:
            row.update(gate_dropped=dropped, gate_dropped_wrong=dropped - 1)
        return row

    data = {"distill_seeds": {"120": {
        "mixed": {"5": run(0.911, 0.763, "aaa", 3), "6": run(0.842, 0.646, "bbb"), "7": run(0.5, 0.9, "ccc")},
        "random": {"5": run(0.840, 0.907, "aaa", 5), "6": run(0.878, 0.833, "bbb"), "9": run(0.7, None, "ddd")}}}}
    text = "\n".join(series_detail_text(data, {"stage X": ("120", (5, 6, 7, 8, 9))}))
    assert "stage X (120 calls, seeds 5-9, 2 of 5 pairs stored; real teacher)" in text
    assert "| 5 | 0.911 | 0.840 | +7.1 | 97 / 4 | 76.3% / 90.7% | 3 (2 wrong) / 5 (4 wrong) | aaa / aaa |" in text
    assert "| 6 | 0.842 | 0.878 | -3.6 | 97 / 4 | 64.6% / 83.3% | - / - | bbb / bbb |" in text
    assert "| 7 |" not in text and "| 9 |" not in text  # one arm only: not a pair
    assert "Mean difference +1.8 points, sd 7.6, 1 wins of 2" in text
    assert "right less often on the default's pool picks than on random's on 2 of 2 seeds (70.5% against 87.0%" in text
    assert series_detail_text(data, {"stage Y": ("60", (5, 6))}) == []
