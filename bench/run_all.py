"""`make bench`: every benchmark module in its own process, then BENCHMARKS.md from the fragments.

The default aims at 20 minutes on 2 idle CPU cores from a fresh clone: heavy modules run with their quick
settings (the reliability soak included, shortened). Left out, their last results kept: the LoRA student benchmark,
the SmolLM2 distillation benchmark (distill_local; since the embedded teacher became Qwen2.5-Coder-1.5B, SmolLM2-135M
is the fast-test teacher, and the embedded teacher's distillation is bench.teacher_quality's), the BBC-only
sample-efficiency sweeps (superseded by the suite), the secondary-model benchmark, the NER benchmark and the suite
under a simulated teacher that errs on hard texts (bench.difficulty). `--full` runs every module with its full
settings (about an hour and a half), including the sweep behind BENCHMARKS.md's LoRA table
(`sample_efficiency_lora`, about 19 minutes; alone: `--only sample_efficiency_lora`).

    .venv/bin/python -m bench.run_all [--full] [--with-student] [--only NAME ...] [--skip NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

from bench.harness import RESULTS, ROOT, cpu_model, machine

# The published LoRA-student table: 3 seeds x random / uncertainty / distillgraph x 40 and 80 labels.
LORA_TABLE = ["--lora-only", "--lora-seeds", "3", "--lora-budgets", "40", "80",
              "--lora-policies", "random", "uncertainty", "distillgraph"]
# name -> (default arguments, --full arguments); index runs before system, which reads its result
STEPS: dict[str, tuple[list[str], list[str]]] = {
    "index": (["--quick", "--repeats", "1"], []),
    "teacher": (["--quick"], []),
    "student": ([], []),
    "sample_efficiency": ([], []),
    "sample_efficiency_lora": (LORA_TABLE, LORA_TABLE),
    # every policy on BBC + 3 packaged tasks, probe, budget 80, 5 test seeds, the stored dev-only tuning;
    # --full: re-tune on the tuning seeds, 4 budgets, + the MiniLM LoRA student on 2 tasks
    "suite": ([], ["--full"]),
    # the unseen tasks' suites pooled per budget (reads their suite.json files; runs nothing, seconds)
    "unseen_pooled": ([], []),
    # SmolLM2-135M (the fast-test teacher) distilled; out of the default since 2026-12-05 (optional below);
    # --only distill_local: the mixed mode at 8k tokens only (no select-only / synthesize-only arms, no 4k / 16k curve)
    "distill_local": (["--curve", "--modes", "auto"], ["--full"]),
    "system": ([], ["--full"]),
    # issue 17: index, Chroma, orchestration against pool size (synthetic pools of 2k and 5k texts, the 20k and 100k
    # rows of the last --full run kept and dated; --full: 2k, 20k, 100k) and the teacher client at concurrency
    # 8/32/64 against a 200 ms stub
    "scale": (["--sizes", "2000,5000", "--merge"], ["--full"]),
    "secondary": ([], ["--seeds", "0", "1"]),
    # the soak, short: 1 faulty-teacher run, 10 SIGKILL trials spread over the run, the bad-input table,
    # the secret scan and 10 injected texts through the local teacher; --full: 5 runs and 18 trials
    "reliability": (["--fault-runs", "1", "--crash-trials", "10", "--injection-texts", "10"], []),
    # NER (issue 18): the oracle policy sweep (45 runs, ~20 min); --full adds the whole-pool upper bound, the
    # embedded teacher on 60 test sentences and examples/wnut-ner.yaml end to end (~35 min more)
    "ner": ([], ["--upper-bound", "--teacher", "60", "--distilled"]),
    # the suite under a simulated teacher that errs on hard texts (4 tasks + uniform noise on bbc, 1,600 probe
    # runs, ~100 min on 2 cores; cached runs are reused)
    "difficulty": (["--run"], ["--run"]),
}
# steps that run another step's module
MODULES = {"sample_efficiency_lora": "sample_efficiency"}
# long ones: run with --full (or --only NAME); their last fragments stay in BENCHMARKS.md otherwise
OPTIONAL = ("student", "sample_efficiency", "sample_efficiency_lora", "distill_local", "secondary", "ner", "difficulty")


def selected(args: argparse.Namespace) -> list[str]:
    names = list(args.only or STEPS)
    if not (args.full or args.only):
        names = [n for n in names if n not in OPTIONAL or (n == "student" and args.with_student)]
    return [n for n in names if n not in (args.skip or [])]


@dataclass
class Step:
    name: str
    args: list[str]
    seconds: float
    returncode: int


def command(name: str, full: bool) -> list[str]:
    """`-m bench.MODULE ARGS...` of a step."""
    quick, full_args = STEPS[name]
    return ["-m", f"bench.{MODULES.get(name, name)}", *(full_args if full else quick)]


def run_step(name: str, full: bool) -> Step:
    cmd = [sys.executable, *command(name, full)]
    print(f"\n=== {' '.join(cmd[1:])}", flush=True)
    start = time.perf_counter()
    rc = subprocess.call(cmd, cwd=ROOT, env=os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    return Step(name, cmd[3:], round(time.perf_counter() - start, 1), rc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="every module with its full settings")
    parser.add_argument("--with-student", action="store_true", help="also the LoRA student benchmark (~5 min)")
    parser.add_argument("--only", nargs="+", choices=list(STEPS))
    parser.add_argument("--skip", nargs="+", choices=list(STEPS))
    args = parser.parse_args()
    steps = [run_step(name, args.full) for name in selected(args)]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "run_all.json").write_text(json.dumps({"full": args.full, **machine(), "cpu": cpu_model(),
                                                         "steps": [asdict(s) for s in steps]}, indent=2) + "\n")
    subprocess.call([sys.executable, "-m", "bench.report"], cwd=ROOT)
    print("\n| benchmark | seconds | exit |\n|---|---:|---:|")
    for s in steps:
        print(f"| {s.name} | {s.seconds} | {s.returncode} |")
    print(f"| total | {sum(s.seconds for s in steps):.0f} | |")
    if any(s.returncode for s in steps):
        sys.exit(1)


if __name__ == "__main__":
    main()
