"""Teacher audit (sample, Wilson interval, verdict) and label gating (signals, confidence, drop / weight)."""

from __future__ import annotations

import pytest

from distillgraph.agents.audit import audit_sample, audit_size, score_audit, wilson
from distillgraph.agents.config import GateConfig
from distillgraph.agents.gating import Signals, confusion_from, gate, posterior, signals_for, weight_for
from distillgraph.agents.records import Annotation
from distillgraph.store.schema import Example


def _ex(i: int, label: str, split: str = "dev") -> Example:
    return Example(id=f"{split}{i}", text=f"t{i}", split=split, label=label)  # type: ignore[arg-type]


def test_wilson_interval() -> None:
    lo, hi = wilson(17, 20)
    assert lo == pytest.approx(0.6396, abs=1e-3) and hi == pytest.approx(0.9476, abs=1e-3)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == pytest.approx(1.0) and wilson(0, 0) == (0.0, 1.0)


def test_audit_size_default_is_at_most_ten_percent_of_the_budget() -> None:
    assert audit_size(None, 60, votes=1, available=100) == 6
    assert audit_size(None, 60, votes=3, available=100) == 0  # 2 items would say nothing: skipped
    assert audit_size(None, 2000, votes=1, available=100) == 40  # capped
    assert audit_size(None, 60, votes=1, available=3) == 0
    assert audit_size(12, 60, votes=1, available=8) == 8 and audit_size(0, 60, 1, 100) == 0
    assert audit_size(None, None, 1, 100) == 0


def test_audit_sample_covers_labels_seeds_first() -> None:
    seeds = [_ex(i, lab, "seed") for i, lab in enumerate(["a", "a", "b"])]
    dev = [_ex(i, lab) for i, lab in enumerate(["a", "b", "c", "c", "c"])]
    got = audit_sample(seeds, dev, 5, seed=0)
    assert len(got) == 5 and {e.target for e in got} == {"a", "b", "c"}
    assert audit_sample(seeds, dev, 5, seed=0) == got  # seeded
    assert all(e.split == "seed" for e in got if e.target == "a")


def test_score_audit_verdicts_and_line() -> None:
    items = [_ex(i, "a" if i % 2 else "b") for i in range(10)]
    answers = {e.id: e.target for e in items[:6]} | {items[6].id: "zzz"}  # 6 right, 1 wrong, 3 unanswered
    res = score_audit(items, answers, teacher="T", student_accuracy=0.9, action="stop", calls=10)
    assert res.correct == 6 and res.answered == 7 and res.accuracy == pytest.approx(0.6)
    assert res.verdict == "not_better" and res.action == "stop"
    assert "NOT better" in res.line() and "\n" not in res.line() and "0.600" in res.line()
    assert set(res.per_label) == {"a", "b"} and res.to_dict()["ci95"][0] < 0.6 < res.to_dict()["ci95"][1]
    # 6/10 against a 0.7 student: its interval (0.31-0.83) reaches 0.7, too few items to stop on
    unsure = score_audit(items, answers, teacher="T", student_accuracy=0.7, action="stop")
    assert unsure.verdict == "inconclusive" and unsure.action == "continue" and "WARNING" in unsure.line()
    ok = score_audit(items, {e.id: e.target for e in items}, teacher="T", student_accuracy=0.7, action="stop")
    assert ok.verdict == "better" and ok.action == "continue" and "NOT" not in ok.line()
    assert score_audit(items, {}, teacher="T", student_accuracy=None, action="stop").verdict == "unknown"


def _ann(target: str, neighbours: list[str], agreement: float = 1.0) -> Annotation:
    return Annotation(id=f"x-{target}-{len(neighbours)}", target=target, cluster=0, source="pool", round=1,
                      neighbour_ids=neighbours, agreement=agreement)


LABELS = ["a", "b", "c"]
# a good student: right 18 times in 20 on every label
GOOD = {t: {p: (18 if p == t else 1) for p in LABELS} for t in LABELS}
# a useless student: says "a" whatever the truth
ONE_LABEL = {t: {"a": 10} for t in LABELS}


def test_signals() -> None:
    known = {"n1": "a", "n2": "a", "n3": "b"}
    s = signals_for(_ann("a", ["n1", "n2", "n3", "unknown"], 0.5), votes_asked=3, known=known, student_pred="b")
    assert s.votes == 0.5 and s.neighbours == {"a": 2, "b": 1} and s.student == "b"
    assert signals_for(_ann("a", []), votes_asked=1, known=known, student_pred=None) == Signals()
    assert confusion_from([{"gold": "a", "pred": "b"}, {"gold": "a", "pred": "b"}, {"gold": "c", "pred": None}]) == {
        "a": {"b": 2}}


