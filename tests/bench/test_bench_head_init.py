"""bench.head_init: the dev-only sweep's summary, its fixed choice rule and its table (pure logic)."""

from __future__ import annotations

import pytest

from bench import head_init as hi


def dev(default: list[float], probe: list[float], steps: list[float]) -> dict[str, dict[str, float]]:
    seeds = ["100", "101", "102"]
    return {"default": dict(zip(seeds, default, strict=True)), "probe head": dict(zip(seeds, probe, strict=True)),
            ">= 100 updates": dict(zip(seeds, steps, strict=True))}


def test_the_rule_takes_the_largest_gain_that_is_positive_everywhere() -> None:
    summary = hi.summarize({"a": {"20": dev([0.2, 0.3, 0.4], [0.5, 0.6, 0.7], [0.3, 0.4, 0.5]),
                                  "40": dev([0.6, 0.6, 0.6], [0.5, 0.5, 0.5], [0.7, 0.7, 0.7])}})
    cell = summary["a"]["20"]["probe head"]
    assert cell["macro_f1"]["mean"] == pytest.approx(0.6) and cell["vs_default"]["diff"] == pytest.approx(0.3)
    assert cell["vs_default"]["wins"] == 3 and "vs_default" not in summary["a"]["20"]["default"]
    # the probe head gains more at 20 but loses at 40: only the updates variant is positive at every size
    assert hi.chosen(summary) == ">= 100 updates"


def test_no_variant_positive_everywhere_keeps_the_default() -> None:
    summary = hi.summarize({"a": {"20": dev([0.5] * 3, [0.4] * 3, [0.6] * 3)},
                            "b": {"20": dev([0.5] * 3, [0.6] * 3, [0.4] * 3)}})
    assert hi.chosen(summary) == "default"


def test_a_variant_run_on_some_points_only_is_not_chosen_and_shows_a_dash() -> None:
    summary = hi.summarize({"a": {"20": dev([0.5] * 3, [0.6] * 3, [0.4] * 3),
                                  "40": {"default": {"100": 0.5}, ">= 100 updates": {"100": 0.6}}}})
    assert hi.chosen(summary) == "default"  # the probe head lacks 40, the updates variant loses at 20
    result = {"summary": summary, "tuning_seeds": [100, 101, 102], "variants": hi.VARIANTS,
              "code": "abc1234", "date": "2026-12-03", "machine": {"machine": "x86_64, 2 CPU cores, no GPU"}}
    text = hi.markdown(result)
    row40 = next(line for line in text.splitlines() if line.startswith("| a | 40 |"))
    assert row40.split(" | ")[3] == "-" and "0.600 ± 0.000 (+10.0" in row40
    assert "Chosen: **default**" in text
