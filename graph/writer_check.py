"""The writer check's modes (`loop.writer_check`), one small class each behind one interface: when a check is
due, which synthetic texts it leaves out of its extra fit, what the texts must beat on dev, and whether a stop also
leaves them out of later training. The trainer node (`node_trainer.writer_check_fit` / `writer_check_verdict`)
runs the fits; README "Does this run's writer teach?" has what each mode did on dev."""

from __future__ import annotations

from typing import Any

from distillgraph.agents.records import Annotation


class WriterCheck:
    """off: no check."""

    name = "off"
    drops = False          # a stop also leaves the synthetic texts out of training from the next round on
    against_pool = False   # the texts must beat as many calls of pool labels, not only their absence

    def due(self, done: dict[str, Any]) -> bool:
        """Whether a round may check, given the run's last check record (empty before the first)."""
        return False

    def left_out(self, synthetic: list[Annotation], rnd: int) -> set[str]:
        """The synthetic texts (those trained on this round) its extra fit leaves out."""
        return {a.id for a in synthetic}

    def bar(self, check: dict[str, Any], with_: float | None) -> float | None:
        """The dev figure the fit without the texts must stay below for the texts to count as teaching."""
        return with_


class First(WriterCheck):
    """Once, in the first round that trains on synthetic texts, without that round's (stage 61)."""

    name = "first"

    def due(self, done: dict[str, Any]) -> bool:
        return not done

    def left_out(self, synthetic: list[Annotation], rnd: int) -> set[str]:
        return {a.id for a in synthetic if a.round == rnd}


class Every(WriterCheck):
    """Each round that trains on synthetic texts until it stops, without all of them so far (stage 62)."""

    name = "every"
    drops = True

    def due(self, done: dict[str, Any]) -> bool:
        return not done.get("stopped")


class PerCall(Every):
    """As `every`, but the texts must raise dev more than as many calls of pool labels do (stage 63)."""

    name = "per_call"
    against_pool = True

    def bar(self, check: dict[str, Any], with_: float | None) -> float | None:
        return check.get("without_pool")


CHECKS: dict[str, WriterCheck] = {c.name: c() for c in (WriterCheck, First, Every, PerCall)}