def test_posterior_weighs_each_witness_by_its_reliability() -> None:
    cfg = GateConfig(mode="drop")
    alone = posterior("a", Signals(), LABELS, cfg, teacher_accuracy=0.8, confusion=None)
    assert alone["a"] == pytest.approx(0.8)  # only the teacher: its accuracy
    contradicted = posterior("a", Signals(student="b"), LABELS, cfg, teacher_accuracy=0.7, confusion=GOOD)["a"]
    assert contradicted < 0.5  # a 90% student that says otherwise outvotes a 70% teacher
    agreed = posterior("a", Signals(student="a"), LABELS, cfg, teacher_accuracy=0.8, confusion=GOOD)["a"]
    assert agreed > 0.95
    # a student that predicts one label for everything is no evidence: it cannot veto the teacher
    assert posterior("b", Signals(student="a"), LABELS, cfg, teacher_accuracy=0.8, confusion=ONE_LABEL)["b"] == \
        pytest.approx(0.8, abs=0.01)
    # neighbours count as smoothed label frequencies; votes blend the teacher's accuracy with their agreement
    nb = posterior("a", Signals(neighbours={"b": 4}), LABELS, cfg, teacher_accuracy=0.8, confusion=None)["a"]
    assert nb < 0.8
    split = posterior("a", Signals(votes=1 / 3), LABELS, cfg, teacher_accuracy=0.8, confusion=None)["a"]
    assert 1 / 3 < split < 0.6  # a 1-of-3 majority is weak evidence
    off = GateConfig(mode="drop", w_student=0)
    assert posterior("a", Signals(student="b"), LABELS, off, teacher_accuracy=0.8, confusion=GOOD)["a"] == \
        pytest.approx(0.8)


def test_weights_by_mode() -> None:
    assert weight_for(0.2, GateConfig(mode="off")) == 1.0
    assert weight_for(0.2, GateConfig(mode="drop", threshold=0.5)) == 0.0
    assert weight_for(0.7, GateConfig(mode="drop", threshold=0.5)) == 1.0
    assert weight_for(0.25, GateConfig(mode="weight", threshold=0.5)) == pytest.approx(0.5)
    assert weight_for(0.0, GateConfig(mode="weight", threshold=0.5, min_weight=0.1)) == pytest.approx(0.1)
    assert weight_for(None, GateConfig(mode="drop")) == 1.0  # nothing to judge by: kept


def test_gate_sets_confidence_and_weight() -> None:
    anns = [_ann("a", []), _ann("b", ["n"])]
    out, summary = gate(anns, [Signals(student="a"), Signals(student="a")], LABELS, GateConfig(mode="drop"),
                        teacher_accuracy=0.7, confusion=GOOD)
    assert [a.weight for a in out] == [1.0, 0.0] and out[1].gate < 0.5 < out[0].gate
    assert summary["dropped"] == 1 and summary["below_threshold"] == 1 and summary["teacher_accuracy"] == 0.7
    assert anns[1].weight == 1.0  # the input is not modified
    _, default = gate(anns, [Signals(), Signals()], LABELS, GateConfig())
    assert default["teacher_accuracy"] == 0.8 and default["dropped"] == 0  # mode off: recorded, nothing dropped


def test_audit_stop_reason_only_for_stop() -> None:
    from distillgraph.agents.audit import audit_stop_reason

    items = [_ex(i, "a") for i in range(6)]
    bad = score_audit(items, {}, teacher="T", student_accuracy=0.5, action="stop").to_dict()
    assert audit_stop_reason(bad).startswith("teacher audit: the teacher (0.000 on 6 gold items)")
    assert audit_stop_reason(score_audit(items, {}, teacher="T", student_accuracy=0.5, action="warn").to_dict()) is None
    assert audit_stop_reason(None) is None


def test_planned_audit_follows_the_teacher() -> None:
    from distillgraph.agents.audit import planned_audit
    from distillgraph.agents.config import SimulationConfig, TeacherConfig

    assert planned_audit(TeacherConfig(provider="local"), 60, available=110) == 6
    assert planned_audit(TeacherConfig(provider="oracle"), 60, available=110) == 0  # gold labels: nothing to audit
    noisy = TeacherConfig(provider="oracle", simulation=SimulationConfig(noise=0.2))
    assert planned_audit(noisy, 120, available=150) == 12
    assert planned_audit(TeacherConfig(provider="local", audit=0), 600, available=110) == 0


def test_teacher_reliability_shrinks_a_small_audit() -> None:
    from distillgraph.agents.gating import teacher_reliability

    assert teacher_reliability(12, 12, 0.8) == pytest.approx(20 / 22)
    assert teacher_reliability(9, 12, 0.8) == pytest.approx(17 / 22)
    assert teacher_reliability(900, 1000, 0.8) == pytest.approx(0.899, abs=1e-3)  # a large audit speaks for itself
    assert teacher_reliability(0, 0, 0.8) == pytest.approx(0.8)


