"""Dev-only side-by-side of policy variants on the suite's tasks (issue 14): final-round DEV macro-F1 per task
and budget over tuning seeds, paired per seed against the first variant. Test metrics are neither printed nor
kept, and seeds that the suite publishes test numbers for are refused. Use it to decide a default before the
test suite runs; the decision and its table go to bench/results (e.g. suite_tuning_scope.json).

    .venv/bin/python -m bench.dev_compare --variant "clusters=distillgraph" \\
        --variant "split=distillgraph:loop.select_within=split" --variant "typiclust=typiclust" \\
        --seeds 100 101 102 103 104 105 --out bench/results/suite_tuning_scope.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any

from bench import suite
from bench.harness import quiet_logs
from bench.stats import paired_bootstrap_ci
from bench.tasks import Splits

HIDDEN = ("macro_f1", "accuracy", "worst_cluster_acc")  # test metrics: never read, never kept


def parse_variant(text: str) -> tuple[str, str, list[str]]:
    """NAME=POLICY[:key=value,key=value] -> (name, policy, overrides)."""
    name, _, rest = text.partition("=")
    policy, _, sets = rest.partition(":")
    if not name or not policy:
        raise SystemExit(f"--variant {text!r}: expected NAME=POLICY[:key=value,...]")
    return name, policy, [s for s in sets.split(",") if s]


def flattery(runs: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """With a held-out dev half: per variant, how much more it gains over the first variant on the dev half its
    runs steered on than on the half they never saw, per (task, budget, seed) triple: mean, paired-bootstrap 95% CI
    and per task. Positive: the steering half flatters the variant against the first."""
    cells: dict[str, dict[tuple[str, int, int], dict[str, float]]] = {}
    for name, r in zip(names, runs, strict=True):
        cells.setdefault(name, {})[(r["task"], r["budget"], r["seed"])] = r
    first = cells[names[0]]
    out: dict[str, Any] = {}
    for name, per in cells.items():
        if name == names[0]:
            continue
        gaps = {k: (r["dev_macro_f1"] - first[k]["dev_macro_f1"])
                - (r["heldout_dev_macro_f1"] - first[k]["heldout_dev_macro_f1"]) for k, r in per.items() if k in first}
        lo, hi = paired_bootstrap_ci(list(gaps.values()))
        tasks = sorted({k[0] for k in gaps})
        out[name] = {"diff": round(mean(gaps.values()), 4), "ci_low": round(lo, 4), "ci_high": round(hi, 4),
                     "n": len(gaps), "per_task": {t: round(mean(g for k, g in gaps.items() if k[0] == t), 4)
                                                  for t in tasks}}
    return out


HALF_DEV_SEED = 7919  # fixed: which dev texts a split's run steers on and which are only measured


def halve_dev(splits: Splits, seed: int) -> Splits:
    """The split with its dev set cut in two per label (a fixed random half each; the odd one steers): the run
    gets the first half as its dev set (what it steers on: per-cluster errors, the checked cold start, patience)
    and the second half in place of its test split, so the run's "test" figures are measured on dev texts it never
    saw. The real test split never enters."""
    by_label: dict[str, list[str]] = {}
    for text, label in splits.dev:
        by_label.setdefault(label, []).append(text)
    rng = random.Random(HALF_DEV_SEED * 1000 + seed)
    steer: list[tuple[str, str]] = []
    measure: list[tuple[str, str]] = []
    for label in sorted(by_label):
        texts = sorted(by_label[label])
        rng.shuffle(texts)
        cut = math.ceil(len(texts) / 2)
        steer += [(t, label) for t in texts[:cut]]
        measure += [(t, label) for t in texts[cut:]]
    return Splits(pool=splits.pool, dev=steer, test=measure)


@dataclass
class HeldOutDev(suite.Prepared):
    """A prepared task whose runs steer on half of dev and are measured on the other half (halve_dev)."""

    def splits(self, seed: int) -> Splits:
        if seed not in self._splits:
            self._splits[seed] = halve_dev(self.task.splits(seed), seed)
        return self._splits[seed]


def held_out_dev(prep: suite.Prepared) -> HeldOutDev:
    if prep.task.builtin:
        raise SystemExit(f"--held-out-dev: {prep.task.name} is the graph's built-in source; name file-backed tasks")
    return HeldOutDev(prep.task, prep.meta)


def keep(run: dict[str, Any], held_out: bool) -> dict[str, Any]:
    """What a run's record keeps: never a test metric; with a held-out dev half, the figures measured on it
    (the run's "test" split is that half) next to the steering half's own dev figures."""
    kept = {k: v for k, v in run.items() if k not in HIDDEN}
    if held_out:
        kept |= {"heldout_dev_macro_f1": run["macro_f1"], "heldout_dev_worst_cluster_acc": run["worst_cluster_acc"]}
    return kept


def table(runs: list[dict[str, Any]], names: list[str], metric: str = "dev_macro_f1") -> dict[str, Any]:
    """Per variant: mean `metric` per task/budget and over all; per seed-paired cell, the difference to the
    first variant and how many (task, budget, seed) triples it wins."""
    cells: dict[str, dict[str, dict[int, float]]] = {}
    for name, r in zip(names, runs, strict=True):
        cells.setdefault(name, {}).setdefault(f"{r['task']}/{r['budget']}", {})[r["seed"]] = r[metric]
    first = names[0]
    out: dict[str, Any] = {}
    for name, per in cells.items():
        diffs = [v - cells[first][c][s] for c, seeds in per.items() for s, v in seeds.items()]
        out[name] = {"per_point": {c: round(mean(s.values()), 4) for c, s in sorted(per.items())},
                     "mean": round(mean(mean(s.values()) for s in per.values()), 4),
                     "vs_first": {"diff": round(mean(diffs), 4), "wins": sum(d > 1e-9 for d in diffs),
                                  "losses": sum(d < -1e-9 for d in diffs), "n": len(diffs)}}
    return out


def dev_tasks(names: list[str] | None) -> dict[str, Any]:
    """The suite's tasks, or those named; a held-out or tuning task joins only when named (its dev split only)."""
    known = suite.builtin_tasks() | suite.named_tasks()
    if names is None:
        return suite.builtin_tasks()
    if unknown := [n for n in names if n not in known]:
        raise SystemExit(f"--tasks: unknown task(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return {n: known[n] for n in names}


def decide(key: str, variants: list[tuple[str, str, list[str]]], dev: dict[str, Any]) -> dict[str, Any]:
    """The value of `key` whose distillgraph variant has the best mean dev macro-F1 (ties: the first listed);
    a variant that does not set `key` stands for the config default. The candidates are the distillgraph
    variants that set the same other overrides as the first one (`at`, e.g. loop.score_sample=400: a decision
    made at that setting); variants of other policies or setting anything else are references only."""
    values: dict[str, float] = {}
    others = lambda extra: sorted(o for o in extra if not o.startswith(f"{key}="))  # noqa: E731
    at = next((others(e) for _, p, e in variants if p == suite.FOCUS), [])
    for name, policy, extra in variants:
        if policy != suite.FOCUS or others(extra) != at:
            continue
        mine = [o.split("=", 1)[1] for o in extra if o.startswith(f"{key}=")]
        value = mine[0] if mine else suite._v(suite._config_default(key))
        values[value] = dev[name]["mean"]
    if len(values) < 2:
        raise SystemExit(f"--decide {key}: needs two {suite.FOCUS} variants that differ only in {key}")
    best = max(values.values())
    return {"key": key, "value": next(v for v, m in values.items() if m >= best - 1e-12),
            "dev_macro_f1": values} | ({"at": at} if at else {})


def record(tuning: Path, decision: dict[str, Any]) -> None:
    """Add the decision to the suite's tuning record ("later": applied after the sweep's choices)."""
    data = json.loads(tuning.read_text(encoding="utf-8"))
    data["later"] = [d for d in data.get("later", []) if d["key"] != decision["key"]] + [decision]
    tuning.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", action="append", required=True, help="NAME=POLICY[:key=value,...]; the first is the reference")
    ap.add_argument("--seeds", type=int, nargs="+", default=suite.TUNING_SEEDS)
    ap.add_argument("--budgets", type=int, nargs="+", default=suite.FULL_BUDGETS)
    ap.add_argument("--tasks", nargs="*")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--decide", metavar="KEY", help="record the best distillgraph value of KEY in --tuning")
    ap.add_argument("--tuning", type=Path, default=suite.RESULTS / suite.TUNING_FILE)
    ap.add_argument("--held-out-dev", action="store_true",
                    help="each run steers on half of dev and is also measured on the other half (halve_dev)")
    args = ap.parse_args(argv)
    if set(args.seeds) & set(suite.FULL_TEST_SEEDS):
        raise SystemExit(f"seeds {sorted(set(args.seeds) & set(suite.FULL_TEST_SEEDS))} are test seeds of the suite")
    quiet_logs()
    variants = [parse_variant(v) for v in args.variant]
    preps: dict[str, suite.Prepared] = {n: suite.prepare(t, []) for n, t in dev_tasks(args.tasks).items()}
    if args.held_out_dev:
        preps = {n: held_out_dev(p) for n, p in preps.items()}
    points, names = [], []
    for name, policy, extra in variants:
        for prep in preps.values():
            for b in args.budgets:
                for s in args.seeds:
                    point = suite.make_point(prep, policy, b, s, suite.PROBE, extra, tag=f"dev:{name}")
                    points.append({**point, "cache_tag": suite.TUNE_CACHE_TAG})
                    names.append(name)
    runs = [keep(r, args.held_out_dev) for r in suite.sweep(points, args.workers, label="dev ", resume=True)]
    half = (" (the run steers on half of each label's dev texts; heldout_dev_macro_f1 is measured on the other "
            "half, which it never saw)") if args.held_out_dev else ""
    protocol = (f"final-round DEV macro-F1{half}, embedding probe, oracle teacher (SIMULATION), tuning seeds "
                f"{args.seeds}, budgets {args.budgets}, tasks {list(preps)}; test metrics not kept")
    result: dict[str, Any] = {
        "protocol": protocol, "variants": {n: {"policy": p, "overrides": e} for n, p, e in variants},
        "dev_macro_f1": table(runs, names), "written": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "runs": runs}
    if args.held_out_dev:
        result["heldout_dev_macro_f1"] = table(runs, names, "heldout_dev_macro_f1")
        result["flattery_vs_first"] = flattery(runs, names)
    measured = "heldout_dev_macro_f1" if args.held_out_dev else "dev_macro_f1"  # what the table and --decide read
    for name, row in result[measured].items():
        vs = row["vs_first"]
        print(f"{name:24s} mean {row['mean']:.4f}  vs first {vs['diff']:+.4f} ({vs['wins']} wins / {vs['losses']} "
              f"losses of {vs['n']})  " + " ".join(f"{c} {v:.3f}" for c, v in row["per_point"].items()), flush=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if args.decide:
        decision = decide(args.decide, variants, result[measured]) | {
            "seeds": args.seeds, "budgets": args.budgets, "tasks": list(preps), "written": result["written"],
            "evidence": str(args.out.name) if args.out else None}
        record(args.tuning, decision)
        print(f"decided on dev: {args.decide}={decision['value']} ({args.tuning})", flush=True)


if __name__ == "__main__":
    main()
