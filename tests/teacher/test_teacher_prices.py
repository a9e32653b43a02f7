"""Teacher prices: the genai-prices table (offline), config overrides, and a dollar cap that must hold."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillgraph.agents.config import BudgetConfig, TeacherConfig
from distillgraph.agents.prices import check_usd_cap, resolve_prices, teacher_prices
from distillgraph.agents.transport import OPENAI_URL
from distillgraph.graph.cli import app
from distillgraph.store.schema import UserError

OLLAMA = "http://localhost:11434/v1"


def test_table_prices_a_known_model_offline() -> None:
    prices = resolve_prices(TeacherConfig(model="gpt-4o-mini"), OPENAI_URL)
    assert prices.known and 0 < prices.input_per_1m < prices.output_per_1m
    assert "genai-prices" in prices.source and "gpt-4o-mini" in prices.source


def test_config_prices_override_the_table() -> None:
    both = resolve_prices(TeacherConfig(model="gpt-4o-mini", price_input_per_1m=1.0, price_output_per_1m=2.0))
    assert (both.input_per_1m, both.output_per_1m, both.known) == (1.0, 2.0, True)
    assert both.source.startswith("teacher.price_input_per_1m")
    table = resolve_prices(TeacherConfig(model="gpt-4o-mini"))
    one = resolve_prices(TeacherConfig(model="gpt-4o-mini", price_input_per_1m=1.0))
    assert (one.input_per_1m, one.output_per_1m) == (1.0, table.output_per_1m)


def test_unknown_price_refuses_a_dollar_cap_only() -> None:
    cfg = TeacherConfig(model="llama3.1:8b", base_url=OLLAMA)
    assert not teacher_prices(cfg, BudgetConfig(max_calls=5), env={}).known  # no dollar cap: fine
    with pytest.raises(UserError, match=r"^budget\.max_usd: no price for teacher\.model 'llama3\.1:8b' at "
                                        r"http://localhost:11434/v1"):
        teacher_prices(cfg, BudgetConfig(max_usd=2.0), env={})
    priced = cfg.model_copy(update={"price_input_per_1m": 0.1, "price_output_per_1m": 0.2})
    assert teacher_prices(priced, BudgetConfig(max_usd=2.0), env={}).input_per_1m == 0.1


def test_base_url_from_env_picks_the_provider() -> None:
    cfg = TeacherConfig(model="gpt-4o-mini")
    assert teacher_prices(cfg, BudgetConfig(max_usd=1.0), env={}).known
    with pytest.raises(UserError, match="max_usd"):
        teacher_prices(cfg, BudgetConfig(max_usd=1.0), env={"OPENAI_BASE_URL": OLLAMA})


@pytest.mark.parametrize("provider", ["local", "oracle"])
def test_free_teachers_cost_nothing_and_a_lone_dollar_cap_is_refused(provider: str) -> None:
    prices = resolve_prices(TeacherConfig(provider=provider))
    assert prices.free and "free" in prices.source
    check_usd_cap(BudgetConfig(max_usd=1.0, max_calls=10), prices)  # another cap binds: accepted
    with pytest.raises(UserError, match="never stops the run"):
        check_usd_cap(BudgetConfig(max_usd=1.0), prices)


# -- through the CLI: `plan` shows the table's dollars and their source; plan and run refuse what they cannot price


def _invoke(tmp_path: Path, command: str, *sets: str):
    cfg = tmp_path / "x.yaml"
    if not cfg.exists():
        assert CliRunner().invoke(app, ["init", str(cfg)]).exit_code == 0
    args = [command, str(cfg), "--set", "teacher.provider=openai", "--set", f"run.dir={tmp_path / 'runs'}"]
    for item in sets:
        args += ["--set", item]
    return CliRunner().invoke(app, args, env={"OPENAI_BASE_URL": "", "OPENAI_API_KEY": ""})


def test_plan_prices_gpt_4o_mini_from_the_table(tmp_path: Path) -> None:
    r = _invoke(tmp_path, "plan", "teacher.model=gpt-4o-mini", "budget.max_usd=2")
    assert r.exit_code == 0, r.output
    total = next(line for line in r.output.splitlines() if "total" in line)
    assert float(total.split()[-2].strip("│").replace(",", "")) > 0  # usd column: not $0.0000
    assert "genai-prices" in r.output and "gpt-4o-mini" in r.output


@pytest.mark.parametrize("command", ["plan", "run"])
def test_dollar_cap_without_a_price_is_one_line_exit_2(tmp_path: Path, command: str) -> None:
    r = _invoke(tmp_path, command, f"teacher.base_url={OLLAMA}", "teacher.model=llama3.1:8b", "budget.max_usd=2")
    assert r.exit_code == 2, r.output
    errors = [line for line in r.output.splitlines() if "error" in line.lower() or "max_usd" in line]
    assert len(errors) == 1 and "budget.max_usd: no price for teacher.model 'llama3.1:8b'" in errors[0], r.output
    assert "Traceback" not in r.output
    assert not list((tmp_path / "runs").glob("*/llm_cache.sqlite"))  # nothing was started
