"""BENCHMARKS.md's LoRA-student table comes from a documented command: `python -m bench.run_all --full` runs the
sweep with the published settings, the sweep writes a json with its meta, and bench/report.py renders the
section from that json (no 19-minute sweep here: the sweep's graph runs are replaced by fixed rows)."""

from __future__ import annotations

import argparse
import json

import bench.harness as harness
import bench.report as report
import bench.run_all as run_all
import bench.sample_efficiency as se

PUBLISHED = harness.RESULTS / "sample_efficiency_lora.json"


def _args(**kw) -> argparse.Namespace:
    base = {"full": False, "with_student": False, "only": None, "skip": None}
    return argparse.Namespace(**(base | kw))


def test_the_published_section_is_the_report_of_the_published_json():
    result = json.loads(PUBLISHED.read_text(encoding="utf-8"))
    section = report.lora_section(result)
    assert report.section(PUBLISHED.with_suffix(".md")) == section
    assert section in (harness.ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert "| random | 0.582 ± 0.120 | 0.875 ± 0.008 |" in section
    assert "3 seeds (0, 1, 2" in section and "18 graph runs" in section
    assert "Measured before the classifier's `student.min_train_steps` default" in section  # meta.stale


def test_run_all_full_runs_the_sweep_with_the_published_settings():
    result = json.loads(PUBLISHED.read_text(encoding="utf-8"))
    assert "sample_efficiency_lora" in run_all.selected(_args(full=True))
    assert run_all.command("sample_efficiency_lora", full=True) == ["-m", "bench.sample_efficiency",
                                                                   *report.lora_args(result)]
    assert report.lora_args(result) == ["--lora-only", "--lora-seeds", "3", "--lora-budgets", "40", "80",
                                        "--lora-policies", "random", "uncertainty", "distillgraph"]
    # 19 minutes: not in the default `make bench`, nor in --with-student; alone with --only
    assert "sample_efficiency_lora" not in run_all.selected(_args())
    assert run_all.selected(_args(with_student=True)) == [
        n for n in run_all.STEPS if n not in ("sample_efficiency", "sample_efficiency_lora", "distill_local",
                                             "secondary", "ner", "difficulty")]
    # the BBC-only probe sweep is superseded by the suite: --full or --only, its section says so when rewritten
    assert "sample_efficiency" not in run_all.selected(_args()) and "sample_efficiency" in run_all.selected(
        _args(full=True))
    # SmolLM2's distillation (the fast-test teacher): --full or --only, not the default `make bench`; alone it runs
    # without the token-budget curve, the mixed mode only; --full: every mode
    assert "distill_local" not in run_all.selected(_args()) and "distill_local" in run_all.selected(_args(full=True))
    assert run_all.command("distill_local", full=False)[-3:] == ["--curve", "--modes", "auto"]
    assert "--modes" not in run_all.command("distill_local", full=True)
    assert run_all.selected(_args(only=["sample_efficiency_lora"])) == ["sample_efficiency_lora"]
    assert run_all.command("sample_efficiency_lora", full=False) == run_all.command("sample_efficiency_lora", True)


def test_the_sweep_writes_a_json_that_the_report_renders(tmp_path, monkeypatch):
    def fake_sweep(policies, budgets, seeds, student, extra=None, workers=1):
        assert student == "classifier"
        return [{"policy": p, "budget": b, "seed": s, "macro_f1": 0.5 + 0.1 * s + (0.2 if p == "distillgraph" else 0),
                 "accuracy": 0.6, "worst_cluster_acc": 0.4, "labels": b, "calls": b, "rounds": 4, "seconds": 2.0}
                for s in seeds for b in budgets for p in policies]

    monkeypatch.setattr(se, "sweep", fake_sweep)
    monkeypatch.setattr(se, "RESULTS", tmp_path)
    monkeypatch.setattr(harness, "RESULTS", tmp_path)
    se.lora_sweep(argparse.Namespace(lora_seeds=2, lora_budgets=[4, 8], lora_policies=["random", "distillgraph"]))
    result = json.loads((tmp_path / "sample_efficiency_lora.json").read_text(encoding="utf-8"))
    assert result["meta"]["runs"] == 8 and result["meta"]["n_seeds"] == 2 and "stale" not in result["meta"]
    section = report.section(tmp_path / "sample_efficiency_lora.md")
    assert section.startswith(f"## {report.LORA_TITLE}\n")
    assert "| policy | B=4 | B=8 |" in section
    assert "| random | 0.550 ± 0.071 | 0.550 ± 0.071 |" in section
    assert "| distillgraph | 0.750 ± 0.071 | 0.750 ± 0.071 |" in section
    assert ("`python -m bench.sample_efficiency --lora-only --lora-seeds 2 --lora-budgets 4 8 --lora-policies "
            "random distillgraph`") in section


def test_fragments_in_a_subfolder_follow_the_top_level_ones_under_their_folder_name(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    for name in ("suite", "teacher", "zeta"):
        (tmp_path / f"{name}.md").write_text(f"## {name}\n")
    (tmp_path / "heldout").mkdir()
    (tmp_path / "heldout" / "suite.md").write_text("## held-out\n")
    parts = report.fragments()
    assert [report.fragment_name(p) for p in parts] == ["teacher", "suite", "zeta", "heldout/suite"]
    assert "`heldout/suite` " in report.header(parts)


def test_the_superseded_probe_sweep_says_so_whenever_its_section_is_rewritten():
    from bench import sample_efficiency as se

    result = json.loads((se.RESULTS / "sample_efficiency.json").read_text(encoding="utf-8"))
    meta = json.loads((se.RESULTS / "sample_efficiency_runs.json").read_text(encoding="utf-8"))["meta"]
    probe = se.markdown(result, meta, se.PROBE_TITLE)
    assert probe.splitlines()[2] == se.SUPERSEDED and "loop.error_boost=30" in se.SUPERSEDED
    assert se.SUPERSEDED not in se.markdown(result, meta, "LoRA")  # the LoRA table is not superseded


def test_run_all_records_the_host_cpu(tmp_path):
    from bench.harness import cpu_model

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512f avx512_bf16\n\n"
                    "processor\t: 1\nmodel name\t: AMD EPYC\n")
    assert cpu_model(info) == "AMD EPYC (avx512_bf16)"
    info.write_text("model name\t: Some CPU\nflags\t\t: fpu avx2\n")
    assert cpu_model(info) == "Some CPU (no bf16 instructions)"
    assert cpu_model(tmp_path / "missing") == ""


def test_the_committed_benchmarks_md_holds_every_committed_fragment_as_rendered():
    """A fragment edited without re-running `python -m bench.report` leaves BENCHMARKS.md stale: this fails."""
    published = (harness.ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    stale = [report.fragment_name(p) for p in report.fragments() if report.section(p) not in published]
    assert stale == []
