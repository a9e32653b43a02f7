"""Teacher audit: before the first paid round, the teacher labels a small gold sample, and the run compares its
accuracy with the student's round-0 dev figure.

The sample comes from what the run already has with gold labels: the seed labels and/or part of a gold dev
set, stratified by label, in a seeded order. Its size is `teacher.audit` (default: at most 10% of the call
budget, see `audit_size`). The teacher answers with the same prompt, demonstrations and votes as the
annotator, so the audit measures the teacher as the run uses it. When the teacher is not better than the
student, `teacher.audit_action` says what happens: stop buying labels (keep the budget), warn, or continue.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from distillgraph.agents.config import TeacherConfig
from distillgraph.store.schema import Example

Z95 = 1.959963984540054
AUTO_SHARE = 0.10   # the default audit spends at most this share of the call budget
AUTO_MIN = 5        # below this many items an automatic audit says too little: it is skipped
AUTO_MAX = 40


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n (sound at small n and at 0 or n)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def audit_size(configured: int | None, budget_calls: float | None, votes: int, available: int) -> int:
    """Items to audit: `teacher.audit` if set (0 = off), else floor(10% of the call budget / votes), capped."""
    if configured is not None:
        return max(0, min(configured, available))
    if not budget_calls:
        return 0
    n = int(AUTO_SHARE * budget_calls // max(votes, 1))
    n = min(n, AUTO_MAX, available)
    return n if n >= AUTO_MIN else 0


def planned_audit(tcfg: TeacherConfig, budget_calls: float | None, available: int) -> int:
    """Items a run audits: `audit_size` with the teacher's settings (an oracle with gold labels is not audited)."""
    configured = tcfg.audit
    if configured is None and tcfg.provider == "oracle" and not tcfg.simulation.noise:
        configured = 0  # auditing gold labels against themselves tells nothing
    return audit_size(configured, budget_calls, tcfg.self_consistency, available)


def audit_sample(seed_items: Sequence[Example], dev_items: Sequence[Example], n: int, seed: int) -> list[Example]:
    """n gold items, seeds first then dev, round-robin over labels (so every label is measured)."""
    if n <= 0:
        return []
    rng = random.Random(seed)
    by_label: dict[str, list[Example]] = defaultdict(list)
    for group in (seed_items, dev_items):
        items = [e for e in group if e.target is not None]
        rng.shuffle(items)
        for e in items:
            by_label[str(e.target)].append(e)
    out: list[Example] = []
    labels = sorted(by_label)
    while len(out) < n and any(by_label[label] for label in labels):
        for label in labels:
            if by_label[label] and len(out) < n:
                out.append(by_label[label].pop(0))
    return out


@dataclass
class AuditResult:
    teacher: str
    n: int
    answered: int
    correct: int
    accuracy: float
    ci_low: float
    ci_high: float
    per_label: dict[str, dict[str, Any]]
    student_accuracy: float | None
    verdict: str  # better | not_better | inconclusive | unknown
    action: str   # what the run does: continue | warn | stop
    sources: dict[str, int] = field(default_factory=dict)
    calls: float = 0.0

    def line(self) -> str:
        """The one line the run prints."""
        s = (f"teacher audit: {self.teacher} labelled {self.correct}/{self.n} gold items correctly, accuracy "
             f"{self.accuracy:.3f} (95% CI {self.ci_low:.3f}-{self.ci_high:.3f})")
        if self.student_accuracy is not None:
            s += f"; student round 0: dev accuracy {self.student_accuracy:.3f}"
        if self.verdict == "not_better":
            s += {"stop": "; the teacher is NOT better than the student: no labels bought, budget kept "
                          "(teacher.audit_action: continue to buy anyway)",
                  "warn": "; WARNING: the teacher is NOT better than the student (teacher.audit_action: warn)",
                  "continue": "; the teacher is not better than the student (continuing: teacher.audit_action)"
                  }[self.action]
        elif self.verdict == "inconclusive":
            s += ("; WARNING: the teacher did not beat the student here, but its 95% interval still reaches the "
                  "student's figure: too few items to stop on, continuing (raise teacher.audit for a firmer verdict)")
        return s

    def to_dict(self) -> dict[str, Any]:
        return {"teacher": self.teacher, "n": self.n, "answered": self.answered, "correct": self.correct,
                "accuracy": round(self.accuracy, 4), "ci95": [round(self.ci_low, 4), round(self.ci_high, 4)],
                "per_label": self.per_label, "student_round0_dev_accuracy": self.student_accuracy,
                "verdict": self.verdict, "action": self.action, "sources": self.sources, "calls": self.calls,
                "line": self.line()}


def score_audit(items: Sequence[Example], answers: dict[str, str | None], *, teacher: str,
                student_accuracy: float | None, action: str, calls: float = 0.0) -> AuditResult:
    """Accuracy (an unanswered item counts as wrong: the run would have paid for it too), its Wilson interval,
    per label, and the verdict against the student's round-0 dev accuracy: better (point estimate above it),
    not_better (the whole 95% interval at or below it: `action` applies), inconclusive (below it, but the
    interval reaches it: a warning, the run goes on)."""
    n = len(items)
    correct = sum(1 for e in items if answers.get(e.id) == e.target)
    answered = sum(1 for e in items if answers.get(e.id) is not None)
    low, high = wilson(correct, n)
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in items:
        per[str(e.target)][1] += 1
        per[str(e.target)][0] += answers.get(e.id) == e.target
    per_label: dict[str, dict[str, Any]] = {}
    for label, (k, m) in sorted(per.items()):
        lo, hi = wilson(k, m)
        per_label[label] = {"n": m, "accuracy": round(k / m, 4), "ci95": [round(lo, 4), round(hi, 4)]}
    acc = correct / n if n else 0.0
    if student_accuracy is None or n == 0:
        verdict = "unknown"
    else:
        # stop only on evidence: the whole 95% interval at or below the student (a 6-item audit's point estimate
        # is too noisy to throw a run away on: 3/6 spans 0.19-0.81)
        verdict = ("better" if acc > student_accuracy else
                   "not_better" if high <= student_accuracy else "inconclusive")
    sources: dict[str, int] = defaultdict(int)
    for e in items:
        sources[e.split] += 1
    return AuditResult(teacher=teacher, n=n, answered=answered, correct=correct, accuracy=acc, ci_low=low,
                       ci_high=high, per_label=per_label, student_accuracy=student_accuracy, verdict=verdict,
                       action=action if verdict == "not_better" else "continue", sources=dict(sources), calls=calls)


def audit_stop_reason(record: dict[str, Any] | None) -> str | None:
    """The run's stop reason when the audit says stop buying labels (`teacher.audit_action: stop`)."""
    if record and record.get("verdict") == "not_better" and record.get("action") == "stop":
        return (f"teacher audit: the teacher ({record['accuracy']:.3f} on {record['n']} gold items) is not better "
                f"than the round-0 student (dev accuracy {record['student_round0_dev_accuracy']:.3f}); budget kept")
    return None

