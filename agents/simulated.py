"""Simulated teachers for sweeps (many seeds, where a real LLM is too slow): gold labels with controlled noise,
a "writer" that answers synthesis requests with held-out real texts, analysis from the error statistics.

`simulate(teacher, cfg, reserve, embed)` wraps the oracle teacher (`teacher.provider: oracle`) when
`teacher.simulation` asks for noise or the reserve writer:

* noise: a label answer is wrong with probability `noise`; the wrong label is uniform over the others, or
  drawn from the gold label's `confusion` row. The draw is a hash of (seed, example id[, vote]), so resumed,
  repeated and gated/ungated runs see exactly the same noise. `noise_mode: difficulty` keeps `noise` as the mean
  rate over the pool but concentrates it where gold labels meet in the embedding space (`Difficulty`): a real
  teacher is wrong more often on the texts a student is unsure of (bench (a), real teacher: 19% wrong on the
  default policy's picks, 7% on a random sample), which uniform noise cannot show.
* writer ``reserve``: a synthesis request is answered with texts of the requested labels from the reserve split
  (carved from the corpus before pool, dev and test, never part of them), nearest (embedding cosine) to the
  requested cluster's examples and errors. Each reserve text is served once per process. The annotator then
  labels them like any synthetic text: the simulation knows their gold label (noise applies as for any label).
  `writer_mislabel`: that share of the texts (a seeded draw per text) comes from another label than requested,
  and its "gold" becomes the requested label: a bad writer, whose synthetic texts teach wrong labels.
* analysis: the simulated teacher does not analyse; the analyst falls back to its error statistics
  (`agents.analyst.weaknesses_from_stats`), for free.

Every answer costs one call in the ledger (0 tokens), like the oracle. The teacher's `model` string says
"simulated ...", and that string is what the trace, the annotations, the report and the data card show.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from distillgraph.agents.budget import BudgetLedger
from distillgraph.agents.config import SimulationConfig, TeacherConfig
from distillgraph.agents.generator import SYNTH_CONTEXT
from distillgraph.agents.oracle import ANSWERABLE, OracleTeacher, answer_values
from distillgraph.agents.schemas import SynthBatch, SynthSample
from distillgraph.agents.teacher import BaseTeacher, TeacherRefused, TeacherRequest, TeacherResult
from distillgraph.store.schema import Example, UserError, content_id

Embed = Callable[[list[str]], np.ndarray]


def describe(sim: SimulationConfig) -> str:
    """The model name every output carries: what is simulated, and how."""
    parts = []
    if sim.noise > 0:
        how = {"confusion": "confusion matrix", "uniform": "uniform",
               "difficulty": f"mean, where labels meet: floor {sim.difficulty_floor:g}, k {sim.difficulty_k}"}[sim.noise_mode]
        parts.append(f"label noise {sim.noise:.0%} {how}" + (" per vote" if sim.noise_per_vote else ""))
    else:
        parts.append("gold labels")
    if sim.writer == "reserve":
        parts.append("writer: held-out reserve texts" + (f", {sim.writer_mislabel:.0%} of another label than asked, "
                                                         "labelled as asked" if sim.writer_mislabel > 0 else ""))
    parts.append("analysis: error statistics")
    return "simulated teacher (" + "; ".join(parts) + ")"


def teacher_description(cfg: TeacherConfig) -> str:
    """One line naming the teacher of a run, for reports and data cards (simulations say so)."""
    if cfg.provider == "local":
        from distillgraph.agents.weights import local_description

        return local_description(cfg.local.model, cfg.local.model_path)
    if cfg.provider == "oracle":
        return describe(cfg.simulation) if cfg.simulation.active else "simulated teacher (oracle: gold labels)"
    return cfg.model


def _unit(*keys: object) -> float:
    """A deterministic number in [0, 1) from the keys."""
    digest = hashlib.sha256("\x1f".join(str(k) for k in keys).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class Difficulty:
    """Per pool text, how likely a `noise_mode: difficulty` teacher is to be wrong, and with which labels.

    A text's weight is `floor` + the share of its k nearest pool texts (cosine) whose gold label differs; the
    weights are scaled to mean 1 over the pool, so `noise` stays the mean rate. Its wrong label is drawn from those
    neighbours' labels (uniform over the others when all neighbours agree with it). Texts outside the pool (audit
    items, synthetic texts) keep weight 1 and uniform wrong labels."""

    def __init__(self, ids: Sequence[str], targets: Sequence[str], vectors: np.ndarray, k: int, floor: float):
        n = len(ids)
        k = max(0, min(k, n - 1))
        vecs = np.asarray(vectors, dtype=np.float32)
        near = np.zeros((n, k), dtype=int)
        for start in range(0, n if k else 0, 1024):  # in row blocks: a large pool's n x n never sits in memory
            sims = vecs[start : start + 1024] @ vecs.T
            sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -np.inf
            near[start : start + len(sims)] = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        self.wrong: dict[str, dict[str, float]] = {}
        raw = np.empty(n, dtype=np.float64)
        for i in range(n):
            others = [targets[j] for j in near[i] if targets[j] != targets[i]]
            raw[i] = floor + (len(others) / k if k else 0.0)
            self.wrong[ids[i]] = {label: float(others.count(label)) for label in set(others)}
        mean = float(raw.mean()) if n else 1.0
        self.weight = {ids[i]: float(raw[i] / mean) if mean > 0 else 1.0 for i in range(n)}

    def rate(self, example_id: str, noise: float) -> float:
        return min(1.0, noise * self.weight.get(example_id, 1.0))


class NoisyLabels:
    """The label a simulated teacher gives: gold, or (with probability `noise`) a seeded wrong one."""

    def __init__(self, sim: SimulationConfig, labels: Sequence[str],
                 difficulty: Callable[[], Difficulty | None] | None = None):
        self.sim = sim
        self.labels = list(labels)
        self._difficulty = difficulty  # built on first use: the pool's vectors exist once the index step ran
        self._built: Difficulty | None = None
        self._lock = threading.Lock()
        unknown = {g for g in sim.confusion} | {p for row in sim.confusion.values() for p in row}
        unknown -= set(self.labels)
        if unknown:
            raise UserError(f"teacher.simulation.confusion: unknown label(s) {', '.join(sorted(unknown))} "
                            f"(labels: {', '.join(self.labels)})")

    def __call__(self, example_id: str, gold: str, vote: int = 0) -> str:
        sim = self.sim
        if sim.noise <= 0 or gold not in self.labels or len(self.labels) < 2:
            return gold
        key = (sim.seed, example_id, vote if sim.noise_per_vote else 0)
        hard = self.difficulty()
        if _unit("flip", *key) >= (hard.rate(example_id, sim.noise) if hard else sim.noise):
            return gold
        others = [label for label in self.labels if label != gold]
        weights = [1.0] * len(others)
        row = sim.confusion.get(gold) if sim.noise_mode == "confusion" else hard.wrong.get(example_id) if hard else None
        if row:
            weights = [max(float(row.get(label, 0.0)), 0.0) for label in others]
            if sum(weights) <= 0:
                weights = [1.0] * len(others)
        x = _unit("which", *key) * sum(weights)
        for label, w in zip(others, weights, strict=True):
            x -= w
            if x < 0:
                return label
        return others[-1]

    def difficulty(self) -> Difficulty | None:
        if self.sim.noise_mode != "difficulty" or self._difficulty is None:
            return None
        with self._lock:
            if self._built is None:
                self._built = self._difficulty()
            return self._built


class ReserveWriter:
    """Held-out real texts of the requested labels, nearest to the requested cluster's texts."""

    def __init__(self, reserve: list[Example], embed: Embed | None, max_chars: int, mislabel: float = 0.0,
                 seed: int = 0):
        self.items = [e for e in reserve if e.target is not None]
        self.max_chars = max_chars
        self.mislabel, self.seed = mislabel, seed
        # the id a served text gets as a synthetic candidate (agents.generator.candidates_from_answers)
        self.gold = {self.synthetic_id(e.text): str(e.target) for e in self.items}
        self._embed = embed
        self._vectors: np.ndarray | None = None
        self._used: set[int] = set()
        self._lock = threading.Lock()

    def synthetic_id(self, text: str) -> str:
        return content_id(text.strip()[: self.max_chars], prefix="syn-")

    def vectors(self) -> np.ndarray | None:
        if self._embed is None or not self.items:
            return None
        if self._vectors is None:
            self._vectors = np.asarray(self._embed([e.text for e in self.items]), dtype=np.float32)
        return self._vectors

    def write(self, n: int, labels: list[str], anchors: list[str]) -> list[str]:
        """Up to n unused reserve texts whose label is in `labels` (all labels if empty), nearest first; with
        `mislabel`, each text is by a seeded draw one of another label, its gold set to a requested label."""
        with self._lock:
            centre = self._centre(anchors)
            right = self._ranked([i for i, e in enumerate(self.items) if not labels or e.target in labels], centre)
            wrong = self._ranked([i for i, e in enumerate(self.items) if labels and e.target not in labels],
                                 centre) if self.mislabel > 0 else []
            texts: list[str] = []
            for k in range(n):
                bad = bool(wrong) and _unit(self.seed, "writer-mislabel", len(self._used)) < self.mislabel
                source = wrong if bad else right
                if not source:
                    break
                i = source.pop(0)
                self._used.add(i)
                texts.append(self.items[i].text)
                if bad:
                    self.gold[self.synthetic_id(self.items[i].text)] = labels[k % len(labels)]
            return texts

    def _centre(self, anchors: list[str]) -> np.ndarray | None:
        """The mean embedding of the anchors; None without anchors or vectors (then reserve order)."""
        if not anchors or self._embed is None or self.vectors() is None:
            return None
        return np.asarray(self._embed(anchors), dtype=np.float32).mean(axis=0)

    def _ranked(self, pool: list[int], centre: np.ndarray | None) -> list[int]:
        """The unused reserve items of `pool`, nearest to `centre` first (in reserve order without one)."""
        pool = [i for i in pool if i not in self._used]
        vecs = self.vectors()
        if pool and vecs is not None and centre is not None:
            pool = [pool[j] for j in np.argsort(-(vecs[pool] @ centre), kind="stable")]
        return pool


