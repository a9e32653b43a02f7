"""Benchmark (dev only): does the LoRA classifier student do better at small label counts when its head starts
from a linear probe (`student.head_init: probe`, LP-FT) or when it makes a minimum number of updates?

Why: the LoRA student's macro-F1 at 40 labels has a std of 5 to 19 points over test seeds (suite.json,
bbc / 40, by policy), the embedding probe's 2 to 9 for the same four policies, task and budget; with 40 labels, batch 16 and 6 epochs
it makes 18 updates from a random head.

For the suite's LoRA tasks and the TUNING split seeds (100-102; test seeds are never touched), a random
labelled sample of each size is drawn from the pool (gold labels: the choice concerns the student,
whichever policy buys its labels) and trains the MiniLM LoRA classifier once per variant, the rest of the
config at its defaults; the table is dev macro-F1. Rule fixed before the run: a variant becomes the default
only if its mean dev gain over the default is positive at every size on every task.

    .venv/bin/python -m bench.head_init [--tasks bbc medmcqa] [--sizes 20 40 80] [--seeds 100 101 102]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench.harness import RESULTS, code_version, machine, quiet_logs, write_results  # noqa: E402
from bench.stats import compare, mean_std  # noqa: E402
from bench.student import run_student  # noqa: E402
from bench.suite import TUNING_SEEDS  # noqa: E402
from bench.tasks import builtin_tasks  # noqa: E402
from distillgraph.store.schema import TaskConfig  # noqa: E402
from distillgraph.trainer.base import TrainItem  # noqa: E402
from distillgraph.trainer.config import StudentConfig  # noqa: E402
from distillgraph.trainer.student import build_student  # noqa: E402

VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "probe head": {"head_init": "probe"},
    ">= 100 updates": {"min_train_steps": 100},
    "probe head, >= 100 updates": {"head_init": "probe", "min_train_steps": 100},
    # the demo's (examples/bbc-topic.yaml) own answer to few examples: more passes
    "15 epochs": {"num_train_epochs": 15},
}
SIZES = [20, 40, 80]
TASKS = ["bbc", "medmcqa"]


def sample(pool: list[tuple[str, str]], size: int, seed: int) -> list[TrainItem]:
    """A random labelled sample of the pool (the same for every variant)."""
    idx = random.Random(seed * 1000 + size).sample(range(len(pool)), size)
    return [TrainItem(id=f"p{i}", text=pool[i][0], target=pool[i][1]) for i in idx]


def sweep(tasks: list[str], sizes: list[int], seeds: list[int], variants: list[str],
          dev: dict[str, Any] | None = None) -> dict[str, Any]:
    """dev macro-F1 by task, size, variant and seed (added to `dev`, an earlier sweep's, when given)."""
    quiet_logs()
    defs = builtin_tasks()
    dev = dev or {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in tasks:
            task = defs[name]
            tc = TaskConfig(type="classification", instruction=task.instruction, labels=task.labels)
            splits = {seed: task.splits(seed) for seed in seeds}
            for variant in variants:
                kw = VARIANTS[variant]
                student = build_student(StudentConfig(kind="classifier", **kw), tc, progress=False)
                for seed in seeds:
                    s = splits[seed]
                    for size in sizes:
                        t0 = time.perf_counter()
                        dev_items = [TrainItem(id=f"d{i}", text=t, target=lb) for i, (t, lb) in enumerate(s.dev)]
                        f1 = run_student(student, sample(s.pool, size, seed), dev_items, Path(tmp) / "adapter")[
                            "macro_f1"]
                        dev.setdefault(name, {}).setdefault(str(size), {}).setdefault(variant, {})[str(seed)] = \
                            round(f1, 4)
                        print(f"{name} {size} {variant} seed {seed}: dev macro-F1 {f1:.4f} "
                              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return {"tuning_seeds": seeds, "sizes": sizes, "variants": VARIANTS, "dev_macro_f1": dev,
            "summary": summarize(dev), "machine": machine(), "code": code_version()["head"],
            "date": time.strftime("%Y-%m-%d")}


def summarize(dev: dict[str, Any]) -> dict[str, Any]:
    """Per task and size: each variant's mean / std and its paired difference to the default over seeds."""
    out: dict[str, Any] = {}
    for name, by_size in dev.items():
        for size, by_variant in by_size.items():
            base = {int(k): v for k, v in by_variant["default"].items()}
            cell: dict[str, Any] = {}
            for variant, per_seed in sorted(by_variant.items(), key=lambda kv: list(VARIANTS).index(kv[0])):
                vals = {int(k): v for k, v in per_seed.items()}
                cell[variant] = {"macro_f1": mean_std(list(vals.values()))}
                if variant != "default":
                    c = compare(vals, base)
                    cell[variant]["vs_default"] = {k: c[k] for k in ("diff", "ci_low", "ci_high", "wins", "n")}
            out.setdefault(name, {})[size] = cell
    return out


def chosen(summary: dict[str, Any]) -> str:
    """The rule: the variant with the largest mean gain among those whose gain is positive at every point."""
    gains = {v: [cell[v]["vs_default"]["diff"] for by_size in summary.values() for cell in by_size.values()
                 if v in cell] for v in VARIANTS if v != "default"}
    gains = {v: g for v, g in gains.items() if len(g) == sum(len(by_size) for by_size in summary.values())}
    good = {v: sum(g) / len(g) for v, g in gains.items() if g and min(g) > 0}
    return max(good, key=lambda v: good[v]) if good else "default"


def markdown(result: dict[str, Any]) -> str:
    summary = result["summary"]
    lines = ["## LoRA classifier student: where its head starts, and how many updates it makes (dev only)", "",
             f"MiniLM LoRA classifier (defaults otherwise: r 8, lr 2e-3, 6 epochs, batch 16), a random labelled "
             f"sample of the pool per size (gold labels), tuning split seeds {', '.join(map(str, result['tuning_seeds']))} "
             f"(never the test seeds); dev macro-F1, mean ± std over seeds; paired difference to the default in "
             f"points [95% bootstrap CI] and wins. Variants: "
             + "; ".join(f"`{v}` = {kw or 'the defaults'}" for v, kw in result["variants"].items()) + ".", "",
             "| task | size | " + " | ".join(result["variants"]) + " |",
             "|---|---:|" + "---|" * len(result["variants"])]
    for name, by_size in summary.items():
        for size, cell in sorted(by_size.items(), key=lambda kv: int(kv[0])):
            row = []
            for v in result["variants"]:
                if v not in cell:
                    row.append("-")
                    continue
                m = cell[v]["macro_f1"]
                text = f"{m['mean']:.3f} ± {m['std']:.3f}"
                if "vs_default" in cell[v]:
                    d = cell[v]["vs_default"]
                    text += (f" ({100 * d['diff']:+.1f} [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}] "
                             f"{d['wins']}/{d['n']})")
                row.append(text)
            lines.append(f"| {name} | {size} | " + " | ".join(row) + " |")
    lines += ["", f"Rule, fixed before the run: a variant becomes the default only if its mean dev gain is positive at "
              f"every task and size; the largest mean gain among those wins. Chosen: **{chosen(summary)}**. "
              f"Commit {result['code']}, {result['date']}, {result['machine']['machine']}."]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=TASKS)
    ap.add_argument("--sizes", nargs="+", type=int, default=SIZES)
    ap.add_argument("--seeds", nargs="+", type=int, default=TUNING_SEEDS)
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                    help="run only these; the earlier sweep's other results are kept")
    args = ap.parse_args()
    if set(args.seeds) - set(TUNING_SEEDS):
        raise SystemExit(f"bench.head_init: dev only, on tuning seeds {TUNING_SEEDS}")
    earlier = RESULTS / "head_init.json"
    dev = json.loads(earlier.read_text(encoding="utf-8"))["dev_macro_f1"] if earlier.exists() else None
    result = sweep(args.tasks, args.sizes, args.seeds, args.variants, dev)
    write_results("head_init", result, markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
