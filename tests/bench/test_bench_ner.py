"""The NER benchmark's summary and fragment (bench/ner.py): pure functions over recorded points."""

from __future__ import annotations

from bench.ner import drop_spans, markdown, summarise


def _points(lead: float) -> dict:
    """random / uncertainty / distillgraph at two budgets over 4 seeds; distillgraph leads random by `lead`."""
    base = {"0": 0.10, "1": 0.20, "2": 0.15, "3": 0.12}
    pts: dict = {}
    for policy, shift in (("random", 0.0), ("uncertainty", 0.05), ("distillgraph", lead)):
        for b in ("50", "100"):
            pts.setdefault(policy, {})[b] = {s: {"entity_f1": v + shift + (0.001 * int(s) if policy != "random" else 0),
                                                 "worst_type_f1": 0.0} for s, v in base.items()}
    return pts


def test_summary_pairs_distillgraph_with_random_and_the_best_other():
    out = summarise(_points(lead=0.08))
    assert set(out["results"]) == {"random", "uncertainty", "distillgraph"}
    assert out["results"]["random"]["50"]["entity_f1"]["mean"] == 0.1425
    pr = out["paired"]["50"]
    assert pr["vs_random"]["wins"] == 4 and pr["vs_random"]["verdict"] == "ahead"
    assert pr["vs_best_other"]["policy"] == "uncertainty" and pr["vs_best_other"]["verdict"] == "ahead"
    behind = summarise(_points(lead=0.02))["paired"]["100"]["vs_best_other"]
    assert behind["policy"] == "uncertainty" and behind["diff"] < 0 and behind["verdict"] == "behind"


def test_fragment_says_simulation_and_renders_every_part():
    data = {**summarise(_points(lead=0.02)), "seeds": [0, 1, 2, 3],
            "upper_bound": {"entity_f1": {"mean": 0.41, "std": 0.02}},
            "embedded_teacher": {"entity_f1": 0.3, "worst_type_f1": 0.0, "n": 60, "seconds_per_sentence": 4.2,
                                 "entities_rejected": 3, "demonstrations": 3},
            "distilled": {"config": "examples/wnut-ner.yaml", "calls": 120, "wall_seconds": 900.0,
                          "rounds": [{"test_entity_f1": 0.1}, {"test_entity_f1": 0.2}], "machine": "x86_64, 2 CPU cores",
                          "load_average_1m": 1.5, "student_seconds_per_sentence": 0.002, "speedup": 2100.0,
                          "code": "abc1234", "date": "2026-12-02",
                          "teacher_pool_labels": {"n": 107, "entity_f1": 0.155, "entity_precision": 0.122,
                                                  "entity_recall": 0.215}}}
    md = markdown(data)
    assert md.startswith("## NER") and "SIMULATION" in md
    assert "| distillgraph |" in md and "vs best other (uncertainty)" in md and "(behind)" in md
    assert "0.100 → 0.200" in md and "2100x faster" in md and "entity F1 0.300" in md and "0.410" in md
    assert "2100x faster than the teacher; the teacher's tags on the 107 pool sentences" in md
    assert "precision 0.122, recall 0.215) (commit abc1234, 2026-12-02)." in md
    zero = {**data["embedded_teacher"], "entity_f1": 0.24, "demonstrations": 0}
    md = markdown({**data, "embedded_teacher": zero, "embedded_teacher_variants": {
        "demonstrations=3": data["embedded_teacher"], "demonstrations=0": zero}})
    assert "(Qwen2.5-Coder-1.5B, no demonstrations; as examples/wnut-ner.yaml runs it: the reference" in md
    assert "(Qwen2.5-Coder-1.5B, 3 retrieved gold demonstrations) on 60 test sentences: entity F1 0.300" in md
    assert md.count("Embedded teacher (") == 2