class SimulatedTeacher(OracleTeacher):
    """Answers label/output requests from gold (with noise) and synthesis from the reserve writer."""

    base_url = "simulated://gold"

    def __init__(self, ledger: BudgetLedger, gold: dict[str, str], sim: SimulationConfig, labels: Sequence[str], *,
                 writer: ReserveWriter | None = None, on_event: Callable[[dict[str, Any]], None] | None = None,
                 difficulty: Callable[[], Difficulty | None] | None = None):
        super().__init__(ledger, gold, on_event=on_event)
        self.sim = sim
        self.noisy = NoisyLabels(sim, labels, difficulty)
        self.writer = writer
        if writer is not None:
            self.gold.update(writer.gold)
        self.model = describe(sim)

    def can_answer(self, kind: str) -> bool:
        return kind in ANSWERABLE or (kind == "synth" and self.writer is not None)

    def ask_many(self, requests: list[TeacherRequest]) -> list[TeacherResult]:
        for request in requests:
            if not self.can_answer(request.kind):
                raise TeacherRefused(f"the simulated teacher cannot answer '{request.kind}' requests (node "
                                     f"{request.node}); analysis comes from the error statistics")
        with self._lock:  # in order: the ledger sees requests as a real teacher's would
            return [self._answer(request) for request in requests]

    def _answer(self, request: TeacherRequest) -> TeacherResult:
        key = f"simulated:{request.kind}:{request.example_id or request.sample_index}"
        if request.kind == "synth":
            values = self._synth(request)
            if values is None:
                return self._failed(request, key, "the reserve has no unused text of the requested labels")
        else:
            target = self.gold.get(request.example_id or "")
            if target is None:
                return self._failed(request, key, f"no gold target for example {request.example_id!r}")
            if request.kind == "label":
                target = self.noisy(request.example_id or "", target, request.sample_index)
            if request.kind == "entities":  # noise: an entity's type is wrong, drawn as a wrong label would be
                target = json.dumps([{**e, "type": self.noisy(f"{request.example_id}:{i}", e["type"],
                                                              request.sample_index)}
                                     for i, e in enumerate(json.loads(target))])
            values = answer_values(request.kind, target, "simulated teacher (gold, seeded noise)")
        return self._paid(request, key, values, "simulated answer")

    def _synth(self, request: TeacherRequest) -> dict[str, Any] | None:
        assert self.writer is not None
        ctx = (getattr(request, "context", None) or {}).get(SYNTH_CONTEXT) or {}
        # without the generator's context: any label, nearest to the rendered request (it quotes the cluster)
        anchors = list(ctx.get("anchors") or [str(m.get("content", ""))[:1000] for m in request.messages[-1:]])
        n, labels = int(ctx.get("n") or 4), list(ctx.get("labels") or [])
        hard = int(ctx.get("n_hard", n))
        if (ctx.get("hard") or {}).get("anchors"):  # hard ones near the student's errors, easy ones near the examples
            h, e = ctx["hard"], ctx.get("easy") or {}
            texts = self.writer.write(hard, list(h.get("labels") or labels), list(h["anchors"]))
            hard = len(texts)
            texts += self.writer.write(n - hard, list(e.get("labels") or labels), list(e.get("anchors") or anchors))
        else:
            texts = self.writer.write(n, labels, anchors)
        if not texts:
            return None
        self.gold.update({sid: self.writer.gold[sid] for sid in map(self.writer.synthetic_id, texts)})  # mislabelled
        samples = [SynthSample(text=t, difficulty="hard" if i < hard else "easy") for i, t in enumerate(texts)]
        return SynthBatch(samples=samples).model_dump()