def test_knn_label_counts_excludes_self_and_takes_the_k_nearest() -> None:
    import numpy as np

    from distillgraph.agents.gating import knn_label_counts

    # two tight groups on the axes; row 4 sits in group "a" but is labelled "b" (a wrong label)
    vecs = np.array([[1.0, 0.0], [0.99, 0.1], [0.98, -0.1], [0.97, 0.05], [0.995, 0.02],
                     [0.0, 1.0], [0.1, 0.99], [-0.1, 0.98]])
    labels = ["a", "a", "a", "a", "b", "b", "b", "b"]
    counts = knn_label_counts(vecs, labels, [4, 5, 0], k=3, chunk=2)   # chunking must not change anything
    assert counts[0] == {"a": 3}                      # the wrong label's neighbours, itself excluded
    assert counts[1] == {"b": 2, "a": 1}            # row 5: rows 6, 7 and the nearest of group "a" (row 1)
    assert sum(counts[2].values()) == 3 and counts[2].get("a", 0) >= 2
    assert knn_label_counts(vecs[:1], ["a"], [0], k=3) == [{}]      # alone: no neighbour
    assert knn_label_counts(vecs, labels, [], k=3) == []


def test_neighbour_weight_decides_whether_disagreeing_neighbours_overrule_the_teacher() -> None:
    five_against = Signals(neighbours={"tech": 5})
    w1, w4 = GateConfig(w_neighbours=1.0), GateConfig(w_neighbours=4.0)
    labels = ["business", "sport", "tech"]
    p1 = posterior("sport", five_against, labels, w1, teacher_accuracy=0.8, confusion=None)["sport"]
    p4 = posterior("sport", five_against, labels, w4, teacher_accuracy=0.8, confusion=None)["sport"]
    assert p1 > 0.5 > p4   # 0.8 teacher vs 5 of 5 neighbours: kept at w 1, overruled at w 4


def test_dataset_reducer_adds_and_updates_by_id() -> None:
    from distillgraph.graph.state import merge_dataset

    def ann(i: str, w: float = 1.0) -> Annotation:
        return Annotation(id=i, target="x", cluster=0, source="pool", round=1, weight=w)

    old = [ann("a"), ann("b")]
    out = merge_dataset(old, {"add": [ann("c")], "update": [ann("a", 0.0)]})
    assert [(a.id, a.weight) for a in out] == [("a", 0.0), ("b", 1.0), ("c", 1.0)]
    assert [a.id for a in merge_dataset(old, {"remove": ["a"]})] == ["b"]
    assert [a.id for a in merge_dataset(old, [ann("d")])] == ["a", "b", "d"]


def test_out_of_fold_judges_each_label_by_folds_that_never_saw_it() -> None:
    import numpy as np

    from distillgraph.agents.gating import out_of_fold

    rng = np.random.default_rng(0)
    centres = {"a": np.array([4.0, 0.0, 0.0]), "b": np.array([0.0, 4.0, 0.0]), "c": np.array([0.0, 0.0, 4.0])}
    labels = [t for t in "abc" for _ in range(20)]
    vecs = np.stack([centres[t] + rng.normal(0, 0.5, 3) for t in labels])
    labels[3] = "b"  # row 3 sits among the "a"s: a wrong label
    probs = out_of_fold(vecs, labels, folds=5, seed=1)
    assert len(probs) == 60 and all(abs(sum(p.values()) - 1) < 1e-6 for p in probs)
    assert probs[3]["a"] > 0.9 > probs[3]["b"]  # its own wrong label was never in its training folds
    assert probs[0]["a"] > 0.9 and probs[30]["b"] > 0.9
    assert probs == out_of_fold(vecs, labels, folds=5, seed=1)  # deterministic for a seed
    assert out_of_fold(vecs[:2], ["a", "b"], folds=5) == [{"a": 0.5, "b": 0.5}] * 2  # too few rows: uniform


def test_model_evidence_overrules_the_teacher_only_when_weighted() -> None:
    against = Signals(model={"business": 0.02, "sport": 0.03, "tech": 0.95})
    labels = ["business", "sport", "tech"]
    off, on = GateConfig(), GateConfig(w_model=1.0)
    assert posterior("sport", against, labels, off, teacher_accuracy=0.8, confusion=None)["sport"] == pytest.approx(0.8)
    assert posterior("sport", against, labels, on, teacher_accuracy=0.8, confusion=None)["sport"] < 0.5
    agree = Signals(model={"business": 0.05, "sport": 0.9, "tech": 0.05})
    assert posterior("sport", agree, labels, on, teacher_accuracy=0.8, confusion=None)["sport"] > 0.95