def test_dev_check_reads_dev_on_the_tuning_seeds_and_keeps_each_setting(tmp_path, monkeypatch):
    import json

    import bench.ner as ner

    calls = []

    def fake_sweep(policies, budgets, seeds, extra=None, split="test"):
        calls.append((tuple(seeds), tuple(extra or ()), split))
        bump = 0.1 if extra else 0.0
        return {p: {str(b): {str(s): {"entity_f1": 0.2 + bump + 0.01 * s, "worst_type_f1": 0.0} for s in seeds}
                    for b in budgets} for p in policies}

    monkeypatch.setattr(ner, "sweep", fake_sweep)
    monkeypatch.setattr(ner, "RESULTS", tmp_path)
    ner.dev_check(["distillgraph"], [50], [])
    ner.dev_check(["distillgraph"], [50, 100], ["loop.cold_start=typical"])
    assert calls == [(tuple(ner.DEV_SEEDS), (), "dev"), (tuple(ner.DEV_SEEDS), ("loop.cold_start=typical",), "dev")]
    assert not set(ner.DEV_SEEDS) & set(ner.TEST_SEEDS)
    saved = json.loads((tmp_path / ner.DEV_FILE).read_text())
    assert set(saved["settings"]) == {"defaults", "loop.cold_start=typical"}
    assert saved["settings"]["defaults"]["distillgraph"]["50"]["dev_entity_f1"]["mean"] == 0.31  # 0.2 + 0.11
    assert set(saved["settings"]["loop.cold_start=typical"]["distillgraph"]) == {"50", "100"}


def test_final_test_reads_the_requested_split():
    from bench.ner import final_test

    last = {"test": {"entity_f1": 0.3, "worst_type_f1": 0.1}, "dev": {"entity_f1": 0.2, "worst_type_f1": 0.0},
            "train_size": 40}
    assert final_test({"history": [last]})["entity_f1"] == 0.3
    assert final_test({"history": [last]}, "dev") == {"entity_f1": 0.2, "worst_type_f1": 0.0, "labelled": 40}


def test_distilled_at_a_larger_cap_renders_with_the_teachers_pool_quality():
    data = {**summarise(_points(lead=0.02)), "seeds": [0, 1, 2, 3],
            "distilled_at": {"300": {"calls": 298, "wall_seconds": 2400.0,
                                     "rounds": [{"test_entity_f1": 0.05}, {"test_entity_f1": 0.15}],
                                     "teacher_pool_labels": {"n": 250, "entity_f1": 0.3, "entity_precision": 0.4,
                                                             "entity_recall": 0.25}}}}
    md = markdown(data)
    assert "`budget.max_calls=300`" in md and "298 calls" in md and "40.0 minutes" in md
    assert "0.050 → 0.150" in md and "250 pool sentences" in md and "recall 0.250" in md


def test_teacher_pool_quality_scores_the_bought_tags_against_gold():
    from types import SimpleNamespace

    from bench.ner import ner_config, teacher_pool_quality
    from distillgraph.store.datasets import load_data

    cfg = ner_config("random", 10, 0)
    pool = load_data(cfg.data, cfg.task)["pool"]
    with_entity = [e for e in pool if any(t != "O" for t in (e.output or "").split(" "))][:4]
    right = [SimpleNamespace(id=e.id, target=e.output) for e in with_entity]
    all_o = [SimpleNamespace(id=e.id, target=" ".join("O" for _ in (e.output or "").split(" "))) for e in with_entity]
    assert teacher_pool_quality(right, cfg)["teacher_pool_labels"] == {
        "n": 4, "entity_f1": 1.0, "entity_precision": 1.0, "entity_recall": 1.0}
    missed = teacher_pool_quality(all_o + [SimpleNamespace(id="not-in-pool", target="O")], cfg)["teacher_pool_labels"]
    assert missed["n"] == 4 and missed["entity_recall"] == 0.0 and missed["entity_f1"] == 0.0
    assert teacher_pool_quality([], cfg) == {}


def test_refit_renders_the_teacher_and_gold_tags_of_one_run():
    data = {**summarise(_points(lead=0.02)), "seeds": [0, 1, 2, 3],
            "refit": {"wnut-ner-1 student.outside_weight=0.1": {
                "overrides": ["student.outside_weight=0.1"], "train": 280,
                "teacher_tags": {"dev": 0.21, "test": 0.2}, "gold_tags_same_sentences": {"dev": 0.33, "test": 0.34}}}}
    md = markdown(data)
    assert "run `wnut-ner-1`" in md and "280 training sentences" in md and "student.outside_weight=0.1" in md
    assert "test entity F1 0.200 (dev 0.210)" in md and "gold tags: 0.340 (dev 0.330)" in md