def pool_difficulty(pool: Sequence[Example], gold: dict[str, str], embed: Callable[..., np.ndarray],
                    sim: SimulationConfig) -> Callable[[], Difficulty | None]:
    """What builds the pool's `Difficulty` on first use (its vectors through `embed(texts, ids)`, the run's cache)."""
    items = [e for e in pool if gold.get(e.id) is not None]

    def build() -> Difficulty | None:
        if len(items) < 2:
            return None
        vectors = embed([e.text for e in items], [e.id for e in items])
        return Difficulty([e.id for e in items], [gold[e.id] for e in items], vectors, sim.difficulty_k,
                          sim.difficulty_floor)

    return build


def simulate(teacher: BaseTeacher, cfg: TeacherConfig, *, gold: dict[str, str] | None, labels: Sequence[str],
             reserve: list[Example] | None = None, embed: Embed | None = None, max_chars: int = 20000,
             ledger: BudgetLedger | None = None, pool: Sequence[Example] | None = None) -> BaseTeacher:
    """The teacher a run uses: `teacher` itself unless `teacher.simulation` is active (then a SimulatedTeacher
    on the same ledger and gold; the oracle it replaces holds nothing to release). `pool` and `embed` (called
    with texts and ids) feed `noise_mode: difficulty`."""
    sim = cfg.simulation
    if not sim.active:
        return teacher
    if cfg.provider != "oracle" or gold is None:
        raise UserError("teacher.simulation needs teacher.provider: oracle and gold targets to answer from")
    writer = None
    if sim.writer == "reserve":
        if not reserve:
            raise UserError("teacher.simulation.writer 'reserve' needs a reserve split: set data.bbc.reserve_per_label "
                            "(bundled BBC) or data.reserve (a labelled file that is not in pool, dev or test)")
        writer = ReserveWriter(reserve, embed, max_chars, mislabel=sim.writer_mislabel, seed=sim.seed)
    difficulty = None
    if sim.noise_mode == "difficulty":
        if not pool or embed is None:
            raise UserError("teacher.simulation.noise_mode 'difficulty' needs the pool's gold labels and embeddings")
        difficulty = pool_difficulty(pool, gold, embed, sim)
    teacher.close()
    return SimulatedTeacher(ledger or teacher.ledger, gold, sim, labels, writer=writer,  # type: ignore[attr-defined]
                            on_event=getattr(teacher, "_on_event", None), difficulty=difficulty)
