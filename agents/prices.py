"""Teacher prices per 1M tokens: the config's, else a maintained price table read offline.

Source: genai-prices (pydantic's price table for LLM APIs). Chosen as the lightest dependency that stays
current and reads offline: a pure-Python wheel (~170 KB) whose data is a module inside the package
(`genai_prices/data.py`), needing only pydantic (already here) and httpx2; it goes to the network only when
its `UpdatePrices` is started, which distillgraph never does. Rejected: litellm's model cost map (ships
inside a very heavy dependency), tokencost (pulls tiktoken, aiohttp and anthropic; last release 2025-08).

Resolution, per price: `teacher.price_input_per_1m` / `teacher.price_output_per_1m` when set, else the table
for the endpoint's provider (matched from the base URL) and `teacher.model`. The embedded llama.cpp teacher
and the oracle are free (price 0, known). A self-hosted or unknown endpoint has no table price.

`budget.max_usd` needs a known price: without one it is refused (one line, exit 2) instead of being a cap
that never binds; with a free teacher it is refused when it is the only cap (it could never stop the run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from distillgraph.agents.config import BudgetConfig, TeacherConfig
from distillgraph.agents.teacher_types import safe_url
from distillgraph.agents.transport import resolve_base_url
from distillgraph.store.schema import UserError

FREE = {"local": "the embedded llama.cpp teacher is free", "oracle": "the oracle teacher is free"}
_PROBE = 1000  # tokens priced to read a per-1M price (the base tier: teacher prompts are far below long-context tiers)


@dataclass(frozen=True)
class Prices:
    """Dollars per 1M input / output tokens; `known` False means no price was found (both read 0)."""

    input_per_1m: float
    output_per_1m: float
    known: bool
    source: str

    @property
    def free(self) -> bool:
        return self.known and self.input_per_1m == 0 and self.output_per_1m == 0

    def describe(self) -> str:
        if not self.known:
            return f"price: unknown ({self.source}); dollars show as 0"
        return (f"price: ${self.input_per_1m:g} / ${self.output_per_1m:g} per 1M input / output tokens "
                f"({self.source})")


def table_prices(model: str, base_url: str) -> tuple[float, float, str] | None:
    """(input, output, source) per 1M tokens from genai-prices' bundled table, None when it has no price."""
    from genai_prices import Usage, __version__, calc_price

    try:
        calc_in = calc_price(Usage(input_tokens=_PROBE), model, provider_api_url=base_url)
        calc_out = calc_price(Usage(output_tokens=_PROBE), model, provider_api_url=base_url)
    except LookupError:
        return None
    scale = 1_000_000 / _PROBE
    source = f"genai-prices {__version__} table: {calc_in.provider.id} {calc_in.model.id}"
    return float(calc_in.total_price) * scale, float(calc_out.total_price) * scale, source


def resolve_prices(cfg: TeacherConfig, base_url: str | None = None) -> Prices:
    """The teacher's prices: config fields first, then the table (or 0 for a free teacher)."""
    given_in, given_out = cfg.price_input_per_1m, cfg.price_output_per_1m
    if given_in is not None and given_out is not None:
        return Prices(given_in, given_out, True, "teacher.price_input_per_1m / price_output_per_1m")
    if cfg.provider in FREE:
        table: tuple[float, float, str] | None = (0.0, 0.0, FREE[cfg.provider])
    else:
        url = base_url or resolve_base_url(cfg, {})
        table = table_prices(cfg.model, url)
        if table is None:
            return Prices(given_in or 0.0, given_out or 0.0, False,
                          f"no price for teacher.model {cfg.model!r} at {safe_url(url)} in the genai-prices table")
    assert table is not None
    source = table[2] if given_in is None and given_out is None else f"teacher.price_* over {table[2]}"
    return Prices(table[0] if given_in is None else given_in, table[1] if given_out is None else given_out,
                  True, source)


def check_usd_cap(budget: BudgetConfig, prices: Prices) -> None:
    """Refuse a dollar cap that could not hold: unknown price, or a free teacher with no other cap."""
    if budget.max_usd is None:
        return
    if not prices.known:
        raise UserError(f"budget.max_usd: {prices.source}; set teacher.price_input_per_1m and "
                        "teacher.price_output_per_1m, or cap budget.max_calls / budget.max_tokens instead")
    if prices.free and budget.max_calls is None and budget.max_tokens is None:
        raise UserError(f"budget.max_usd: {prices.source} (price 0), so a dollar cap never stops the run; "
                        "set budget.max_calls or budget.max_tokens")


def teacher_prices(cfg: TeacherConfig, budget: BudgetConfig, env: Mapping[str, str]) -> Prices:
    """Prices for the run's ledger and plan, after refusing a dollar cap they cannot back."""
    prices = resolve_prices(cfg, resolve_base_url(cfg, env) if cfg.provider == "openai" else None)
    check_usd_cap(budget, prices)
    return prices
