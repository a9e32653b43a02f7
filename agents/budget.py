"""The teacher budget ledger: hard caps on calls, tokens and dollars that concurrency cannot overspend.

Every teacher call first *reserves* an upper bound of what it can be billed (1 call, `prompt_token_bound`
of the messages and the tool / response-format schema, + max_tokens for the answer, priced at the
teacher's prices) and then *settles* with the actual usage, which cannot be more. A reservation fails
when `spent + outstanding reservations + bound` would pass any cap, so however many calls are in flight
the caps hold: the ledger never settles above a cap.

Two kinds of counters, on purpose:
- `spent` counts every answer the run USES, replayed cache answers included. A resumed or repeated run
  therefore charges exactly the same amounts in the same order, takes the same decisions and stops at the
  same place as the original run.
- `paid` counts only fresh HTTP answers actually paid for in this process (what the provider bills);
  `cache_hits` the calls this process replayed from the cache. Both are process facts: they are written
  by `to_dict` for the trace but never loaded back, so they start at zero in every process.

The ledger is stored in the checkpointed graph state (`to_dict`, then `state=` or `restore`), so a resumed
or forked run goes on counting from where its checkpoint stopped. Reservations are in-flight only and never
persisted.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from distillgraph.agents.config import BudgetConfig

NODES = ("analyst", "generator", "annotator", "judge", "bootstrap")
FAILURE_KINDS = ("429", "5xx", "timeout", "connection", "parse", "http", "auth")


@dataclass
class Amount:
    """Calls, tokens and dollars: one row of the ledger."""

    calls: int = 0
    tokens: int = 0
    usd: float = 0.0

    def add(self, other: Amount, sign: int = 1) -> None:
        self.calls += sign * other.calls
        self.tokens += sign * other.tokens
        self.usd += sign * other.usd


@dataclass
class NodeRow:
    """Per-node breakdown: what the node used (cache included), paid and replayed from the cache."""

    spent: Amount = field(default_factory=Amount)
    paid: Amount = field(default_factory=Amount)
    cache_hits: int = 0


@dataclass(frozen=True)
class Reservation:
    """A held estimate; hand it back to `settle` or `release` exactly once."""

    node: str
    amount: Amount


# Allowances for the tokens a chat template adds: per message (role markers and separators: OpenAI 3-4,
# ChatML and Llama 3 templates at most 6) and per request (reply priming, the tool-calling instruction a
# server such as llama.cpp prepends, a template's default system line).
MESSAGE_OVERHEAD_TOKENS = 8
REQUEST_OVERHEAD_TOKENS = 64


def estimate_prompt_tokens(messages: Iterable[dict[str, Any]]) -> int:
    """Cheap, tokenizer-free typical size (chars/4, rounded up): projections, never reservations."""
    chars = sum(len(str(m.get("content") or "")) for m in messages)
    return math.ceil(chars / 4)


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def prompt_token_bound(messages: Iterable[dict[str, Any]], request_fields: dict[str, Any] | None = None) -> int:
    """Upper bound of the prompt tokens a provider can bill, without a tokenizer.

    Byte-level BPE tokenizers (GPT, Llama 3, Qwen) and SentencePiece with byte fallback (Llama 2, Mistral)
    emit at most one token per UTF-8 byte, so the bytes of every message and of the schema fields sent
    with it (`tools` + `tool_choice` or `response_format`, as JSON) bound them; the template allowances
    above cover what the chat template wraps around them. About 4x the typical count for English text:
    the price of a cap that holds."""
    total = REQUEST_OVERHEAD_TOKENS
    for message in messages:
        total += MESSAGE_OVERHEAD_TOKENS + utf8_len(str(message.get("role") or ""))
        total += utf8_len(str(message.get("content") or ""))
    if request_fields:
        total += utf8_len(json.dumps(request_fields, ensure_ascii=False))
    return total


class BudgetLedger:
    """Thread-safe ledger with caps from `BudgetConfig` (any subset of calls, tokens, usd)."""

    def __init__(
        self,
        cfg: BudgetConfig,
        price_in_per_1m: float = 0.0,
        price_out_per_1m: float = 0.0,
        state: dict | None = None,
    ):
        self.cfg = cfg
        self.price_in = price_in_per_1m
        self.price_out = price_out_per_1m
        self._lock = threading.Lock()
        self._outstanding = Amount()
        self.spent = Amount()
        self.paid = Amount()
        self.cache_hits = 0
        self.skipped = 0
        self.failures: dict[str, int] = {k: 0 for k in FAILURE_KINDS}
        self.nodes: dict[str, NodeRow] = {n: NodeRow() for n in NODES}
        if state:
            self.restore(state)

    # -- prices -------------------------------------------------------------------------------------------

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """Dollars for a call with this usage at the configured prices per 1M tokens."""
        return (input_tokens * self.price_in + output_tokens * self.price_out) / 1_000_000

    def _amount(self, calls: int, input_tokens: int, output_tokens: int) -> Amount:
        return Amount(calls, input_tokens + output_tokens, self.cost(input_tokens, output_tokens))

    # -- reserve / settle ---------------------------------------------------------------------------------

    def _fits(self, extra: Amount) -> bool:
        """Does spent + outstanding + extra stay within every cap? (call with the lock held)"""
        total = Amount()
        total.add(self.spent)
        total.add(self._outstanding)
        total.add(extra)
        cfg = self.cfg
        return (
            (cfg.max_calls is None or total.calls <= cfg.max_calls)
            and (cfg.max_tokens is None or total.tokens <= cfg.max_tokens)
            and (cfg.max_usd is None or total.usd <= cfg.max_usd + 1e-12)
        )

    def reserve(self, node: str, input_tokens: int, output_tokens: int, calls: int = 1,
                final: bool = True) -> Reservation | None:
        """Hold an estimate for one call; None when it does not fit (one more `skipped` unless not `final`:
        the caller will try again once outstanding reservations are settled)."""
        amount = self._amount(calls, input_tokens, output_tokens)
        with self._lock:
            if not self._fits(amount):
                if final:
                    self.skipped += 1
                return None
            self._outstanding.add(amount)
            return Reservation(node, amount)

    def release(self, reservation: Reservation) -> None:
        """Give a reservation back unused (the call failed without an answer, or was never made)."""
        with self._lock:
            self._outstanding.add(reservation.amount, -1)

    def settle(
        self,
        reservation: Reservation,
        input_tokens: int,
        output_tokens: int,
        *,
        calls: int = 1,
        cached: bool = False,
        usd: float | None = None,
    ) -> None:
        """Replace the reservation by the actual usage; cached answers go to `spent` but not to `paid`."""
        actual = self._amount(calls, input_tokens, output_tokens)
        if usd is not None:
            actual.usd = usd
        with self._lock:
            self._outstanding.add(reservation.amount, -1)
            row = self.nodes.setdefault(reservation.node, NodeRow())
            self.spent.add(actual)
            row.spent.add(actual)
            if cached:
                self.cache_hits += 1
                row.cache_hits += 1
            else:
                self.paid.add(actual)
                row.paid.add(actual)

    def record_failure(self, kind: str) -> None:
        """Count a failed attempt by kind (429, 5xx, timeout, connection, parse, http, auth).

        Requests skipped for lack of budget are counted apart, in `skipped`."""
        with self._lock:
            self.failures[kind] = self.failures.get(kind, 0) + 1

    # -- questions the graph asks -----------------------------------------------------------------------

    def can_afford(self, calls: int = 1, tokens: int = 0) -> bool:
        """Would a call of this size fit now? Dollars are priced at the dearer of the two prices."""
        amount = Amount(calls, tokens, tokens * max(self.price_in, self.price_out) / 1_000_000)
        with self._lock:
            return self._fits(amount)

    def remaining(self) -> dict[str, float]:
        """What is left under each configured cap (only the caps that are set)."""
        with self._lock:
            used = Amount()
            used.add(self.spent)
            used.add(self._outstanding)
        out: dict[str, float] = {}
        if self.cfg.max_calls is not None:
            out["calls"] = self.cfg.max_calls - used.calls
        if self.cfg.max_tokens is not None:
            out["tokens"] = self.cfg.max_tokens - used.tokens
        if self.cfg.max_usd is not None:
            out["usd"] = self.cfg.max_usd - used.usd
        return out

    def fraction_spent(self) -> float:
        """Share of the tightest cap already spent (0..1); the number progress bars show."""
        with self._lock:
            return self._fraction_unlocked()

    @property
    def exhausted(self) -> bool:
        """True once any cap is used up (remaining <= 0); `can_afford` answers for a call of a given size."""
        return any(v <= 0 for v in self.remaining().values())

    # -- persistence --------------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """JSON-friendly snapshot (no reservations) for the checkpointed graph state and the trace."""
        with self._lock:
            return {
                "spent": asdict(self.spent),
                "paid": asdict(self.paid),
                "cache_hits": self.cache_hits,
                "skipped_budget": self.skipped,
                "failures": dict(self.failures),
                "nodes": {name: asdict(row) for name, row in self.nodes.items()},
                "fraction_spent": self._fraction_unlocked(),
            }

    def _fraction_unlocked(self) -> float:
        caps: list[tuple[float, float | None]] = [
            (self.spent.calls, self.cfg.max_calls),
            (self.spent.tokens, self.cfg.max_tokens),
            (self.spent.usd, self.cfg.max_usd),
        ]
        return min(1.0, max(used / cap for used, cap in caps if cap is not None))

    def restore(self, state: dict) -> None:
        """Set the run's counters (spent, per-node spent, failures, skips) from a `to_dict` snapshot.

        The process counters (paid, cache_hits, per-node paid) are kept as they are: restoring a checkpoint
        does not undo what this process paid. Call it only with no call in flight."""
        with self._lock:
            self.spent = Amount(**state.get("spent", {}))
            self.skipped = int(state.get("skipped_budget", 0))
            self.failures = {k: 0 for k in FAILURE_KINDS}
            self.failures.update({k: int(v) for k, v in state.get("failures", {}).items()})
            for name in set(self.nodes) | set(state.get("nodes", {})):
                row = self.nodes.setdefault(name, NodeRow())
                row.spent = Amount(**state.get("nodes", {}).get(name, {}).get("spent", {}))

    # -- convenient read-only views --------------------------------------------------------------------

    @property
    def paid_calls(self) -> int:
        return self.paid.calls

    @property
    def paid_tokens(self) -> int:
        return self.paid.tokens

    @property
    def paid_usd(self) -> float:
        return self.paid.usd
