"""Simulated teachers: seeded label noise (uniform / confusion), the reserve writer, declared as simulations."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from distillgraph.agents.budget import BudgetLedger
from distillgraph.agents.config import BudgetConfig, SimulationConfig, TeacherConfig
from distillgraph.agents.oracle import OracleTeacher
from distillgraph.agents.schemas import SynthBatch, label_answer_schema
from distillgraph.agents.simulated import (
    Difficulty,
    NoisyLabels,
    ReserveWriter,
    SimulatedTeacher,
    simulate,
    teacher_description,
)
from distillgraph.agents.teacher import TeacherRefused, TeacherRequest
from distillgraph.store.schema import Example, UserError

LABELS = ("business", "politics", "sport", "tech")


def _label_req(ex_id: str, vote: int = 0) -> TeacherRequest:
    return TeacherRequest(node="annotator", messages=[{"role": "user", "content": ex_id}],
                          schema=label_answer_schema(LABELS), example_id=ex_id, sample_index=vote)


def test_uniform_noise_rate_and_determinism() -> None:
    noisy = NoisyLabels(SimulationConfig(noise=0.2, seed=3), LABELS)
    got = [noisy(f"ex{i}", LABELS[i % 4]) for i in range(4000)]
    wrong = sum(g != LABELS[i % 4] for i, g in enumerate(got))
    assert 0.17 < wrong / 4000 < 0.23
    assert got == [noisy(f"ex{i}", LABELS[i % 4]) for i in range(4000)]  # same draw on a resume / rerun
    assert all(g in LABELS for g in got)
    # one draw per example by default: every vote agrees; per vote: votes differ
    assert len({noisy("ex7", "sport", vote=v) for v in range(10)}) == 1
    per_vote = NoisyLabels(SimulationConfig(noise=0.5, noise_per_vote=True), LABELS)
    assert len({per_vote("ex7", "sport", vote=v) for v in range(20)}) > 1
    assert NoisyLabels(SimulationConfig(noise=0.0), LABELS)("x", "tech") == "tech"


def test_confusion_matrix_noise_follows_the_row() -> None:
    sim = SimulationConfig(noise=1.0, noise_mode="confusion", confusion={"business": {"politics": 1.0}})
    noisy = NoisyLabels(sim, LABELS)
    assert {noisy(f"e{i}", "business") for i in range(200)} == {"politics"}
    spread = Counter(noisy(f"e{i}", "sport") for i in range(600))  # no row: uniform over the others
    assert set(spread) == {"business", "politics", "tech"} and min(spread.values()) > 150
    with pytest.raises(UserError, match="unknown label"):
        NoisyLabels(SimulationConfig(noise=0.1, noise_mode="confusion", confusion={"busines": {"tech": 1}}), LABELS)


def _two_blobs(n: int = 400) -> tuple[list[str], list[str], np.ndarray, set[str]]:
    """Two label regions on a circle; the 40 texts nearest the border carry mixed labels (the hard ones)."""
    angles = np.linspace(0.0, np.pi, n)
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    targets = ["business" if a < np.pi / 2 else "politics" for a in angles]
    border = set(range(n // 2 - 20, n // 2 + 20))
    for i in border:  # mixed labels where the regions meet
        targets[i] = "business" if i % 2 else "politics"
    ids = [f"p{i}" for i in range(n)]
    return ids, targets, vectors, {ids[i] for i in border}


def test_difficulty_noise_keeps_the_mean_rate_and_errs_where_labels_meet() -> None:
    ids, targets, vectors, border = _two_blobs()
    hard = Difficulty(ids, targets, vectors, k=10, floor=0.1)
    assert np.mean([hard.weight[i] for i in ids]) == pytest.approx(1.0)
    far = [ids[i] for i in range(len(ids)) if abs(i - len(ids) // 2) > 30]  # every neighbour shares the label
    assert min(hard.weight[i] for i in border) > 4 * max(hard.weight[i] for i in far)
    assert hard.weight.get("audit-item") is None and hard.rate("audit-item", 0.1) == pytest.approx(0.1)
    sim = SimulationConfig(noise=0.1, noise_mode="difficulty", seed=1)
    noisy = NoisyLabels(sim, LABELS, lambda: hard)
    gold = dict(zip(ids, targets, strict=True))
    wrong = {i for i in ids if noisy(i, gold[i]) != gold[i]}
    uniform = NoisyLabels(SimulationConfig(noise=0.1, seed=1), LABELS)
    uniform_wrong = {i for i in ids if uniform(i, gold[i]) != gold[i]}
    assert 0.05 < len(wrong) / len(ids) < 0.15  # the mean rate is kept
    assert len(wrong & border) / len(border) > 0.3 > len(uniform_wrong & border) / len(border)
    # where the neighbours disagree, a wrong label is one of theirs: business <-> politics, never sport or tech
    assert {noisy(i, gold[i]) for i in wrong & border} == {"business", "politics"}
    assert [noisy(i, gold[i]) for i in ids] == [noisy(i, gold[i]) for i in ids]  # deterministic
    assert "where labels meet" in SimulatedTeacher(BudgetLedger(BudgetConfig(max_calls=1)), gold, sim, LABELS).model
    concentrated = Difficulty(ids, targets, vectors, k=10, floor=0.0)  # no floor: never wrong far from the border
    assert all(concentrated.rate(i, 0.1) == 0.0 for i in far)
    assert np.mean([concentrated.weight[i] for i in ids]) == pytest.approx(1.0)


def test_difficulty_noise_needs_the_pool() -> None:
    t = OracleTeacher(BudgetLedger(BudgetConfig(max_calls=3)), {"a": "tech"})
    cfg = TeacherConfig(provider="oracle", simulation=SimulationConfig(noise=0.1, noise_mode="difficulty"))
    with pytest.raises(UserError, match="difficulty"):
        simulate(t, cfg, gold={"a": "tech"}, labels=LABELS)


def test_simulated_teacher_charges_one_call_and_says_it_is_simulated() -> None:
    ledger = BudgetLedger(BudgetConfig(max_calls=3))
    gold = {f"e{i}": LABELS[i % 4] for i in range(5)}
    t = SimulatedTeacher(ledger, gold, SimulationConfig(noise=0.3), LABELS)
    assert t.model.startswith("simulated teacher (label noise 30% uniform")
    res = t.ask_many([_label_req(f"e{i}") for i in range(5)])
    assert [r.ok for r in res] == [True, True, True, False, False] and res[3].skipped_budget
    assert ledger.to_dict()["spent"]["calls"] == 3
    assert not t.can_answer("analyse") and not t.can_answer("synth")
    with pytest.raises(TeacherRefused, match="error statistics"):
        t.ask(TeacherRequest(node="analyst", messages=[], schema=SynthBatch, kind="analyse"))


def _reserve() -> list[Example]:
    return [Example(id=f"r{i}", text=f"reserve text number {i} about {LABELS[i % 4]}", split="reserve",
                    label=LABELS[i % 4]) for i in range(16)]


def _embed(texts: list[str]) -> np.ndarray:
    """Topic-word embedding: one axis per label."""
    v = np.array([[float(label in t) for label in LABELS] + [0.1] for t in texts], dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_reserve_writer_serves_requested_labels_nearest_first_once() -> None:
    w = ReserveWriter(_reserve(), _embed, max_chars=20000)
    got = w.write(3, ["sport", "tech"], anchors=["a sport story"])
    assert len(got) == 3 and all("sport" in t for t in got[:3])  # nearest to the anchor: sport first
    rest = w.write(10, ["sport", "tech"], anchors=["a sport story"])
    assert len(rest) == 5 and not set(rest) & set(got)  # 8 sport+tech texts, each served once
    assert w.write(2, ["sport"], anchors=[]) == []


def test_mislabelling_writer_serves_other_labels_as_the_requested_one() -> None:
    from distillgraph.store.schema import content_id

    clean = ReserveWriter(_reserve(), _embed, max_chars=20000)
    assert clean.write(4, ["sport"], anchors=["a sport story"]) == \
        ReserveWriter(_reserve(), _embed, max_chars=20000, mislabel=0.0, seed=3).write(4, ["sport"], ["a sport story"])
    bad = ReserveWriter(_reserve(), _embed, max_chars=20000, mislabel=1.0)
    got = bad.write(3, ["sport"], anchors=["a sport story"])
    assert len(got) == 3 and not any("about sport" in t for t in got)  # every text of another label ...
    assert all(bad.gold[content_id(t, prefix="syn-")] == "sport" for t in got)  # ... whose "gold" is the request
    half = ReserveWriter(_reserve(), _embed, max_chars=20000, mislabel=0.5, seed=1)
    texts = half.write(8, ["sport", "tech"], anchors=["sport tech"])
    wrong = [t for t in texts if not ("about sport" in t or "about tech" in t)]
    assert 0 < len(wrong) < 8 and len(set(texts)) == 8  # a seeded draw per text, each text served once
    assert all(half.gold[content_id(t, prefix="syn-")] in ("sport", "tech") for t in texts)
    again = ReserveWriter(_reserve(), _embed, max_chars=20000, mislabel=0.5, seed=1)
    assert again.write(8, ["sport", "tech"], anchors=["sport tech"]) == texts  # the same draw again


def test_mislabelling_writer_is_named_and_its_texts_labelled_as_asked() -> None:
    from distillgraph.store.schema import content_id

    ledger = BudgetLedger(BudgetConfig(max_calls=50))
    cfg = TeacherConfig(provider="oracle", simulation=SimulationConfig(writer="reserve", writer_mislabel=1.0))
    t = simulate(OracleTeacher(ledger, {}), cfg, gold={}, labels=LABELS, reserve=_reserve(), embed=_embed)
    assert "100% of another label than asked, labelled as asked" in t.model and t.model.startswith("simulated")
    req = TeacherRequest(node="generator", messages=[{"role": "user", "content": "politics"}], schema=SynthBatch,
                         kind="synth", context={"synth_context": {"n": 2, "labels": ["politics"], "anchors": ["x"]}})
    texts = [s.text for s in t.ask(req).parsed.samples]
    assert texts and not any("about politics" in x for x in texts)
    assert all(t.ask(_label_req(content_id(x, prefix="syn-"))).parsed.label == "politics" for x in texts)


def test_simulate_wraps_the_oracle_and_labels_served_texts(tmp_path) -> None:
    ledger = BudgetLedger(BudgetConfig(max_calls=50))
    cfg = TeacherConfig(provider="oracle", simulation=SimulationConfig(writer="reserve"))
    gold = {"p1": "tech"}
    oracle = OracleTeacher(ledger, gold)
    assert simulate(oracle, TeacherConfig(provider="oracle"), gold=gold, labels=LABELS) is oracle  # nothing asked
    with pytest.raises(UserError, match="reserve_per_label"):
        simulate(oracle, cfg, gold=gold, labels=LABELS, reserve=[])
    t = simulate(oracle, cfg, gold=gold, labels=LABELS, reserve=_reserve(), embed=_embed)
    assert isinstance(t, SimulatedTeacher) and t.can_answer("synth")
    assert "writer: held-out reserve texts" in t.model and teacher_description(cfg) == t.model
    req = TeacherRequest(node="generator", messages=[{"role": "user", "content": "politics"}], schema=SynthBatch,
                         kind="synth", context={"synth_context": {"n": 3, "n_hard": 2, "labels": ["politics"],
                                                                  "anchors": ["politics"]}})
    res = t.ask(req)
    assert res.ok and [s.difficulty for s in res.parsed.samples] == ["hard", "hard", "easy"]
    texts = [s.text for s in res.parsed.samples]
    assert all("politics" in x for x in texts)
    # the annotator's label request for a served text (id = its synthetic content id) gets its gold label
    from distillgraph.store.schema import content_id

    ann = t.ask(_label_req(content_id(texts[0], prefix="syn-")))
    assert ann.ok and ann.parsed.label == "politics"


def test_simulation_requires_the_oracle_provider() -> None:
    with pytest.raises(ValueError, match="teacher.provider: oracle"):
        TeacherConfig(provider="openai", simulation=SimulationConfig(noise=0.1))
    assert teacher_description(TeacherConfig(provider="oracle")) == "simulated teacher (oracle: gold labels)"
    assert "Qwen2.5-Coder-1.5B" in teacher_description(TeacherConfig(provider="local"))


def test_bbc_reserve_split_never_enters_pool_dev_or_test(tmp_path) -> None:
    from distillgraph.store.datasets import load_bbc, load_data
    from distillgraph.store.schema import BBCConfig, DataConfig, TaskConfig

    task = TaskConfig(labels={t: "" for t in ("business", "entertainment", "politics", "sports", "tech")})
    base = load_bbc(BBCConfig(pool_size=300, dev_size=50, test_size=50), task)
    assert "reserve" not in base  # off by default: the usual split is unchanged
    data = load_bbc(BBCConfig(pool_size=300, dev_size=50, test_size=50, reserve_per_label=6), task)
    reserve = data["reserve"]
    assert len(reserve) == 30 and Counter(e.target for e in reserve) == {t: 6 for t in task.labels}
    others = {e.id for s in ("pool", "seed", "dev", "test") for e in data[s]}
    assert not others & {e.id for e in reserve}
    assert [e.id for e in data["test"]] == [e.id for e in base["test"]]  # dev/test do not move
    # files: data.reserve is read as a labelled split; overlap with the pool is refused
    pool = tmp_path / "pool.jsonl"
    pool.write_text('{"text": "a pool text"}\n{"text": "another pool text"}\n')
    res = tmp_path / "reserve.jsonl"
    res.write_text('{"text": "a held-out text", "label": "tech"}\n')
    loaded = load_data(DataConfig(pool=str(pool), reserve=str(res)), task)
    assert [e.target for e in loaded["reserve"]] == ["tech"]
    res.write_text('{"text": "a pool text", "label": "tech"}\n')
    with pytest.raises(UserError, match="duplicate id"):
        load_data(DataConfig(pool=str(pool), reserve=str(res)), task)


def test_generator_requests_carry_the_writers_context() -> None:
    from distillgraph.agents.generator import SynthJob, synth_requests
    from distillgraph.prompts import PromptLibrary
    from distillgraph.store.schema import TaskConfig

    task = TaskConfig(labels={label: "" for label in LABELS})
    job = SynthJob(cluster=3, cluster_name="c3", n=5, weakness="w",
                   examples=[{"text": "ex one", "target": "sport"}, {"text": "ex two", "target": "tech"}],
                   errors=[{"text": "err", "target": "tech", "predicted": "sport"}])
    pairs = synth_requests([job], task=task, prompts=PromptLibrary(), per_call=4, easy_fraction=0.3, round_=1,
                           temperature=0.9)
    ctxs = [r.context["synth_context"] for _, r in pairs]
    assert [c["n"] for c in ctxs] == [4, 1] and ctxs[0]["labels"] == ["tech", "sport"]  # the errors' label first
    assert ctxs[0]["anchors"][0] == "err" and ctxs[0]["cluster"] == 3
    twin = synth_requests([job], task=task, prompts=PromptLibrary(), per_call=4, easy_fraction=0.3, round_=1,
                          temperature=0.9)[0][1]
    twin.context = {}
    assert twin == pairs[0][1]  # the context is not part of a request's identity


def test_reserve_writer_serves_hard_samples_near_the_errors_and_easy_ones_near_the_examples() -> None:
    ledger = BudgetLedger(BudgetConfig(max_calls=50))
    cfg = TeacherConfig(provider="oracle", simulation=SimulationConfig(writer="reserve"))
    t = simulate(OracleTeacher(ledger, {}), cfg, gold={}, labels=LABELS, reserve=_reserve(), embed=_embed)
    ctx = {"n": 3, "n_hard": 2, "labels": ["tech", "sport"], "anchors": ["tech", "sport"],
           "hard": {"labels": ["tech"], "anchors": ["tech"]}, "easy": {"labels": ["sport"], "anchors": ["sport"]}}
    req = TeacherRequest(node="generator", messages=[{"role": "user", "content": "c"}], schema=SynthBatch,
                         kind="synth", context={"synth_context": ctx})
    res = t.ask(req)
    got = [(s.difficulty, s.text.rsplit(" ", 1)[-1]) for s in res.parsed.samples]
    assert got == [("hard", "tech"), ("hard", "tech"), ("easy", "sport")]


def test_generator_context_splits_hard_and_easy_anchors() -> None:
    from distillgraph.agents.generator import SynthJob, synth_context

    job = SynthJob(cluster=1, cluster_name="c1", n=4, weakness="w",
                   examples=[{"text": "ex one", "target": "sport"}], errors=[{"text": "err", "target": "tech"}])
    ctx = synth_context(job, 4, 3)
    assert ctx["hard"] == {"labels": ["tech"], "anchors": ["err"]}
    assert ctx["easy"] == {"labels": ["sport"], "anchors": ["ex one"]}
    assert ctx["labels"] == ["tech", "sport"] and ctx["n_hard"] == 3


def test_missed_labels_steer_the_hard_samples_and_are_named_in_the_prompt() -> None:
    from distillgraph.agents.generator import SynthJob, synth_context, synth_requests
    from distillgraph.prompts import PromptLibrary
    from distillgraph.store.schema import TaskConfig

    examples = [{"text": "ex one", "target": "sport"}]
    job = SynthJob(cluster=1, cluster_name="c1", n=4, weakness="w", examples=examples, errors=[], missed=["tech"])
    ctx = synth_context(job, 4, 3)  # no error texts (round 1, labelled anchor): tech texts near the examples
    assert ctx["hard"] == {"labels": ["tech"], "anchors": ["ex one"]}
    assert ctx["easy"] == {"labels": ["sport"], "anchors": ["ex one"]}
    with_err = SynthJob(cluster=1, cluster_name="c1", n=4, weakness="w", examples=examples,
                        errors=[{"text": "err", "target": "sport"}], missed=["tech"])
    assert synth_context(with_err, 4, 3)["hard"] == {"labels": ["sport", "tech"], "anchors": ["err"]}
    plain = SynthJob(cluster=1, cluster_name="c1", n=4, weakness="w", examples=examples, errors=[])
    assert synth_context(plain, 4, 3)["hard"] == {"labels": [], "anchors": []}  # the writer's fallback: examples
    task = TaskConfig(labels={label: "" for label in LABELS})
    render = [synth_requests([j], task=task, prompts=PromptLibrary(), per_call=4, easy_fraction=0.3, round_=1,
                             temperature=0.9)[0][1].messages[-1]["content"] for j in (job, plain)]
    assert "Labels the student most often gets wrong in this sub-population: tech." in render[0]
    assert "most often gets wrong" not in render[1]


def test_missed_labels_counts_wrong_dev_rows_per_cluster_by_label_name_only() -> None:
    from distillgraph.graph.node_tools import missed_labels

    def correct(rows):
        return [r["gold"] == r["pred"] for r in rows]

    rows = [{"cluster": 0, "gold": "tech", "pred": "sport"}, {"cluster": 0, "gold": "sport", "pred": "tech"},
            {"cluster": 0, "gold": "sport", "pred": "tech"}, {"cluster": 0, "gold": "tech", "pred": "tech"},
            {"cluster": 1, "gold": "sport", "pred": "sport"}, {"cluster": 2, "gold": "[{...}]", "pred": "[]"},
            {"cluster": 3, "gold": "tech", "pred": None}]
    labels = ["sport", "tech"]
    assert missed_labels(rows, labels, correct) == {0: ["sport", "tech"], 3: ["tech"]}  # 2 sport, 1 tech misses
    assert missed_labels([rows[0], rows[1]], labels, correct) == {0: ["sport", "tech"]}  # tie: label order
    assert missed_labels([], labels, correct) == {}
