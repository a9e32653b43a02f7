"""Pre-registered real-teacher series on tasks no default was chosen on (bench/results/policy_choice.md stage 69).

Today's default (`distillgraph`) against `random` at equal calls, with the embedded teacher (Qwen2.5-Coder-1.5B,
`teacher.provider=local`: **not a simulation**) on a held-out task of bench/tasks.py, in the suite's setup (the
embedding-probe student, 4 rounds, split seed = run seed; bench/suite.py `run_config`), the teacher's settings at
their defaults. Every run is stored in `bench/results/real_unseen.json` as it ends and never run again, so a series
spans sessions; it is read (`markdown`) only when every planned pair is in, and shown as an interim before.

    python -m bench.real_unseen run --series "stage 69"     # runs what is not stored yet, in seed order
    python -m bench.real_unseen markdown                    # rewrites real_unseen.md from the json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "real_unseen.json"

# name -> the plan, fixed before any of its runs (policy_choice.md): task, calls, seeds in run order, arms.
SERIES: dict[str, dict[str, Any]] = {
    "stage 69": {"task": "vader_sentiment", "budget": 40, "seeds": tuple(range(200, 224)),
                 "arms": ("distillgraph", "random")},
}
DEFAULT, BASE = "distillgraph", "random"


def real_teacher() -> list[str]:
    """The overrides that put the embedded teacher in the suite's oracle's place, with the shipped defaults for
    what the suite changes only because its oracle ignores it (the annotator's demonstrations)."""
    from distillgraph.agents.config import TeacherConfig

    return ["teacher.provider=local", f"teacher.demonstrations={TeacherConfig().demonstrations}"]


def run_one(task: str, policy: str, budget: int, seed: int) -> dict[str, Any]:
    """One graph run with the real teacher: final test metrics, what it bought, how often the teacher was right."""
    from bench import suite
    from bench.harness import code_version
    from bench.tasks import named_tasks

    prep = suite.prepare(named_tasks()[task], [])
    point = suite.make_point(prep, policy, budget, seed, "embedding-probe", real_teacher())
    start = time.perf_counter()
    state = suite.run_point(point["cfg"], Path(point["clusters"]))
    last = state["history"][-1]
    return {"macro_f1": round(last.test["macro_f1"], 4), "accuracy": round(last.test["accuracy"], 4),
            "worst_cluster_acc": last.test.get("worst_cluster"), "dev_macro_f1": round(last.dev["macro_f1"], 4),
            "calls": state["ledger"]["spent"]["calls"], "train_by_source": last.train_by_source,
            "calls_by_node": {n: r["spent"]["calls"] for n, r in state["ledger"].get("nodes", {}).items()},
            "curve": [round(h.test.get("macro_f1", 0.0), 4) for h in state["history"]],
            **suite.teacher_label_accuracy(point["cfg"], state["dataset"]),
            "seconds": round(time.perf_counter() - start, 1), "load_average_1m": round(os.getloadavg()[0], 2),
            "code": code_version()["head"], "date": time.strftime("%Y-%m-%d %H:%M")}


def stored(path: Path = RESULTS) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def run_series(name: str, runner: Callable[[str, str, int, int], dict[str, Any]] = run_one,
               path: Path = RESULTS) -> int:
    """Every planned run of `name` not stored yet, seed by seed, each stored at once; returns how many ran."""
    plan, ran = SERIES[name], 0
    for seed in plan["seeds"]:
        for arm in plan["arms"]:
            if str(seed) in stored(path).get(name, {}).get(arm, {}):
                continue
            row = runner(plan["task"], arm, plan["budget"], seed)
            data = stored(path)  # re-read: nothing another writer stored is lost
            data.setdefault(name, {}).setdefault(arm, {})[str(seed)] = row
            path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
            print(f"{name} seed {seed} {arm}: {row['macro_f1']}", flush=True)
            ran += 1
    return ran


def pairs(data: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The default minus random over the seeds both arms have; the verdict only once every planned seed is in."""
    from bench.stats import compare
    from bench.teacher_quality import series_status

    runs, plan = data.get(name, {}), SERIES[name]
    a = {int(s): r["macro_f1"] for s, r in runs.get(DEFAULT, {}).items()}
    b = {int(s): r["macro_f1"] for s, r in runs.get(BASE, {}).items()}
    if not set(a) & set(b):
        return None
    out = compare(a, b)
    return {**out, "verdict": series_status(out, plan["seeds"])}


def _bought(row: dict[str, Any]) -> str:
    by = row.get("train_by_source", {})
    return f"{by.get('pool', 0) + by.get('bootstrap', 0)} / {by.get('synthetic', 0)}"


def _right(row: dict[str, Any]) -> str:
    return "-" if row.get("teacher_label_acc") is None else f"{100 * row['teacher_label_acc']:.1f}%"


def series_lines(data: dict[str, Any], name: str) -> list[str]:
    plan, runs = SERIES[name], data.get(name, {})
    lines = [f"### {name}: `{DEFAULT}` against `{BASE}` on {plan['task']} at {plan['budget']} calls", "",
             "**Real teacher** (the embedded Qwen2.5-Coder-1.5B-Instruct, `teacher.provider=local`): **not a "
             "simulation**. Embedding-probe student, the suite's settings (bench/suite.py) with the teacher's defaults; "
             f"split seed = run seed; seeds {plan['seeds'][0]}-{plan['seeds'][-1]}, never used for any choice. Test "
             "macro-F1 per seed; texts bought = pool (cold start included) / synthetic; teacher right = its labels of "
             "the pool texts the run bought that match gold.", "",
             "| seed | default | random | difference (points) | texts bought (pool / synthetic): default; random | "
             "teacher right: default / random | calls: default / random |", "|---|---|---|---|---|---|---|"]
    for seed in plan["seeds"]:
        a, b = runs.get(DEFAULT, {}).get(str(seed)), runs.get(BASE, {}).get(str(seed))
        if a is None or b is None:
            continue
        lines.append(f"| {seed} | {a['macro_f1']:.3f} | {b['macro_f1']:.3f} | "
                     f"{100 * (a['macro_f1'] - b['macro_f1']):+.1f} | {_bought(a)}; {_bought(b)} | "
                     f"{_right(a)} / {_right(b)} | {a['calls']} / {b['calls']} |")
    p = pairs(data, name)
    if p is None:
        return [*lines, "", "No pair stored yet.", ""]
    return [*lines, "", f"Default minus random: {100 * p['diff']:+.1f} [{100 * p['ci_low']:+.1f}, "
            f"{100 * p['ci_high']:+.1f}] points (95% paired bootstrap CI), {p['wins']} wins of {p['n']}, Wilcoxon p = "
            f"{p['p_wilcoxon']}: **{p['verdict']}**.", ""]


def markdown(data: dict[str, Any]) -> str:
    lines = ["## Real teacher on tasks no default was chosen on (pre-registered series; policy_choice.md)", ""]
    for name in SERIES:
        lines += series_lines(data, name)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["run", "markdown"])
    parser.add_argument("--series", default="stage 69", choices=list(SERIES))
    args = parser.parse_args(argv)
    if args.command == "run":
        from bench.harness import quiet_logs

        quiet_logs()
        run_series(args.series)
    RESULTS.with_suffix(".md").write_text(markdown(stored()), encoding="utf-8")


if __name__ == "__main__":
    main()