def test_span_filters_drop_marked_and_lowercase_entities_only():
    text = "@bob met Alice in paris at #Home https://x.co Google"
    tags = "B-person O B-person O B-geo-loc O B-other B-other B-company"
    assert drop_spans(text, tags, "marks") == "O O B-person O B-geo-loc O O O B-company"
    assert drop_spans(text, tags, "marks_lowercase") == "O O B-person O O O O O B-company"
    assert drop_spans("New york rocks", "B-geo-loc I-geo-loc O", "marks_lowercase") == "B-geo-loc I-geo-loc O"


def test_refit_renders_what_a_span_filter_buys_on_dev():
    data = {**summarise(_points(lead=0.02)), "seeds": [0, 1, 2, 3],
            "refit": {"wnut-ner-1": {"overrides": [], "train": 110, "teacher_tags": {"dev": 0.08, "test": 0.08},
                                     "gold_tags_same_sentences": {"dev": 0.28, "test": 0.3},
                                     "filtered": {"marks": {"pool_tags": {"entity_f1": 0.27, "entity_precision": 0.234,
                                                                          "entity_recall": 0.32}, "dev": 0.094}}}}}
    md = markdown(data)
    assert "Without spans starting with @, #" in md and "precision 0.234" in md and "dev entity F1 0.094 (test not read)" in md


def test_outside_weight_tuning_table_lists_each_weight_with_its_mean():
    t = {"tuning_seeds": [10, 11], "subsets_per_size": 2, "dev_entity_f1": {
        "50": {"C=rule shapes": {"mean": 0.08}, "C=rule shapes O=0.1": {"mean": 0.12}},
        "100": {"C=rule shapes": {"mean": 0.18}, "C=rule shapes O=0.1": {"mean": 0.22}}}}
    t["dev_entity_f1"]["1495"] = {"C=rule shapes": {"mean": 0.37}}  # the whole pool, one weight only
    md = markdown({**summarise(_points(lead=0.02)), "seeds": [0, 1], "outside_weight_tuning": t})
    assert "| O weight | 50 sentences | 100 sentences | 1495 sentences | mean over 50, 100 |" in md
    assert "| 1 | 0.080 | 0.180 | 0.370 | 0.130 |" in md and "| 0.1 | 0.120 | 0.220 | - | 0.170 |" in md
    assert md.index("| 1 |") < md.index("| 0.1 |")


def test_teacher_dev_check_labels_dev_of_a_tuning_seed_and_keeps_each_instruction(tmp_path, monkeypatch):
    import json

    import bench.ner as ner

    calls = []

    def fake_teacher(n, seed=0, demonstrations=3, split="test", extra=None, bank=0, demo_source="gold"):
        calls.append((n, seed, demonstrations, split, tuple(extra or ())))
        return {"entity_f1": 0.2 if extra else 0.25, "precision": 0.15, "recall": 0.3, "demonstrations": demonstrations,
                "instruction": "other" if extra else "Find the named entities in the tweet.",
                "seconds_per_sentence": 4.4}

    monkeypatch.setattr(ner, "embedded_teacher", fake_teacher)
    monkeypatch.setattr(ner, "RESULTS", tmp_path)
    ner.teacher_dev_check(80, [], demonstrations=0)
    ner.teacher_dev_check(80, ['task.instruction="other"'], demonstrations=0)
    assert calls[0] == (80, ner.DEV_SEEDS[0], 0, "dev", ()) and calls[1][3] == "dev"
    assert ner.DEV_SEEDS[0] not in ner.TEST_SEEDS
    saved = json.loads((tmp_path / ner.DEV_FILE).read_text())["teacher"]
    assert set(saved) == {"demonstrations=0", 'task.instruction="other" demonstrations=0'}
    md = markdown({**summarise(_points(lead=0.02)), "seeds": [0, 1], "teacher_dev": saved})
    assert "| Find the named entities in the tweet. | 0 | 0.250 | 0.150 | 0.300 | 4.4 |" in md
    assert "| other | 0 | 0.200 |" in md
    own = {"instruction": "i", "demonstrations": 3, "bank": 100, "demo_source": "teacher", "entity_f1": 0.164,
           "bank_zero_shot": {"entity_f1": 0.21}, "seconds_per_sentence": 10.1}
    md = markdown({**summarise(_points(lead=0.02)), "seeds": [0, 1], "teacher_dev": {
        "own": own, "gold": {**own, "demo_source": "gold", "entity_f1": 0.187, "bank_zero_shot": None},
        "pool": {**own, "bank": None, "entity_f1": 0.249}}})
    assert "| i | 3 from 100 tweets, the teacher's own labels (those labels' entity F1 0.210) | 0.164 |" in md
    assert "| i | 3 from 100 tweets, gold | 0.187 |" in md and "| i | 3 from the pool, gold | 0.249 |" in md


