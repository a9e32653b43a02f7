"""Per-seed detail of a pre-registered real-teacher series (policy_choice.md stages 59, 67, 68), rendered from
bench/results/teacher_quality.json so that no per-seed number is typed by hand: per seed the default's and random's
test macro-F1, the difference, what the default bought, how often the teacher labelled each arm's pool picks right,
what the label gate dropped, and the code each run had."""

from __future__ import annotations

import statistics
from typing import Any


def _right(row: dict[str, Any]) -> str:
    acc = row.get("teacher_pool_label_accuracy")
    return "-" if acc is None else f"{100 * acc:.1f}%"


def _gate(row: dict[str, Any]) -> str:
    return "-" if row.get("gate_dropped") is None else f"{row['gate_dropped']} ({row['gate_dropped_wrong']} wrong)"


def seed_rows(runs: dict[str, Any], seeds: tuple[int, ...], arm: str = "mixed",
              base: str = "random") -> list[dict[str, Any]]:
    """The series' seeds on which both arms are stored, in run order, with the difference in points."""
    a, b = runs.get(arm, {}), runs.get(base, {})
    return [{"seed": s, "arm": a[str(s)], "base": b[str(s)],
             "diff": 100 * (a[str(s)]["student_macro_f1"] - b[str(s)]["student_macro_f1"])}
            for s in seeds if str(s) in a and str(s) in b]


def summary(rows: list[dict[str, Any]]) -> str:
    """Mean difference (sd), wins, and on how many seeds the teacher was right less often on the default's picks."""
    diffs = [r["diff"] for r in rows]
    sd = f", sd {statistics.stdev(diffs):.1f}" if len(diffs) >= 2 else ""
    checked = [r for r in rows if r["arm"].get("teacher_pool_label_accuracy") is not None
               and r["base"].get("teacher_pool_label_accuracy") is not None]
    lower = sum(r["arm"]["teacher_pool_label_accuracy"] < r["base"]["teacher_pool_label_accuracy"] for r in checked)
    teacher = ""
    if checked:
        mean_a = 100 * statistics.mean(r["arm"]["teacher_pool_label_accuracy"] for r in checked)
        mean_b = 100 * statistics.mean(r["base"]["teacher_pool_label_accuracy"] for r in checked)
        teacher = (f" The teacher was right less often on the default's pool picks than on random's on {lower} of "
                   f"{len(checked)} seeds ({mean_a:.1f}% against {mean_b:.1f}% on average).")
    return (f"Mean difference {statistics.mean(diffs):+.1f} points{sd}, {sum(d > 0 for d in diffs)} wins of "
            f"{len(diffs)} (the series' CI and verdict are in the table above).{teacher}")


def series_detail_text(data: dict[str, Any], series: dict[str, tuple[str, tuple[int, ...]]]) -> list[str]:
    """One table per series with any pair stored: a row per seed (real teacher, not a simulation)."""
    out: list[str] = []
    for stage, (budget, seeds) in series.items():
        rows = seed_rows(data.get("distill_seeds", {}).get(budget, {}), seeds)
        if not rows:
            continue
        out += [f"Per seed, {stage} ({budget} calls, seeds {seeds[0]}-{seeds[-1]}, {len(rows)} of {len(seeds)} "
                "pairs stored; real teacher): test macro-F1 of the default (`mixed`) and `random`, the difference "
                "in points, the default's pool / synthetic labels, how often the teacher labelled each arm's pool "
                "picks right, what the label gate dropped (of them wrong by gold), and the code each run had.", "",
                "| seed | default | random | difference | default: pool / synthetic | teacher right: default / "
                "random | gate dropped: default / random | code: default / random |",
                "|---:|---:|---:|---:|---|---|---|---|"]
        for r in rows:
            a, b = r["arm"], r["base"]
            by = a.get("train_by_source", {})
            out.append(f"| {r['seed']} | {a['student_macro_f1']:.3f} | {b['student_macro_f1']:.3f} | {r['diff']:+.1f} | "
                       f"{by.get('pool', 0)} / {by.get('synthetic', 0)} | {_right(a)} / {_right(b)} | "
                       f"{_gate(a)} / {_gate(b)} | {a.get('code', '-')} / {b.get('code', '-')} |")
        out += ["", summary(rows), ""]
    return out
