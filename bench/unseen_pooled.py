"""The default against every other policy on the tasks no choice has used, pooled over those tasks.

Each unseen task's suite (`bench/results/unseen*/suite.json`: every policy, the embedding probe, the oracle
teacher, a SIMULATION, test seeds 0-19) answers for its own task. This pools them per budget: the mean over tasks
of the per-task mean paired difference (distillgraph minus the other policy, same seed = same split), a 95% CI
from resampling seeds within each task (the tasks are these tasks, not a sample of all tasks: a CI over tasks
would need many more of them), the seeds won, and on how many tasks the default's mean is the higher. Nothing is
chosen here: every unseen task, every policy and every budget in the files is counted.

    python -m bench.unseen_pooled       -> bench/results/unseen_pooled.json and .md
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from bench.stats import stratified_bootstrap_ci, verdict

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT, STUDENT = "distillgraph", "embedding-probe"
METRICS = ("macro_f1", "worst_cluster_acc")


def sources() -> list[str]:
    """Every unseen task's suite under bench/results (`unseen*/suite.json`; held-out folders are not unseen)."""
    return sorted(str(p.relative_to(RESULTS)) for p in RESULTS.glob("unseen*/suite.json"))


def load_runs(paths: list[Path]) -> list[dict[str, Any]]:
    """The probe-student runs of every file, one per (task, policy, budget, seed); a repeat is an error."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for path in paths:
        for r in json.loads(path.read_text(encoding="utf-8"))["runs"]:
            if r["student"] != STUDENT:
                continue
            key = (r["task"], r["policy"], int(r["budget"]), int(r["seed"]))
            if key in seen:
                raise ValueError(f"{path}: run {key} is in two files")
            seen.add(key)
            out.append(r)
    return out


def pooled(runs: list[dict[str, Any]], metric: str = "macro_f1") -> dict[str, dict[str, Any]]:
    """{budget: {policy: {diff, ci_low, ci_high, verdict, wins, n, tasks_ahead, tasks, per_task}}}, points."""
    value: dict[tuple[str, str, int], dict[int, float]] = defaultdict(dict)
    for r in runs:
        value[(r["task"], r["policy"], int(r["budget"]))][int(r["seed"])] = float(r[metric])
    tasks = sorted({r["task"] for r in runs})
    out: dict[str, dict[str, Any]] = {}
    for budget in sorted({int(r["budget"]) for r in runs}):
        row: dict[str, Any] = {}
        for policy in sorted({r["policy"] for r in runs} - {DEFAULT}):
            groups, per_task = [], {}
            for task in tasks:
                a, b = value.get((task, DEFAULT, budget), {}), value.get((task, policy, budget), {})
                seeds = sorted(set(a) & set(b))
                if seeds:
                    d = [100 * (a[s] - b[s]) for s in seeds]
                    groups.append(d)
                    per_task[task] = round(float(np.mean(d)), 2)
            if not groups:
                continue
            low, high = stratified_bootstrap_ci(groups)
            row[policy] = {"diff": round(float(np.mean([np.mean(g) for g in groups])), 2), "ci_low": round(low, 2),
                           "ci_high": round(high, 2), "verdict": verdict(low, high),
                           "wins": sum(x > 0 for g in groups for x in g), "n": sum(len(g) for g in groups),
                           "tasks_ahead": sum(v > 0 for v in per_task.values()), "tasks": len(per_task),
                           "per_task": per_task}
        out[str(budget)] = row
    return out


def markdown(result: dict[str, Any]) -> str:
    tasks = ", ".join(result["tasks"])
    lines = [
        "## Unseen tasks pooled: the default against each policy on data no choice used", "",
        f"`python -m bench.unseen_pooled` over {', '.join(f'`{s}`' for s in result['sources'])}: the tasks {tasks} "
        f"(registered and committed before any run on them, with the default of the time fixed; every policy as "
        "shipped; moral_foundations and commons_party were read before the cold-start change of stage 22, which "
        "was chosen on other tasks' dev splits but prompted partly by their losses, so they are the least clean "
        f"of the {len(result['tasks'])}). Embedding-probe student, oracle teacher (**a SIMULATION**: every label from gold), test seeds "
        f"{result['seeds']}. Per budget: distillgraph minus the policy, points of test macro-F1, averaged per task "
        "then over tasks (each task weighs the same); 95% CI from resampling seeds within each task (the tasks are "
        "fixed: the CI says what more seeds of these tasks would show, not what a new task would); wins over all "
        "task x seed pairs; tasks where distillgraph's mean is higher. Nothing is chosen on this table.", ""]
    for metric in METRICS:
        lines += table_lines(metric, result[metric])
    lines += per_task_lines(result["macro_f1"], result.get("task_info", {}))
    return "\n".join(lines + verdict_lines(result["macro_f1"])) + "\n"


def closest(table: dict[str, dict[str, Any]]) -> str | None:
    """The policy the default leads by least, averaged over the budgets (its closest rival on these tasks)."""
    diffs: dict[str, list[float]] = defaultdict(list)
    for row in table.values():
        for policy, cell in row.items():
            diffs[policy].append(cell["diff"])
    return min(diffs, key=lambda p: (float(np.mean(diffs[p])), p)) if diffs else None


def per_task_lines(table: dict[str, dict[str, Any]], info: dict[str, dict[str, Any]]) -> list[str]:
    """Per task, the default minus its closest rival at each budget, the tasks sorted by the pool's imbalance: where
    a pooled tie is won and where it is lost."""
    rival = closest(table)
    if rival is None:
        return []
    budgets = [b for b in table if rival in table[b]]
    tasks = sorted({t for b in budgets for t in table[b][rival]["per_task"]},
                   key=lambda t: (info.get(t, {}).get("imbalance", 0.0), t))
    lines = [f"**Per task: distillgraph minus {rival}**, the closest policy over these tasks (test macro-F1 points, "
             "mean over seeds; tasks by the pool's imbalance, largest / smallest label; upper bound = the probe on "
             "the whole gold pool)", "",
             "| task | labels | imbalance | upper bound | " + " | ".join(f"B={b}" for b in budgets) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(budgets)]
    for task in tasks:
        t = info.get(task, {})
        cells = [f"{table[b][rival]['per_task'][task]:+.1f}" if task in table[b][rival]["per_task"] else "-"
                 for b in budgets]
        bound = t.get("upper_bound")
        lines.append(f"| {task} | {t.get('n_labels', '-')} | {t.get('imbalance', '-')} | "
                     f"{'-' if bound is None else f'{bound:.3f}'} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def table_lines(metric: str, table: dict[str, dict[str, Any]]) -> list[str]:
    """One metric's pooled table: a row per policy, a column per budget."""
    policies = sorted({p for row in table.values() for p in row})
    lines = [f"**{metric}** (points)", "", "| policy | " + " | ".join(f"B={b}" for b in table) + " |",
             "|---|" + "---|" * len(table)]
    for p in policies:
        cells = []
        for b in table:
            c = table[b].get(p)
            cells.append("-" if c is None else f"{c['diff']:+.1f} [{c['ci_low']:+.1f}, {c['ci_high']:+.1f}] "
                         f"{c['wins']}/{c['n']}, {c['tasks_ahead']}/{c['tasks']} tasks"
                         + (f" **{c['verdict']}**" if c["verdict"] != "no clear difference" else ""))
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def verdict_lines(table: dict[str, dict[str, Any]]) -> list[str]:
    """Where the default is behind any policy, and at which budgets it is ahead of all of them."""
    behind = [f"{p} at {b} labels ({c['diff']:+.1f})" for b, row in table.items()
              for p, c in row.items() if c["verdict"] == "behind"]
    ahead_all = [b for b, row in table.items() if row and all(c["verdict"] == "ahead" for c in row.values())]
    most = [f"{p} at {b} labels ({c['tasks'] - c['tasks_ahead']} of {c['tasks']})" for b, row in table.items()
            for p, c in row.items() if 2 * c["tasks_ahead"] < c["tasks"]]
    return [f"- Behind (CI below 0) on macro-F1: {', '.join(behind) if behind else 'nowhere'}.",
            f"- Ahead of every other policy (each CI above 0) at: "
            f"{', '.join(ahead_all) + ' labels' if ahead_all else 'no budget'}.",
            f"- A policy with the higher mean on more than half of the tasks: {', '.join(most) if most else 'none'} "
            "(a pooled lead can come from large wins on a few tasks)."]


def task_info(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """Each task's labels, pool imbalance and upper bound (the probe on the whole gold pool), from its suite file."""
    out = {}
    for path in paths:
        for name, t in json.loads(path.read_text(encoding="utf-8")).get("tasks", {}).items():
            bound = t.get("upper_bound")
            out[name] = {"n_labels": t.get("n_labels"), "imbalance": t.get("imbalance"),
                         "upper_bound": bound.get("macro_f1") if isinstance(bound, dict) else bound}
    return out


def build(sources: list[str]) -> dict[str, Any]:
    paths = [RESULTS / s for s in sources]
    runs = load_runs(paths)
    return {"sources": list(sources), "tasks": sorted({r["task"] for r in runs}),
            "seeds": sorted({int(r["seed"]) for r in runs}), "simulation": "oracle teacher (gold labels)",
            "task_info": task_info(paths), **{m: pooled(runs, m) for m in METRICS}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sources", nargs="+", default=sources(), help="suite.json files under bench/results")
    args = ap.parse_args()
    result = build(args.sources)
    (RESULTS / "unseen_pooled.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    text = markdown(result)
    (RESULTS / "unseen_pooled.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
