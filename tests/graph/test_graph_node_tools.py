"""Pure helpers the nodes share: what is left to label per cluster, the demonstrations' exact search."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import numpy as np

from distillgraph.agents.records import Annotation
from distillgraph.agents.schemas import OutputAnswer
from distillgraph.agents.teacher import TeacherRequest, TeacherResult
from distillgraph.graph.node_annotator import Labelled
from distillgraph.graph.node_tools import (
    Lookup,
    ask_prefix_ordered,
    available_per_cluster,
    demonstration_targets,
    prefix_order,
    unlabelled_pool,
)
from distillgraph.store.schema import Example


def _deps(n_pool: int = 40) -> SimpleNamespace:
    pool = [Example(id=f"p{i}", text=f"text {i}", split="pool") for i in range(n_pool)]
    dev = [Example(id="d0", text="dev text", split="dev", label="a")]
    assignments = {e.id: i % 3 for i, e in enumerate(pool)} | {"d0": 1}
    return SimpleNamespace(data={"pool": pool, "dev": dev}, pool_ids={e.id for e in pool},
                           pool_sizes=lambda: Counter(assignments[e.id] for e in pool),
                           examples={e.id: e for e in pool + dev}, assignments=assignments)


def _ann(id_: str, cluster: int, source: str = "pool", text: str | None = None) -> Annotation:
    return Annotation(id=id_, target="a", cluster=cluster, source=source, round=1, text=text)  # type: ignore[arg-type]


def test_available_per_cluster_is_the_unlabelled_pool_counted_per_cluster() -> None:
    deps = _deps()
    look = Lookup(deps.examples, deps.assignments, {"s1": "synthetic"}, {"s1": 2})
    labelled = [f"p{i}" for i in (0, 3, 6, 9, 12, 1)]  # five of cluster 0, one of cluster 1
    state = {"dataset": [_ann(i, deps.assignments[i]) for i in labelled] + [_ann("s1", 2, "synthetic", "synthetic")],
             "dev_labels": {"d0": "a"}, "human_rejected": ["p2"]}
    expected = Counter(look.cluster(i) for i in unlabelled_pool(deps, state))  # the old way: over the whole pool
    got = available_per_cluster(deps, state, look)
    assert got == expected == Counter({0: 14 - 5, 1: 13 - 1, 2: 13 - 1})
    all_of_0 = [f"p{i}" for i in range(0, 40, 3)]
    state["dataset"] += [_ann(i, 0) for i in all_of_0]
    assert 0 not in available_per_cluster(deps, state, look)  # none left: absent, as a Counter over the pool had it


def test_demonstrations_are_the_nearest_labelled_examples_without_the_item_itself() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(30, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    known = {f"p{i}": f"label{i % 2}" for i in range(0, 30, 2)}
    row = {f"p{i}": i for i in range(30)}
    deps = _deps(30)
    deps.vectors = lambda ids, texts: vectors[[row[i] for i in ids]]
    look = Lookup(deps.examples, deps.assignments, {}, {})
    labelled = Labelled(deps, look, known)  # type: ignore[arg-type]
    query = vectors[4] + 0.01
    expected = sorted((i for i in known if i != "p4"), key=lambda i: -float(vectors[row[i]] @ query))[:3]
    demos = labelled.demonstrations(query, "p4", 3)
    assert [d["id"] for d in demos] == expected
    assert demos[0] == {"id": expected[0], "text": f"text {row[expected[0]]}", "target": known[expected[0]]}
    assert labelled.demonstrations(query, "p4", 0) == []
    assert Labelled(deps, look, {}).demonstrations(query, "p4", 3) == []  # type: ignore[arg-type]


def test_demonstrations_from_gold_shows_only_the_seed_labels_never_the_teachers_own() -> None:
    from distillgraph.agents.config import TeacherConfig

    deps = _deps()
    deps.data["seed"] = [Example(id="s0", text="seed text", split="seed", label="b"),
                         Example(id="s1", text="seed text 2", split="seed", label="a")]
    state = {"dataset": [_ann("p0", 0), _ann("p1", 1)]}
    deps.cfg = SimpleNamespace(teacher=TeacherConfig())
    assert demonstration_targets(deps, state) == {"s0": "b", "s1": "a", "p0": "a", "p1": "a"}  # type: ignore[arg-type]
    deps.cfg = SimpleNamespace(teacher=TeacherConfig(demonstrations_from="gold"))
    assert demonstration_targets(deps, state) == {"s0": "b", "s1": "a"}  # type: ignore[arg-type]
    deps.data["seed"] = []
    assert demonstration_targets(deps, state) == {}  # type: ignore[arg-type]  # no gold: none shown


def _request(text: str, vote: int = 0) -> TeacherRequest:
    msgs = [{"role": "system", "content": "label it"}, {"role": "user", "content": text}]
    return TeacherRequest(node="annotator", messages=msgs, schema=OutputAnswer, prompt_name="annotator",
                          prompt_hash="h", sample_index=vote, example_id=text)


def test_prefix_order_sends_prompts_with_shared_demonstrations_one_after_another() -> None:
    texts = ["demo B\nitem 1", "demo A\nitem 2", "demo B\nitem 3", "demo A\nitem 4"]
    reqs = [_request(t, v) for t in texts for v in range(2)]  # two self-consistency votes each
    order = prefix_order(reqs)
    sent = [reqs[i].messages[1]["content"] for i in order]
    assert sent == [t for t in sorted(texts) for _ in range(2)]  # shared prefixes adjacent, votes together
    assert [reqs[i].sample_index for i in order] == [0, 1] * 4


def test_prefix_ordered_answers_come_back_in_request_order() -> None:
    reqs = [_request(t) for t in ["z item", "a item", "m item"]]
    sent: list[str] = []

    def ask_many(batch: list[TeacherRequest]) -> list[TeacherResult]:
        sent.extend(r.example_id or "" for r in batch)
        return [TeacherResult(request=r, parsed=None, raw=r.example_id or "", error=None, cached=False, input_tokens=0,
                              output_tokens=0, usd=0.0, attempts=1, key="k") for r in batch]

    deps = SimpleNamespace(teacher=SimpleNamespace(ask_many=ask_many), trace=SimpleNamespace(event=lambda *a, **k: None),
                           trace_prompts=False)
    results = ask_prefix_ordered(deps, reqs)  # type: ignore[arg-type]
    assert sent == ["a item", "m item", "z item"]
    assert [r.raw for r in results] == ["z item", "a item", "m item"]
