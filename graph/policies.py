"""Selection policies: which pool examples a round buys, as small classes registered by name.

A policy composes two seams (graph/policy_seams.py, with what a selection sees: PoolView), like small-text's
query strategies:

* its **allocation** spreads a round's samples over the clusters (BalDistill's schedule, error boost, ...);
* its **selection** picks the examples, within each cluster's quota or over the whole pool.

Besides, it says how the run starts cold (the clusters' representatives, a random sample or its own
selection) and whether it uses the teacher's weakness analysis and synthesis. The nodes ask the policy;
they never branch on its name.

Adding a policy is one file `graph/policy_<name>.py` holding a `@register`ed subclass of `Policy`:
every `policy_*` module next to this one is imported when the registry is first read.
"""

from __future__ import annotations

import difflib
import importlib
import math
import pkgutil
from pathlib import Path
from typing import Any, ClassVar, Literal

from distillgraph.graph.policy_scopes import PerCluster, Scope, WholePool
from distillgraph.graph.policy_seams import (
    Allocation,
    Balanced,
    RandomPick,
    Selection,
)
from distillgraph.graph.task_kinds import measures_quality

ColdStart = Literal["representatives", "random", "typical", "mixed", "checked", "adaptive", "selection"]


def resolve_cold_start(how: ColdStart, kind: Any) -> ColdStart:
    """`adaptive`: where the task kind measures the student's quality (classification), `checked`: `mixed` (each
    cluster's representative, then TypiClust's typical examples of the regions they leave uncovered) where the dev
    set's nearest neighbours share labels, else a random sample (`typical` until 2026-12-04; then `mixed` and
    `checked` in turn had the best mean dev macro-F1 over the nine packaged tasks); a random sample where the kind
    measures no quality (NER, where typical lost on dev, and generation); any other way as it is."""
    if how != "adaptive":
        return how
    return "checked" if measures_quality(kind) else "random"


AUTO_COLD_START_SHARE = 0.25  # chosen on the dev splits of nine tasks, 2026-12-05 (policy_choice.md stage 22)


def resolve_cold_start_share(share: float | str, kind: Any) -> float:
    """`auto`: a quarter of the labels left where the task kind measures the student's quality (classification,
    where it was chosen on dev), no cap (1.0, as before) for NER and generation, where it was never measured."""
    if share != "auto":
        return float(share)
    return AUTO_COLD_START_SHARE if measures_quality(kind) else 1.0


def cold_start_cap(share: float, calls: float, votes: int) -> int | None:
    """The most labels a cold start may buy: `share` of the labels `calls` pay for (None: no cap, at share 1)."""
    return None if share >= 1 else math.floor(share * max(calls, 0.0) / votes)


class Policy:
    """One policy: class attributes say what it does; `configure` sets seams that read the loop settings."""

    name: ClassVar[str] = ""
    uses_analysis: ClassVar[bool] = False  # the analyst asks the teacher for a weakness report
    synthesizes: ClassVar[bool] = False  # tail clusters and weaknesses get teacher-written inputs
    scope: Scope = PerCluster()  # where the selection looks: each cluster's quota, the whole pool, or split
    cold_start: ColdStart = "representatives"
    cold_start_share: float | str = 1.0  # the most of the labels left that the cold start may take (or auto)
    allocation: Allocation = Balanced("adaptive")
    selection: Selection = RandomPick()

    def __init__(self, loop: Any) -> None:
        self.configure(loop)
        if loop.cold_start != "auto":  # loop.cold_start overrides the policy's own
            self.cold_start = loop.cold_start

    def configure(self, loop: Any) -> None:
        """Override to build seams from the loop settings (e.g. loop.error_boost, loop.diversity)."""

    @property
    def per_cluster(self) -> bool:
        """Does (part of) the selection fill each cluster's own quota?"""
        return not isinstance(self.scope, WholePool)

    @property
    def description(self) -> str:
        return " ".join((self.__doc__ or "").split())

    def __str__(self) -> str:
        return (f"{self.name}: {self.description} [allocation: {self.allocation}; selection {self.scope}: "
                f"{self.selection}; cold start: {self.cold_start}]")


class PoolWide(Policy):
    """Base of the policies that ignore the clusters: one selection over the whole pool, a random cold start
    (only the round's total of the allocation matters)."""

    scope: Scope = WholePool()
    cold_start: ColdStart = "random"
    allocation = Balanced("natural")


POLICIES: dict[str, type[Policy]] = {}


def register(cls: type[Policy]) -> type[Policy]:
    """Class decorator: make the policy available as `loop.policy: <cls.name>`."""
    if not cls.name or cls.name in POLICIES:
        raise ValueError(f"policy {cls.__name__}: needs a unique name (got {cls.name!r})")
    POLICIES[cls.name] = cls
    return cls


def _discover() -> None:
    for mod in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if mod.name.startswith("policy_"):
            importlib.import_module(f"{__package__}.{mod.name}")


def policy_names() -> list[str]:
    _discover()
    return sorted(POLICIES)


def check_policy_name(name: str) -> str:
    """The name if registered, else a one-line error naming the close match and every registered policy."""
    names = policy_names()
    if name in names:
        return name
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise ValueError(f"loop.policy: unknown policy {name!r}{hint}; registered: {', '.join(names)}")


def build_policy(loop: Any) -> Policy:
    """The configured policy, with its seams built from the loop settings."""
    return POLICIES[check_policy_name(loop.policy)](loop)


def describe_policies(loop: Any) -> list[str]:
    """One line per registered policy, as it would run with these loop settings."""
    return [str(POLICIES[n](loop)) for n in policy_names()]