def test_embedded_teacher_reads_the_requested_split_with_task_overrides(monkeypatch):
    """The split and the instruction reach the annotator prompt: the teacher is a stub that records the
    prompts it is asked and stops there (no llama.cpp here)."""
    import pytest

    import bench.ner as ner
    from distillgraph.agents import teacher as teacher_mod
    from distillgraph.store.datasets import load_data

    seen: list[str] = []
    closed: list[bool] = []

    class Asked(Exception):
        pass

    class Stub:
        model = "stub"

        def ask_many(self, reqs):
            seen.extend(" ".join(m["content"] for m in r.messages) for r in reqs)
            raise Asked

        def close(self):
            closed.append(True)

    monkeypatch.setattr(teacher_mod, "build_teacher", lambda *a, **k: Stub())
    with pytest.raises(Asked):
        ner.embedded_teacher(2, seed=10, demonstrations=0, split="dev", extra=['task.instruction="Tag the tweet."'])
    cfg = ner.ner_config("random", 1, 10)
    data = load_data(cfg.data, cfg.task)
    assert len(seen) == 2 and closed == [True]
    assert "Tag the tweet." in seen[0] and "Find the named entities" not in seen[0]
    assert data["dev"][0].text[:30] in seen[0] and data["test"][0].text[:30] not in seen[0]


def test_embedded_teacher_can_show_its_own_zero_shot_labels_of_a_pool_bank_as_demonstrations(monkeypatch):
    """demo_source="teacher": the bank is labelled first with no demonstrations, and the dev prompts then show
    the teacher's entities for the retrieved bank tweets (what a run shows: its own earlier labels), never
    their gold entities; the bank's zero-shot F1 is reported. The stub names each tweet's first word a person."""
    import json

    import bench.ner as ner
    from distillgraph.agents import teacher as teacher_mod
    from distillgraph.agents.schemas import EntitiesAnswer
    from distillgraph.agents.teacher_types import TeacherResult

    batches: list[list[str]] = []

    class Stub:
        model = "stub"

        def ask_many(self, reqs):
            batches.append([r.messages[-1]["content"] for r in reqs])
            out = []
            for r in reqs:
                text = r.messages[-1]["content"].split("<<<DATA")[-1].split("DATA>>>")[0]
                first = text.split()[0]
                out.append(TeacherResult(request=r, parsed=EntitiesAnswer(entities=[{"text": first, "type": "person"}]),
                                         raw="", error=None, cached=False, input_tokens=1, output_tokens=1, usd=0.0,
                                         attempts=1, key=str(len(out))))
            return out

        def close(self):
            pass

    monkeypatch.setattr(teacher_mod, "build_teacher", lambda *a, **k: Stub())
    row = ner.embedded_teacher(2, seed=10, demonstrations=1, split="dev", bank=5, demo_source="teacher")
    assert [len(b) for b in batches] == [5, 2]  # the bank zero-shot, then the dev tweets
    assert row["bank_zero_shot"]["n"] == 5 and row["bank"] == 5 and row["demo_source"] == "teacher"
    assert all("entities:" not in b for b in batches[0])  # zero-shot: no demonstration shown
    shown = [json.loads(line.removeprefix("entities: ")) for b in batches[1] for line in b.splitlines()
             if line.startswith("entities: ")]
    assert len(shown) == 2 and all(len(e) == 1 and e[0]["type"] == "person" for e in shown)


def test_the_last_teacher_measurement_is_the_reference_and_earlier_ones_stay_listed():
    from bench.ner import record_teacher
    data: dict = {}
    record_teacher(data, {"demonstrations": 0, "entity_f1": 0.2}, 0)
    record_teacher(data, {"demonstrations": 3, "entity_f1": 0.3}, 3)
    assert data["embedded_teacher"]["demonstrations"] == 3
    assert set(data["embedded_teacher_variants"]) == {"demonstrations=0", "demonstrations=3"}
    record_teacher(data, {"demonstrations": 3, "entity_f1": 0.4}, 3)  # a re-measurement replaces its own entry
    assert data["embedded_teacher_variants"]["demonstrations=3"]["entity_f1"] == 0.4
    assert data["embedded_teacher_variants"]["demonstrations=0"]["entity_f1"] == 0.2
