"""The pure parts of the benchmarks: result shapes, the goal verdicts and BENCHMARKS.md assembly."""

from __future__ import annotations

import bench.report as report
from bench.harness import mean_std
from bench.sample_efficiency import METRICS, goals, summarise


def _run(policy: str, budget: int, seed: int, f1: float, worst: float) -> dict:
    return {"policy": policy, "budget": budget, "seed": seed, "macro_f1": f1, "accuracy": f1,
            "worst_cluster_acc": worst, "labels": budget}


def test_mean_std_uses_the_sample_std_and_zero_for_one_value():
    assert mean_std([0.5, 0.7]) == {"mean": 0.6, "std": 0.1414}
    assert mean_std([0.3]) == {"mean": 0.3, "std": 0.0}


def test_summary_has_the_fixed_shape():
    runs = [_run(p, b, s, 0.5 + 0.1 * s, 0.4) for p in ("random", "distillgraph") for b in (20, 40) for s in (0, 1)]
    out = summarise(runs, [20, 40], ["random", "distillgraph"])
    assert set(out) == {"random", "distillgraph"}
    assert set(out["random"]) == {"20", "40"}
    for metric in METRICS:
        assert set(out["random"]["20"][metric]) == {"mean", "std"}
    assert out["distillgraph"]["40"]["macro_f1"] == {"mean": 0.55, "std": 0.0707}


def test_goal_lines_say_when_a_goal_is_missed():
    runs = [_run("random", b, 0, 0.50, 0.30) for b in (20, 40)]
    runs += [_run("uncertainty", b, 0, 0.80, 0.60) for b in (20, 40)]
    runs += [_run("distillgraph", 20, 0, 0.60, 0.45), _run("distillgraph", 40, 0, 0.52, 0.35)]
    result = {"budgets": [20, 40], "policies": summarise(runs, [20, 40], ["random", "uncertainty", "distillgraph"])}
    lines = "\n".join(goals(result))
    assert "B=20: macro-F1 +10.0 points (goal ≥ +5: met), worst-cluster accuracy +15.0 points (goal ≥ +10: met)" in lines
    assert "B=40: macro-F1 +2.0 points (goal ≥ +5: NOT met)" in lines
    assert "best baseline uncertainty 0.800, distillgraph 0.520 ± 0.000 (behind by more than one std: goal NOT met)" in lines


def test_report_puts_the_headline_fragments_first_under_a_setup_header(tmp_path, monkeypatch):
    results = tmp_path / "bench" / "results"
    results.mkdir(parents=True)
    for name in ("zzz_extra", "teacher", "sample_efficiency"):
        (results / f"{name}.md").write_text(f"## {name} title\n\nbody of {name}\n")
    monkeypatch.setattr(report, "RESULTS", results)
    monkeypatch.setattr(report, "ROOT", tmp_path)
    text = report.build()
    assert text.startswith("# Benchmarks")
    assert "CPU cores" in text and "torch" in text
    order = [text.index(f"## {n} title") for n in ("sample_efficiency", "teacher", "zzz_extra")]
    assert order == sorted(order)
    assert "![sample efficiency]" not in text  # no plot file, no broken link


def test_a_short_crash_soak_still_spreads_its_kills_over_the_whole_run():
    from bench.reliability import spread
    from tests.reliability.crash import Trial

    steps = [Trial(f"in-node-{s}", "step", s - 1, 0.5) for s in range(2, 22)]
    trials = [Trial("during-start", "created", 0, 1.0), *steps,
              Trial("teacher-batch-0", "request", 3), Trial("teacher-batch-1", "request", 7)]
    picked = spread(trials, 10)
    assert len(picked) == 10 and len({t.name for t in picked}) == 10
    assert picked[0].name == "during-start" and {t.trigger for t in picked[-2:]} == {"request"}
    assert steps[0] in picked and steps[-1] in picked  # the first and the last node, not only the first ten steps
    assert spread(trials, 4) == spread(trials, 10)  # never fewer than 10
    assert spread(trials, 100) == trials


def test_the_shared_embedding_cache_is_one_folder_per_model_and_dtype(tmp_path, monkeypatch):
    """A float32 suite and a bf16 bench never open each other's cache (it would refuse the other's vectors)."""
    import bench.harness as harness
    from distillgraph.store.schema import StoreConfig

    monkeypatch.setattr(harness, "CACHE", tmp_path)
    fp32, bf16 = (harness.embeddings_dir(StoreConfig(embedding_dtype=d)) for d in ("float32", "bfloat16"))
    assert fp32 != bf16 and fp32.parent == bf16.parent == tmp_path / "embeddings"
    assert fp32.name.startswith("all-MiniLM-L6-v2_max_seq_length=256_dtype=float32-")
    assert harness.embeddings_dir(StoreConfig(embedding_model="hash:32")).name.startswith("hash_32-")
    assert harness.embeddings_dir(StoreConfig(embedding_dtype="float32")) == fp32  # stable across calls


def test_quick_scale_step_keeps_and_dates_the_larger_pools_of_the_last_full_run():
    import bench.run_all as run_all
    from bench.scale import markdown

    assert run_all.command("scale", full=False) == ["-m", "bench.scale", "--sizes", "2000,5000", "--merge"]
    assert run_all.command("scale", full=True) == ["-m", "bench.scale", "--full"]
    row = {"index_throughput_ratio": 1.0, "peak_rss_gb": 1.0, "round_orchestration_s": 0.05,
           "chroma_add_per_s": 4000.0, "chroma_query_ms": 1.0}
    text = markdown({"machine": "2 CPU cores", "embedding_model": "MiniLM", "teacher_concurrency_detail": {},
                     "pools": {"2000": {**row, "measured": "2026-12-04, AMD EPYC (avx512_bf16)"}, "20000": row}})
    assert "| 2,000 | 1.00 |  | 1.00 | 0.050 | 4,000 | 1.0 | 2026-12-04, AMD EPYC (avx512_bf16) |" in text
    assert "| 20,000 | 1.00 |  | 1.00 | 0.050 | 4,000 | 1.0 | earlier (not recorded) |" in text


def test_orchestration_counts_only_loop_rounds_and_what_no_component_took():
    from bench.scale import orchestration_per_round

    zero = {"student": 0.0, "embed": 0.0, "teacher": 0.0, "load": 0.0}
    steps = [{"node": "index", "round": 0, "seconds": 9.0, **zero},
             {"node": "trainer", "round": 0, "seconds": 5.0, **zero},  # round 0: the bootstrap, not the loop
             {"node": "analyst", "round": 1, "seconds": 1.0, **zero},
             {"node": "trainer", "round": 1, "seconds": 3.0, **zero, "student": 2.5},
             {"node": "annotator", "round": 2, "seconds": 1.0, **zero, "teacher": 1.5},  # clipped at 0
             {"node": "report", "round": 2, "seconds": 4.0, **zero}]
    assert orchestration_per_round(steps) == {1: 1.5, 2: 0.0}


def test_one_pool_size_is_measured_end_to_end(tmp_path):
    from bench.scale import measure_pool

    out = measure_pool(300, tmp_path, "hash:32", rounds=2)
    assert out["detail"]["texts_indexed"] == 500
    assert out["detail"]["rounds_measured"] == [1, 2]
    assert out["chroma_query_ms"] > 0 and out["index_throughput_ratio"] > 0 and out["peak_rss_gb"] > 0
