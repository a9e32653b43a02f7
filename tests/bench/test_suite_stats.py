"""bench/stats.py (paired comparisons) and the suite's pure parts: tuning choice, summaries, paired shape."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from bench import suite
from bench.stats import (
    compare,
    detectable_effect,
    mean_std,
    paired_bootstrap_ci,
    seeds_needed,
    verdict,
    wilcoxon_p,
)
from bench.suite import TUNING_GRID, _v, choose, paired, robustness, summarise, tuned_overrides


def test_all_positive_differences_are_ahead_with_every_win():
    a = {s: 0.80 + 0.01 * s for s in range(5)}
    b = {s: 0.70 for s in range(5)}
    out = compare(a, b)
    assert out["n"] == 5 and out["wins"] == 5 and out["ties"] == 0
    assert out["diff"] == pytest.approx(0.12)
    assert 0 < out["ci_low"] <= out["diff"] <= out["ci_high"]
    assert out["verdict"] == "ahead"
    assert out["p_wilcoxon"] == pytest.approx(0.0625)  # the smallest exact two-sided p at n = 5


def test_mixed_differences_are_no_clear_difference():
    a = {0: 0.6, 1: 0.5, 2: 0.7, 3: 0.4, 4: 0.55}
    b = {0: 0.5, 1: 0.6, 2: 0.6, 3: 0.5, 4: 0.55}
    out = compare(a, b)
    assert out["wins"] == 2 and out["ties"] == 1
    assert out["ci_low"] < 0 < out["ci_high"]
    assert out["verdict"] == "no clear difference"


def test_behind_when_the_whole_interval_is_below_zero():
    out = compare({s: 0.5 for s in range(4)}, {s: 0.6 + 0.01 * s for s in range(4)})
    assert out["verdict"] == "behind" and out["wins"] == 0 and out["ci_high"] < 0


def test_only_common_seeds_are_paired_and_none_is_an_error():
    out = compare({0: 1.0, 1: 1.0, 7: 0.0}, {0: 0.5, 1: 0.5, 8: 1.0})
    assert out["n"] == 2 and out["diff"] == 0.5
    assert out["verdict"] == "too few seeds"  # no verdict from a bootstrap over 2 values
    with pytest.raises(ValueError):
        compare({0: 1.0}, {1: 1.0})


def test_bootstrap_is_deterministic_and_degenerate_cases_hold():
    diffs = [0.1, -0.05, 0.2, 0.0, 0.03]
    assert paired_bootstrap_ci(diffs) == paired_bootstrap_ci(diffs)
    assert paired_bootstrap_ci([0.3]) == (0.3, 0.3)
    low, high = paired_bootstrap_ci(diffs)
    assert min(diffs) <= low <= high <= max(diffs)
    assert wilcoxon_p([0.0, 0.0]) == 1.0
    assert verdict(-0.1, 0.1) == "no clear difference"
    assert mean_std([0.5, 0.7]) == {"mean": 0.6, "std": 0.1414}


def test_power_matches_the_paired_t_test_tables():
    # a one-sample / paired t-test at two-sided 0.05 and 80% power needs 10 pairs for an effect of 1 sd,
    # 34 for 0.5 sd (Cohen's tables); fewer seeds detect only larger differences
    assert seeds_needed(1.0, 1.0) == 10
    assert seeds_needed(2.0, 1.0) == 34
    assert seeds_needed(1.0, 1e-6, limit=50) == 50
    with pytest.raises(ValueError):
        seeds_needed(1.0, 0.0)
    diffs = [0.1, -0.05, 0.2, 0.0, 0.03]
    at_five = detectable_effect(diffs)
    assert at_five is not None and at_five > detectable_effect(diffs * 4)  # more seeds, smaller detectable difference
    assert detectable_effect([0.3]) is None
    # consistent with each other: differences with that spread at the seeds seeds_needed asks for detect the
    # effect, one seed fewer does not
    sd, effect = 0.07, 0.03
    n = seeds_needed(sd, effect)

    def spread(k: int) -> list[float]:
        x = np.random.default_rng(0).normal(size=k)
        return list((x - x.mean()) / x.std(ddof=1) * sd)

    assert detectable_effect(spread(n)) <= effect < detectable_effect(spread(n - 1))


def _run(task, policy, budget, seed, f1, worst=0.5, dev=None, tag="", student="embedding-probe"):
    return {"task": task, "student": student, "policy": policy, "budget": budget, "seed": seed, "tag": tag,
            "macro_f1": f1, "worst_cluster_acc": worst, "dev_macro_f1": f1 if dev is None else dev}


def test_tuning_chooses_on_dev_and_never_reads_test_scores():
    key = next(iter(TUNING_GRID))
    low, high = TUNING_GRID[key][0], TUNING_GRID[key][-1]
    runs = []
    for seed in (100, 101):
        # the low value has the better TEST score, the high value the better DEV score
        runs.append(_run("t", "distillgraph", 40, seed, f1=0.9, dev=0.5, tag=f"{key}={_v(low)}"))
        runs.append(_run("t", "distillgraph", 40, seed, f1=0.1, dev=0.7, tag=f"{key}={_v(high)}"))
    table = choose(runs)
    assert table[key]["chosen"] == high
    assert table[key]["values"][_v(high)]["dev_macro_f1"] == 0.7


def test_a_tie_on_dev_keeps_the_config_default():
    key = "loop.coverage_share"
    runs = [_run("t", "distillgraph", 40, 100, f1=0.5, dev=0.6, tag=f"{key}={_v(v)}") for v in TUNING_GRID[key]]
    table = choose(runs)
    assert table[key]["chosen"] == "adaptive" == table[key]["default"]
    assert len(table[key]["tied"]) == len(TUNING_GRID[key])


def test_results_and_paired_have_the_suite_shape():
    runs = []
    for seed in range(3):
        runs += [_run("t", "random", 40, seed, 0.50 + 0.01 * seed), _run("t", "uncertainty", 40, seed, 0.70),
                 _run("t", "distillgraph", 40, seed, 0.60 + 0.01 * seed)]
    results = summarise(runs)
    cell = results["t"]["embedding-probe"]["random"]["40"]
    assert set(cell) >= {"macro_f1", "worst_cluster_acc"} and set(cell["macro_f1"]) == {"mean", "std"}
    pair = paired(runs, results)["t"]["embedding-probe"]["40"]
    assert {"diff", "ci_low", "ci_high", "wins", "n"} <= set(pair["vs_random"])
    assert pair["vs_random"]["diff"] == pytest.approx(0.10) and pair["vs_random"]["wins"] == 3
    assert pair["vs_best_other"]["policy"] == "uncertainty"  # best other by mean test macro-F1
    assert pair["vs_best_other"]["verdict"] == "behind"
    # every difference to random is exactly +0.10: no spread, so any true difference is detectable
    assert pair["vs_random"]["detectable"] == pytest.approx(0.0)
    published = json.loads((Path(suite.__file__).parent / "results" / "suite.json").read_text(encoding="utf-8"))
    published["paired"]["bbc"]["embedding-probe"]["40"]["vs_random"]["detectable"] = 0.1234
    md = suite.markdown(published)
    assert "| best other | detectable vs random / best other |" in md
    assert re.search(r"\| 40 \| [^|]+ \| [^|]+ \| \w+ \| 12\.3 / \d+\.\d \|", md)


def test_a_text_grid_value_is_chosen_on_dev_and_becomes_an_override():
    key = "loop.cold_start"
    runs = [_run("t", "distillgraph", 40, 100, f1=1.0 - dev, dev=dev, tag=f"{key}={v}")
            for v, dev in (("auto", 0.5), ("representatives", 0.7))]
    table = choose(runs)
    assert table[key]["chosen"] == "representatives" and table[key]["default"] == "auto"
    assert tuned_overrides({"grid": table}) == ["loop.cold_start=representatives"]
    # a later dev decision is kept as text: its default value ("0" for 0.0) needs no override, another does
    later = {"key": "loop.rare_labels", "value": "0"}
    assert tuned_overrides({"grid": table, "later": [later]}) == ["loop.cold_start=representatives"]
    assert tuned_overrides({"grid": table, "later": [later | {"value": "0.5"}]})[-1] == "loop.rare_labels=0.5"



def test_a_setting_at_its_neutral_value_leaves_the_run_cache_key_unchanged():
    import hashlib
    import json

    from bench.suite import KEY_NEUTRAL, _point_key
    from distillgraph.graph.config import config_from_dict

    def point(kind="classifier", gate=None, **loop):
        cfg = config_from_dict({"task": {"labels": {"a": "", "b": ""}}, "data": {"pool": "p.jsonl"},
                                "budget": {"max_calls": 5}, "loop": loop, "student": {"kind": kind},
                                "teacher": {"gate": gate or {}}})
        return {"cfg": cfg, "tag": "", "clusters": None}

    plain = point(sampling_power=0.0, select_within="pool", coverage_pool="sample", bootstrap_share=1.0)  # all neutral
    data = plain["cfg"].model_dump(mode="json")
    data["run"].pop("dir", None)
    data["loop"]["cold_start"] = "checked"  # distillgraph's own cold start, as the key resolves `auto`
    for section, name in KEY_NEUTRAL:  # what the key was before the setting existed (section may be dotted)
        part = data
        for k in section.split("."):
            part = part[k]
        part.pop(name)
    before = hashlib.sha256(json.dumps([data, "", ""], sort_keys=True).encode()).hexdigest()[:20]
    assert _point_key(plain) == before
    assert _point_key(point(sampling_power=0.0, select_within="pool", coverage_pool="sample", bootstrap_share=1.0)) == before
    assert _point_key(point(select_within="pool", coverage_pool="sample", bootstrap_share=1.0, density_weight=0.0)) == before
    assert _point_key(point(select_within="pool", coverage_pool="sample", bootstrap_share=1.0, density_weight=1.0)) != before
    # the cold start's share is keyed as it resolves: auto is a quarter for classification (a new key, equal to 0.25's)
    capped = _point_key(point(sampling_power=0.0, select_within="pool", coverage_pool="sample"))
    assert capped != before
    assert capped == _point_key(point(sampling_power=0.0, select_within="pool", coverage_pool="sample", bootstrap_share=0.25))
    assert _point_key(point(sampling_power=0.0, select_within="pool")) != before  # the default is now all
    # where the whole pool is scored (the suite), both coverage pools pick the same: one key
    whole = {v: _point_key(point(sampling_power=0.0, select_within="pool", coverage_pool=v, score_sample=100000))
             for v in ("sample", "all")}
    assert whole["sample"] == whole["all"]
    assert _point_key(point(sampling_power=2.0, select_within="pool", coverage_pool="sample")) != before  # a change
    # which weak clusters write cannot change a run whose teacher writes nothing (the suite's): one key for both
    both = [point(sampling_power=0.0, select_within="pool", coverage_pool="sample", bootstrap_share=1.0,
                  weak_synth_labels=v) for v in ("any", "rare")]
    assert _point_key(both[0]) == _point_key(both[1]) == before
    for p in both:
        p["cfg"].teacher.simulation.writer = "reserve"
    assert _point_key(both[0]) != _point_key(both[1])  # a reserve writer writes: any and rare are two keys
    assert _point_key(point(gate={"w_model": 1.0}, sampling_power=0.0, select_within="pool", coverage_pool="sample")) != before
    assert _point_key(point(sampling_power=0.0)) != before  # distillgraph's default is now select_within=clusters
    probe = point("embedding-probe", sampling_power=0.0, select_within="pool")  # its class_weight resolves to balanced: not the earlier behaviour
    data = probe["cfg"].model_dump(mode="json")
    data["run"].pop("dir", None)
    data["loop"].pop("sampling_power")
    data["loop"].pop("select_within")
    data["loop"]["cold_start"] = "checked"
    data["student"].pop("class_weight")
    old_probe = hashlib.sha256(json.dumps([data, "", ""], sort_keys=True).encode()).hexdigest()[:20]
    assert _point_key(probe) != old_probe
    # `auto` is keyed as the cold start it resolves to: the runs are shared with the explicit value, and a run
    # made when `adaptive` meant typical is not reused
    assert _point_key(plain) == _point_key(point(sampling_power=0.0, select_within="pool", coverage_pool="sample",
                                                 cold_start="checked", bootstrap_share=1.0))
    assert _point_key(plain) != _point_key(point(sampling_power=0.0, select_within="pool", coverage_pool="sample",
                                                 cold_start="mixed"))


def test_the_joint_check_keeps_only_changes_that_help_together():
    from bench.suite import greedy_joint, tuned_values

    def entry(default, chosen, values):
        return {"default": default, "chosen": chosen,
                "values": {f"{v:g}" if isinstance(v, float) else v: {"dev_macro_f1": d} for v, d in values.items()}}

    grid = {"loop.sampling_power": entry(0.0, 8.0, {0.0: 0.40, 8.0: 0.42}),
            "loop.coverage_share": entry(0.25, 0.5, {0.25: 0.40, 0.5: 0.43}),
            "loop.cold_start": entry("auto", "random", {"auto": 0.40, "random": 0.45})}
    joint_dev = {("loop.cold_start", "loop.sampling_power"): 0.44, ("loop.cold_start", "loop.coverage_share"): 0.46}
    asked = []

    def run_combo(combo):
        asked.append(dict(combo))
        return joint_dev[tuple(sorted(combo))] if len(combo) == 2 else 0.41  # all three together: worse

    joint = greedy_joint(grid, run_combo)
    assert joint["chosen"] == {"loop.cold_start": "random", "loop.coverage_share": 0.5}
    assert joint["dev_macro_f1"] == 0.46 and len(asked) == 3  # 2 pairs, then the triple (rejected)
    tuning = {"grid": grid, "joint": joint}
    assert tuned_values(tuning) == {"loop.sampling_power": 0.0, "loop.coverage_share": 0.5, "loop.cold_start": "random"}
    assert tuned_values({"grid": grid})["loop.sampling_power"] == 8.0  # no joint check: one at a time
    assert greedy_joint({k: dict(e, chosen=e["default"]) for k, e in grid.items()}, run_combo)["chosen"] == {}


def test_a_sweep_runs_the_same_run_once_and_each_point_keeps_its_tag(tmp_path, monkeypatch):
    import bench.suite as suite
    from distillgraph.graph.config import config_from_dict

    def point(tag, share):
        cfg = config_from_dict({"task": {"labels": {"a": "", "b": ""}}, "data": {"pool": "p.jsonl"},
                                "budget": {"max_calls": 5}, "loop": {"coverage_share": share}})
        return {"cfg": cfg, "task": "t", "tag": tag, "cache_tag": suite.TUNE_CACHE_TAG, "clusters": None}

    ran = []

    def fake_run(p):
        ran.append(p["tag"])
        return _run("t", "distillgraph", 5, 0, f1=0.0, dev=p["cfg"].loop.coverage_share, tag=p["tag"]) | {"seconds": 0}

    import bench.harness as harness

    monkeypatch.setattr(harness, "CACHE", tmp_path)
    monkeypatch.setattr(suite, "one_run", fake_run)
    # the grid's default under two keys (the same config) and one real change
    points = [point("loop.coverage_share=0.25", 0.25), point("loop.cold_start=auto", 0.25), point("x=0.5", 0.5)]
    rows = suite.sweep(points, workers=1)
    assert ran == ["loop.coverage_share=0.25", "x=0.5"]
    assert [r["tag"] for r in rows] == [p["tag"] for p in points] and [r["dev_macro_f1"] for r in rows] == [0.25, 0.25, 0.5]
    again = suite.sweep([point("joint:loop.coverage_share=0.5", 0.5)], workers=1, resume=True)  # a joint check's single change
    assert ran == ["loop.coverage_share=0.25", "x=0.5"] and again[0]["tag"] == "joint:loop.coverage_share=0.5"


def test_only_distillgraph_reads_the_settings_held_out_of_the_baselines_cache_keys():
    from bench.suite import FOCUS, FOCUS_ONLY, _point_key
    from distillgraph.graph.config import LoopConfig, config_from_dict
    from distillgraph.graph.policies import build_policy, policy_names

    variants = [{"coverage_share": 0.0, "select_within": "pool", "sampling_power": 0.0, "error_prior": 0.0,
                 "error_boost": 30.0, "allocation_trust": "off", "rare_labels": 0.0, "coverage_pool": "sample",
                 "bootstrap_share": 1.0, "density_weight": 0.0},
                {"coverage_share": "adaptive", "select_within": "clusters", "sampling_power": 8.0, "error_prior": 20.0,
                 "error_boost": 100.0, "allocation_trust": "adaptive", "rare_labels": 0.5, "coverage_pool": "all",
                 "bootstrap_share": 0.25, "density_weight": 1.0}]
    assert {name for _, name in FOCUS_ONLY} == set(variants[0])
    for name in policy_names():
        built = [build_policy(LoopConfig(policy=name, **v)) for v in variants]
        what = [(str(p), p.per_cluster, p.cold_start, p.cold_start_share) for p in built]
        assert (what[0] == what[1]) == (name != FOCUS), name  # a baseline that read one would re-use stale runs

    def key(policy, **loop):
        cfg = config_from_dict({"task": {"labels": {"a": "", "b": ""}}, "data": {"pool": "p.jsonl"},
                                "budget": {"max_calls": 5}, "loop": {"policy": policy, **loop}})
        return _point_key({"cfg": cfg, "tag": "", "clusters": None})

    assert key("random", **variants[0]) == key("random", **variants[1])
    assert key(FOCUS, **variants[0]) != key(FOCUS, **variants[1])


def test_robustness_counts_gaps_to_the_best_policy_at_each_point():
    def cell(m: float) -> dict:
        return {"macro_f1": {"mean": m, "std": 0.0}, "worst_cluster_acc": {"mean": 0.0, "std": 0.0}}

    means = {"t1": {"random": (0.50, 0.70), "uncertainty": (0.60, 0.65), "distillgraph": (0.595, 0.71)},
             "t2": {"random": (0.30, 0.40), "uncertainty": (0.20, 0.42), "distillgraph": (0.28, 0.41)}}
    results = {t: {"embedding-probe": {p: {"20": cell(a), "40": cell(b)} for p, (a, b) in per.items()}}
               for t, per in means.items()}
    results["t1"]["classifier"] = {"random": {"40": cell(0.9)}}  # one policy only: no comparison
    out = robustness(results)
    assert set(out) == {"embedding-probe"}
    dg = out["embedding-probe"]["distillgraph"]
    # gaps to the best at t1/20, t1/40, t2/20, t2/40: 0.5, 0, 2, 1 points
    assert dg["points"] == 4 and dg["mean_gap"] == pytest.approx(0.875, abs=0.006) and dg["worst_gap"] == pytest.approx(2.0)
    assert dg["within_1_of_best_other"] == 3 and dg["more_than_1_below_random"] == 1  # t2/20: 2 below random
    unc = out["embedding-probe"]["uncertainty"]
    assert unc["worst_gap"] == pytest.approx(10.0) and unc["more_than_1_below_random"] == 2  # t1/40, t2/20
    assert out["embedding-probe"]["random"]["more_than_1_below_random"] == 0


def test_each_policy_is_described_with_the_settings_it_ran_with():
    """The tuned values are distillgraph's only: a baseline's line must not show them (it ran without)."""
    lines = dict(line.split(":", 1) for line in suite.policy_descriptions(
        ["random", "distillgraph"], ["loop.cold_start=representatives"], []))
    assert set(lines) == {"random", "distillgraph"}
    assert "cold start: representatives" in lines["distillgraph"]
    assert "cold start: random" in lines["random"]
    same = dict(line.split(":", 1) for line in suite.policy_descriptions(["random"], ["loop.cold_start=typical"]))
    assert "cold start: typical" in same["random"]  # without user_extra, every policy gets `extra`


def test_seed_groups_split_the_robustness_table_into_seen_and_fresh_seeds():
    def run(policy: str, seed: int, f1: float, student: str = "embedding-probe") -> dict:
        return {"task": "t", "student": student, "policy": policy, "budget": 20, "seed": seed, "macro_f1": f1,
                "worst_cluster_acc": 0.0}

    # distillgraph wins on the seen seeds (0, 1) and loses by 4 points on the fresh ones (5, 6)
    runs = [run("distillgraph", s, 0.60 if s < 5 else 0.50) for s in (0, 1, 5, 6)]
    runs += [run("random", s, 0.55 if s < 5 else 0.54) for s in (0, 1, 5, 6)]
    runs += [run("distillgraph", 7, 0.1, student="classifier")]  # LoRA runs never enter the groups
    groups = suite.seed_groups(runs)
    assert groups["seen"]["seeds"] == [0, 1] and groups["fresh"]["seeds"] == [5, 6]
    assert groups["seen"]["robustness"]["distillgraph"]["mean_gap"] == 0
    assert groups["fresh"]["robustness"]["distillgraph"]["mean_gap"] == pytest.approx(4.0)
    assert groups["fresh"]["robustness"]["distillgraph"]["more_than_1_below_random"] == 1
    assert suite.seed_groups([r for r in runs if r["seed"] < 5]) == {}  # one group only: nothing to split


def test_distillgraphs_own_cold_start_enters_its_cache_key_as_resolved():
    """`loop.cold_start=auto` means whatever distillgraph's class says today: a cached run made when that was
    another cold start must not be reused (a stale 'defaults' row in the tuning table)."""
    from bench.suite import _point_key
    from distillgraph.graph.config import config_from_dict
    from distillgraph.graph.policies import build_policy

    def point(policy: str, cold_start: str):
        cfg = config_from_dict({"task": {"labels": {"a": "", "b": ""}}, "data": {"pool": "p.jsonl"},
                                "budget": {"max_calls": 5}, "loop": {"policy": policy, "cold_start": cold_start}})
        return {"cfg": cfg, "tag": "", "clusters": None}

    from distillgraph.graph.policies import resolve_cold_start
    from distillgraph.graph.task_kinds import KINDS

    own = resolve_cold_start(build_policy(point("distillgraph", "auto")["cfg"].loop).cold_start,
                             KINDS["classification"])
    assert own == "checked"  # `adaptive` for classification since 2026-12-04 (typical before)
    assert _point_key(point("distillgraph", "auto")) == _point_key(point("distillgraph", own))
    assert _point_key(point("distillgraph", "adaptive")) == _point_key(point("distillgraph", own))
    other = "random" if own != "random" else "typical"
    assert _point_key(point("distillgraph", "auto")) != _point_key(point("distillgraph", other))
    assert _point_key(point("random", "auto")) != _point_key(point("random", "random"))  # baselines keep their keys


def test_a_task_whose_whole_gold_pool_stays_near_guessing_is_flagged_as_not_learnable():
    def task(ub: float | None, labels: int) -> dict:
        return {"n_labels": labels, "upper_bound": None if ub is None else {"macro_f1": ub}}

    assert not suite.learnable(task(0.316, 3)) and not suite.learnable(task(0.38, 3))  # guessing 0.333
    assert suite.learnable(task(0.39, 3)) and suite.learnable(task(0.12, 16))  # 16 labels: guessing 0.0625
    assert suite.learnable(task(None, 3))  # no upper bound measured: nothing to say
    pair = {"20": {"vs_random": {"verdict": "behind"}}}
    lines = suite.verdict_lines({"tasks": {"a": task(0.316, 3), "b": task(0.9, 3)},
                                 "paired": {"a": {"embedding-probe": pair}, "b": {"embedding-probe": pair}}})
    assert "not learnable" in lines[0] and "not learnable" not in lines[1]
