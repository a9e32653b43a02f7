"""Teacher-quality benchmark (issue 15, item 5): the real embedded teacher, measured through the project's
own launcher and prompts.

`embedded`: Qwen2.5-Coder-1.5B-Instruct (teacher.provider local, the demo's teacher settings) labels
balanced BBC test articles with the annotator prompt, zero-shot and with 3 demonstrations retrieved
(MiniLM cosine) from 2 gold seeds per topic; then one analyst call on a simulated student's dev errors and
two synthesis calls (the generator prompt): accuracy and seconds per call of each kind.

Results merge into bench/results/teacher_quality.json (other sections are kept).

    .venv/bin/python -m bench.teacher_quality embedded [--n 30] [--threads 2]
    .venv/bin/python -m bench.teacher_quality synthesis-ceiling --seeds 0,1,2,3,4   # (b)'s goal against the probe's ceiling
    .venv/bin/python -m bench.teacher_quality synthesis-dev-gap --seeds 0,...,9     # (b)'s gain on dev against test
    .venv/bin/python -m bench.teacher_quality writer-check-real --budget 60 --seeds 100,101,102,103  # stage 64
    .venv/bin/python -m bench.teacher_quality distill-seeds --budget 120 --seeds 52,...,75 --arms random,mixed  # stage 68
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench.distill_local import stratified  # noqa: E402
from bench.series_table import series_detail_text  # noqa: E402
from distillgraph.agents import analyst as A  # noqa: E402
from distillgraph.agents.annotator import AnnotationJob, annotation_requests, collect  # noqa: E402
from distillgraph.agents.audit import wilson  # noqa: E402
from distillgraph.agents.budget import BudgetLedger  # noqa: E402
from distillgraph.agents.cache import AnswerCache  # noqa: E402
from distillgraph.agents.config import BudgetConfig, LocalTeacherConfig, TeacherConfig  # noqa: E402
from distillgraph.agents.generator import SynthJob, candidates_from_answers, synth_requests  # noqa: E402
from distillgraph.agents.records import Candidate  # noqa: E402
from distillgraph.agents.schemas import WeaknessReport  # noqa: E402
from distillgraph.agents.teacher import TeacherRequest, build_teacher  # noqa: E402
from distillgraph.graph.trace import decisions as decisions_of  # noqa: E402
from distillgraph.prompts import PromptLibrary  # noqa: E402
from distillgraph.store.datasets import load_bbc  # noqa: E402
from distillgraph.store.schema import BBCConfig, TaskConfig  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "teacher_quality.json"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bbc-topic.yaml"


def demo_task() -> TaskConfig:
    import yaml

    return TaskConfig(**yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))["task"])


def demo_split() -> tuple[TaskConfig, dict[str, Any]]:
    """The demo's task and its BBC split (examples/bbc-topic.yaml's sizes: 10 gold seeds)."""
    task = demo_task()
    return task, load_bbc(BBCConfig(pool_size=800, dev_size=100, test_size=300, seed_per_label=2), task)


def nearest_seed_jobs(examples: list[Any], seeds: list[Any], k: int = 3) -> list[AnnotationJob]:
    """Each example as a labelling job shown its k nearest gold seeds (all-MiniLM cosine) as demonstrations."""
    from distillgraph.store.embed import build_embedder
    from distillgraph.store.schema import StoreConfig

    emb = build_embedder(StoreConfig(), None)
    sv, ev = emb.encode([s.text for s in seeds]), emb.encode([e.text for e in examples])
    return [AnnotationJob(Candidate(id=e.id, cluster=0, source="pool", round=0), e.text,
                          [{"id": seeds[i].id, "text": seeds[i].text, "target": seeds[i].target}
                           for i in (sv @ v).argsort()[::-1][:k]])
            for e, v in zip(examples, ev, strict=True)]


def stored() -> dict[str, Any]:
    """teacher_quality.json as written so far ({} before the first section)."""
    return json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else {}


def merge(section: str, value: Any) -> None:
    data = stored()
    data[section] = value
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def server_cpu(teacher: Any) -> float:
    """CPU seconds the llama.cpp server process has used (a load-independent-ish cost; spinning threads inflate it)."""
    try:
        fields = Path(f"/proc/{teacher.server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, AttributeError, IndexError, ValueError):
        return float("nan")


def timed_label(teacher: Any, jobs: list[AnnotationJob], task: TaskConfig, prompts: PromptLibrary,
                gold: dict[str, str], per_item: bool = False) -> dict[str, Any]:
    """Accuracy and seconds per call, labelling one job at a time; `per_item` adds the ids labelled right."""
    times, cpu, correct, failed, right = [], [], 0, 0, []
    for job in jobs:  # one at a time: the per-call time is what a run sees (max_concurrency 1)
        reqs = annotation_requests([job], task=task, prompts=prompts, votes=1)
        t0, c0 = time.perf_counter(), server_cpu(teacher)
        res = teacher.ask_many(reqs)
        times.append(time.perf_counter() - t0)
        cpu.append(server_cpu(teacher) - c0)
        out = collect([job], res, task=task, votes=1, teacher_model="qwen")
        if out.accepted and out.accepted[0].target == gold[job.candidate.id]:
            correct += 1
            right.append(job.candidate.id)
        failed += not out.accepted
    return {"accuracy": round(correct / len(jobs), 4), "n": len(jobs), "failed": failed,
            "seconds_per_call": round(statistics.mean(times), 2), "seconds_median": round(statistics.median(times), 2),
            "server_cpu_seconds_per_call": round(statistics.mean(cpu), 2), "load_average_1m": round(os.getloadavg()[0], 2),
            **({"right": right} if per_item else {})}


def embedded(n: int, threads: int | None, parts: set[str], max_tokens: int, previous: dict[str, Any]) -> dict[str, Any]:
    """`parts`: label, analyse, synth; the entry of an earlier run is updated part by part."""
    task, data = demo_split()
    test = stratified(data["test"], n)
    seeds = data["seed"]
    gold = {e.id: e.target or "" for e in test}
    prompts = PromptLibrary()
    with_demos = nearest_seed_jobs(test, seeds)
    cfg = TeacherConfig(provider="local", max_tokens=max_tokens, temperature=0.0, max_concurrency=1, timeout=600,
                        demonstrations=3, local=LocalTeacherConfig(n_threads=threads))
    ledger = BudgetLedger(BudgetConfig(max_calls=100_000))
    out: dict[str, Any] = dict(previous)
    out.update({"model": "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (llama.cpp, teacher.provider local)",
                "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)"})
    with tempfile.TemporaryDirectory() as tmp, AnswerCache(Path(tmp) / "c.sqlite") as cache:
        t0 = time.perf_counter()
        teacher = build_teacher(cfg, ledger, cache, env={}, prompts=prompts, no_cache=True)
        out["startup_seconds"] = round(time.perf_counter() - t0, 2)
        try:
            if "label" in parts:
              out["n_test"] = n
              zero = timed_label(teacher, [AnnotationJob(j.candidate, j.text, []) for j in with_demos], task, prompts,
                                 gold)
              print("zero-shot", zero, flush=True)
              demo = timed_label(teacher, with_demos, task, prompts, gold)
              print("demos", demo, flush=True)
              out["test_accuracy_zero_shot"] = zero["accuracy"]
              out["test_accuracy_demos"] = demo["accuracy"]
              out["label_zero_shot"] = zero
              out["label_demos"] = demo
            if "analyse" in parts or "synth" in parts:
              # analysis: a student that confuses business/politics and tech/entertainment on 30 dev texts
              dev = stratified(data["dev"], 30, seed=1)
              swap = {"business": "politics", "tech": "entertainment"}
              pred = [swap.get(e.target or "", e.target) if i % 2 == 0 else e.target for i, e in enumerate(dev)]
              clusters = [sorted(task.labels).index(e.target or "") for e in dev]
              stats = A.error_stats([e.id for e in dev], [e.text for e in dev], [e.target or "" for e in dev], pred, clusters)
              names = {i: name for i, name in enumerate(sorted(task.labels))}
              tpl = prompts.get("analyst")
              msgs = tpl.render(task_type=task.type, instruction=task.instruction, labels=task.labels,
                                **A.weakness_request_vars(stats, "accuracy 0.800, macro_f1 0.790", names, 3))
            if "analyse" in parts:
              t0 = time.perf_counter()
              res = teacher.ask(TeacherRequest(node="analyst", messages=msgs, schema=WeaknessReport, prompt_name=tpl.name,
                                               prompt_hash=tpl.hash, sample_index=1, kind="analyse"))
              analyse_s = time.perf_counter() - t0
              weak = (A.weaknesses_from_report(res.parsed, {e.id for e in dev}, set(task.labels), set(names))
                      if res.ok and isinstance(res.parsed, WeaknessReport) else [])
              out["analyse"] = {"seconds": round(analyse_s, 2), "ok": res.ok, "weaknesses": len(weak),
                                "output_tokens": res.output_tokens, "max_tokens": max_tokens,
                                "load_average_1m": round(os.getloadavg()[0], 2)}
              print("analyse", out["analyse"], flush=True)
            if "synth" in parts:
              # synthesis: 2 calls of 4 samples for the 'business' cluster (hard + easy)
              biz = [s for s in seeds if s.target == "business"]
              job = SynthJob(cluster=0, cluster_name="business", n=8, weakness="confuses business with politics",
                             examples=[{"text": s.text, "target": s.target} for s in biz],
                             errors=[{"text": r["text"], "target": r["target"], "predicted": r["predicted"]}
                                     for r in stats.wrong if r["target"] == "business"][:3])
              pairs = synth_requests([job], task=task, prompts=prompts, per_call=4, easy_fraction=0.3, round_=1,
                                     temperature=cfg.synth_temperature)
              t0 = time.perf_counter()
              sres = teacher.ask_many([r for _, r in pairs])
              synth_s = (time.perf_counter() - t0) / len(pairs)
              cands, failed = candidates_from_answers(pairs, sres, 1, 4000)
              out["synth"] = {"seconds_per_call": round(synth_s, 2), "calls": len(pairs), "failed": failed,
                              "samples": len(cands), "example": cands[0].text[:200] if cands else None,
                              "max_tokens": max_tokens, "load_average_1m": round(os.getloadavg()[0], 2)}
              print("synth", out["synth"], flush=True)
        finally:
            teacher.close()
    out["seconds_per_call"] = {"label_zero_shot": out.get("label_zero_shot", {}).get("seconds_per_call"),
                               "label_demos": out.get("label_demos", {}).get("seconds_per_call"),
                               "analyse": out.get("analyse", {}).get("seconds"),
                               "synth": out.get("synth", {}).get("seconds_per_call")}
    return out


# ---------------------------------------------------------------- (a) distilling from the real embedded teacher

# The demo's config (examples/bbc-topic.yaml: Qwen teacher, MiniLM LoRA student), only the policy / synthesis changed.
DISTILL_ARMS = {"random": ["loop.policy=random"], "select_only": ['loop.synthesis="off"'],
                "synth_only": ['loop.synthesis="only"'], "mixed": []}
# (a)'s test seeds: every real-teacher run of the distill sections (0: the demo config; stages 59-60: 4-27, on the
# defaults before 2026-12-07; stage 67: 28-51, on loop.weak_synth_labels: rare; stage 68: 52-75, 120 calls)
A_TEST_SEEDS = tuple(range(76))
BEFORE_RARE = A_TEST_SEEDS[:28]  # the seeds whose `mixed` runs had every weak cluster writing (weak_synth_labels: any)
# the default with a writer check (policy_choice.md stage 64: what it does with the real writer, on tuning seeds)
CHECK_ARMS = {"writer_every": ["loop.writer_check=every"]}


def distill_run(budget: int, arm: str, tmp: Path, seed: int | None = None,
                teacher: tuple[str, ...] = ()) -> tuple[dict[str, Any], Any, Path]:
    """One run of the demo config at `budget` calls with the real teacher: final test metrics and what it spent.
    `seed`: run.seed = the BBC split seed = `seed` (None: the demo config's own, seed 0); `teacher`: overrides
    that put a simulated teacher in its place (SIM_TEACHERS)."""
    from bench.harness import code_version, run_graph
    from distillgraph.graph.config import load_config

    seeded = [] if seed is None else [f"run.seed={seed}", f"data.bbc.split_seed={seed}"]
    cfg = load_config(EXAMPLE, [f"budget.max_calls={budget}", *seeded, *{**DISTILL_ARMS, **CHECK_ARMS}[arm], *teacher])
    t0 = time.perf_counter()
    state, run_dir = run_graph(cfg, keep_dir=tmp)
    last = state["history"][-1]
    row = {"student_accuracy": round(last.test["accuracy"], 4), "student_macro_f1": round(last.test["macro_f1"], 4),
           "calls": state["ledger"]["spent"]["calls"], "train_size": last.train_size,
           "train_by_source": last.train_by_source, "rounds": len(state["history"]) - 1,
           "curve": [round(h.test.get("macro_f1", 0.0), 4) for h in state["history"]],
           "wall_seconds": round(time.perf_counter() - t0, 1), "load_average_1m": round(os.getloadavg()[0], 2),
           "code": code_version()["head"], "date": time.strftime("%Y-%m-%d")}  # which defaults the run had
    row.update(pool_label_accuracy(state["dataset"], cfg), generator=generator_totals(run_dir))
    if state.get("writer_check"):  # loop.writer_check: its last record, every check's figures, the dev it read
        row.update(writer_check=state["writer_check"], writer_checks=[
            {k: d.get(k) for k in ("round", "with", "without", "synthetic", "stopped")}
            for d in decisions_of(run_dir, "writer check")], dev_macro_f1=round(last.dev["macro_f1"], 4))
    annotator_calls = state["ledger"].get("nodes", {}).get("annotator", {}).get("paid", {}).get("calls")
    if annotator_calls:  # the teacher's labelling time per call as the run saw it (annotator node seconds / calls)
        row["teacher_seconds_per_label"] = round(node_seconds(run_dir).get("annotator", 0.0) / annotator_calls, 2)
    print(f"distill {budget} {arm}: {row}", flush=True)
    return row, cfg, Path(last.adapter)


def distill_seed_run(budget: int, arm: str, seed: int, teacher: tuple[str, ...] = ()) -> dict[str, Any]:
    """One run of the demo config at `budget` calls with the real teacher (or `teacher`'s overrides) on another
    seed (seed 0 is the demo config itself, the runs of the `distill` section)."""
    with tempfile.TemporaryDirectory() as tmp:
        return distill_run(budget, arm, Path(tmp), seed, teacher)[0]


def store_seed_runs(section: str, keys: list[str], arms: list[str], seeds: list[int],
                    run: Callable[[str, int], dict[str, Any]]) -> None:
    """Run `run(arm, seed)` for every seed and arm not yet stored under `section` / *keys / arm / seed, storing
    each finished run at once (an interrupted sweep resumes where it stopped)."""
    def entries(data: dict[str, Any]) -> dict[str, Any]:
        for key in keys:
            data = data.setdefault(key, {})
        return data

    for seed in seeds:
        for arm in arms:
            if str(seed) in entries(stored().get(section, {})).get(arm, {}):
                continue
            row = run(arm, seed)
            runs = stored().get(section, {})
            entries(runs).setdefault(arm, {})[str(seed)] = row
            merge(section, runs)


def writer_check_real(budget: int, seeds: list[int]) -> None:
    """The default with `loop.writer_check: every` and the real teacher on tuning seeds (policy_choice.md stage
    64, a diagnostic): each run stored at once under `writer_check_real` / budget / writer_every / seed."""
    if set(seeds) & set(A_TEST_SEEDS):
        raise SystemExit(f"seeds {sorted(set(seeds) & set(A_TEST_SEEDS))} are (a)'s test seeds")
    store_seed_runs("writer_check_real", [str(budget)], list(CHECK_ARMS), seeds,
                    lambda arm, seed: distill_seed_run(budget, arm, seed))


def distill_seeds(budget: int, arms: list[str], seeds: list[int]) -> None:
    """(a) on more seeds: each finished run is stored at once (`distill_seeds`), and a stored one is not run again."""
    store_seed_runs("distill_seeds", [str(budget)], arms, seeds, lambda arm, seed: distill_seed_run(budget, arm, seed))


# (a)'s setup with a simulated teacher in the real one's place (policy_choice.md stage 57): how much of the
# default's lead over random this setup has with a perfect teacher, and with one that errs as often as the real
# one does on random's picks (13.6% over seeds 1-9 at 120 calls), where the gold labels meet.
SIM_TEACHERS = {"oracle": ("teacher.provider=oracle",),
                "difficulty-13.6": ("teacher.provider=oracle", "teacher.simulation.noise=0.136",
                                    "teacher.simulation.noise_mode=difficulty")}


def distill_sim_run(budget: int, arm: str, seed: int, teacher: str) -> dict[str, Any]:
    """One run of distill-seeds' config with the simulated teacher `teacher` (a SIMULATION)."""
    return distill_seed_run(budget, arm, seed, SIM_TEACHERS[teacher])


def distill_sim(budget: int, arms: list[str], seeds: list[int], teacher: str) -> None:
    """(a)'s seeds with a simulated teacher: stored at once under `distill_sim` / teacher / budget / arm / seed,
    a stored run is not run again."""
    store_seed_runs("distill_sim", [teacher, str(budget)], arms, seeds,
                    lambda arm, seed: distill_sim_run(budget, arm, seed, teacher))


def sim_pairs_text(data: dict[str, Any]) -> list[str]:
    """Per simulated teacher and budget: the default (mixed) minus random over the seeds both ran, next to the
    real teacher's pair on the same seeds, and each teacher's accuracy on the arms' pool picks."""
    from bench.stats import compare

    def f1(rows: dict[str, Any]) -> dict[int, float]:
        return {int(s): r["student_macro_f1"] for s, r in rows.items()}

    def right(rows: dict[str, Any], seeds: list[int]) -> str:
        accs = [rows[str(s)]["teacher_pool_label_accuracy"] for s in seeds
                if str(s) in rows and rows[str(s)].get("teacher_pool_label_accuracy") is not None]
        return f"{100 * statistics.mean(accs):.1f}% ({len(accs)})" if accs else "-"

    if not data.get("distill_sim"):
        return []
    lines = []
    sims = {"real teacher": data.get("distill_seeds", {}), **{f"{t} (SIMULATION)": v
                                                            for t, v in data["distill_sim"].items()}}
    for name, by_budget in sims.items():
        for budget, arms in sorted(by_budget.items(), key=lambda kv: int(kv[0])):
            mixed, rand = arms.get("mixed", {}), arms.get("random", {})
            a, b = f1(mixed), f1(rand)
            seeds = sorted(set(a) & set(b))
            if not seeds:
                continue
            c = compare(a, b)
            lines.append(f"| {name} | {budget} | {', '.join(map(str, seeds))} | "
                         f"{statistics.mean(a[s] for s in seeds):.3f} | {statistics.mean(b[s] for s in seeds):.3f} | "
                         f"{100 * c['diff']:+.1f} [{100 * c['ci_low']:+.1f}, {100 * c['ci_high']:+.1f}] "
                         f"({c['verdict']}) | {c['wins']}/{c['n']} | {right(mixed, seeds)} | {right(rand, seeds)} |")
    if not lines:
        return []
    return ["The same setup with SIMULATED teachers in the real one's place (policy_choice.md stage 57; `oracle`: "
            "gold labels; `difficulty-13.6`: 13.6% of the labels wrong on average, where the gold labels meet, the "
            "real teacher's measured error on random's picks): the default (`mixed`) minus `random`, test macro-F1 "
            "points with a 95% bootstrap CI over seeds, wins, and how often the teacher's label of the arm's pool "
            "picks was right (mean over seeds, seeds counted). The real teacher's row is over the seeds of "
            "`distill_seeds` (seed 0 is not among them).", "",
            "| teacher | calls | seeds | mixed | random | mixed - random [95% CI] | wins | teacher right on mixed's "
            "picks | on random's |", "|---|---|---|---|---|---|---|---|---|", *lines, ""]


def writer_check_real_text(data: dict[str, Any]) -> list[str]:
    """Stage 64's look (policy_choice.md): per run of the default with `loop.writer_check: every` and the real
    teacher, each check's held-half dev macro-F1 with / without the synthetic texts so far, and where it stopped."""
    runs = data.get("writer_check_real", {})
    lines = [f"| {budget} | {seed} | {row['generator']['synthesized']} | "
             + "; ".join(f"round {c['round']}: {c['synthetic']} texts, {c['with']:.3f} / {c['without']:.3f}"
                         for c in row["writer_checks"])
             + f" | {'round ' + str(row['writer_check']['round']) if row['writer_check']['stopped'] else 'no'} |"
             for budget, arms in sorted(runs.items(), key=lambda kv: int(kv[0]))
             for seed, row in sorted(arms.get("writer_every", {}).items(), key=lambda kv: int(kv[0]))]
    if not lines:
        return []
    return ["The default with the every-round writer check (`loop.writer_check: every`) and the real teacher, on "
            "tuning seeds (policy_choice.md stage 64, a diagnostic: test scores are not read). Each check: the "
            "synthetic texts so far, held-half dev macro-F1 with / without them.", "",
            "| calls | seed | synthetic texts bought | checks | stopped |", "|---|---|---|---|---|", *lines, ""]


POWER_EFFECTS = (3, 5)  # points of macro-F1: the seeds it would take to detect a true difference this large

# Pre-registered series (policy_choice.md stages 59, 67, 68): stage -> (budget, its seeds in run order). Its row is read
# only over those seeds and says "interim, no verdict" until every one of them has both arms.
SERIES = {"stage 59": ("60", A_TEST_SEEDS[4:28]), "stage 67": ("60", A_TEST_SEEDS[28:52]),
          "stage 68": ("120", A_TEST_SEEDS[52:76])}


def seed_pairs(data: dict[str, Any], budget: str, arm: str, base: str = "random",
               only: tuple[int, ...] | None = None) -> dict[str, Any] | None:
    """`arm` - `base` per seed at `budget`: seed 0 from the `distill` section (the demo config), the others from
    `distill_seeds`; `only`: just those seeds; None when no seed has both."""
    from bench.stats import compare, seeds_needed

    def by_seed(name: str) -> dict[int, float]:
        rows = {int(s): r["student_macro_f1"] for s, r in data.get("distill_seeds", {}).get(budget, {}).get(name, {}).items()}
        zero = data.get("distill", {}).get(budget, {}).get(name)
        if zero is not None and 0 not in rows:
            rows[0] = zero["student_macro_f1"]
        return rows

    a, b = by_seed(arm), by_seed(base)
    seeds = sorted(set(a) & set(b) & set(a if only is None else only))
    if not seeds:
        return None
    a, b = {s: a[s] for s in seeds}, {s: b[s] for s in seeds}  # the row's seeds only, for compare() too
    diffs = [a[s] - b[s] for s in seeds]
    power = {}
    if len(diffs) >= 2:  # how far "no clear difference" is from a verdict (compare() gives the detectable difference)
        sd = float(statistics.stdev(diffs))
        power = {"sd": round(sd, 4), "seeds_for": {str(pts): seeds_needed(sd, pts / 100) for pts in POWER_EFFECTS}}
    return {"seeds": seeds, arm: [a[s] for s in seeds], base: [b[s] for s in seeds],
            **compare(a, b), **power}


def series_status(pair: dict[str, Any], seeds: tuple[int, ...]) -> str:
    """A pre-registered series' verdict: the CI's once every planned seed is in, before that no verdict."""
    return pair["verdict"] if pair["n"] == len(seeds) else f"interim, {pair['n']} of {len(seeds)} pairs: no verdict"


def seed_pairs_text(data: dict[str, Any]) -> list[str]:
    """The paired table of the default (mixed) against random over the seeds both ran, per budget."""
    rows = [(budget, pair) for budget in sorted(data.get("distill_seeds", {}), key=int)
            if (pair := seed_pairs(data, budget, "mixed", only=BEFORE_RARE))]  # one default per row
    rows += [(f"{budget} ({stage} series: seeds {seeds[0]}-{seeds[-1]})", {**pair, "verdict": series_status(pair, seeds)})
             for stage, (budget, seeds) in SERIES.items() if (pair := seed_pairs(data, budget, "mixed", only=seeds))]
    if not rows:
        return []
    effects = " / ".join(f"{pts}" for pts in POWER_EFFECTS)
    out = ["The default (`mixed`) against `random` on more seeds (real teacher; run.seed = BBC split seed; seed 0 is "
           "the row above; one run per seed and arm): test macro-F1 per seed, mean paired difference in points with "
           "a 95% bootstrap CI over seeds and wins. Power (paired t-test, two-sided 0.05, 80% power, taking the "
           "spread of the per-seed differences as the truth): the smallest true difference these seeds would detect, "
           f"and the seeds it would take to detect a true difference of {effects} points.", "",
           "| calls | seeds | mixed | random | mixed - random [95% CI] | wins | sd of the differences | detectable "
           f"| seeds for {effects} points | seed 0's code: mixed / random |",
           "|---|---|---|---|---|---|---:|---:|---|---|"]
    for budget, p in rows:
        zero = data.get("distill", {}).get(budget, {})
        code = " / ".join(zero.get(arm, {}).get("code", "not recorded (before 2026-12-02)")
                          for arm in ("mixed", "random")) if 0 in p["seeds"] else "- (seed 0 not in the row)"
        needed = " / ".join(str(p["seeds_for"][str(pts)]) for pts in POWER_EFFECTS) if "seeds_for" in p else "-"
        spread = f"{100 * p['sd']:.1f}" if "sd" in p else "-"
        detect = "-" if p.get("detectable") is None else f"{100 * p['detectable']:.1f}"
        out.append(f"| {budget} | {', '.join(map(str, p['seeds']))} | {' / '.join(f'{x:.3f}' for x in p['mixed'])} | "
                   f"{' / '.join(f'{x:.3f}' for x in p['random'])} | {100 * p['diff']:+.1f} "
                   f"[{100 * p['ci_low']:+.1f}, {100 * p['ci_high']:+.1f}] ({p['verdict']}) | {p['wins']}/{p['n']} | "
                   f"{spread} | {detect} | {needed} | {code} |")
    return [*out, ""]


# Pre-registered arm comparisons over a series' seeds (policy_choice.md stage 60): stage -> (budget, the arm, the
# arms it is paired with, its seeds). Read like SERIES: interim, with no verdict, until every seed has all arms.
ARM_SERIES = {"stage 60": ("60", "select_only", ("mixed", "random"), A_TEST_SEEDS[4:28])}


def arm_series_text(data: dict[str, Any]) -> list[str]:
    """Per ARM_SERIES entry with any run stored: the arm minus each of its bases over the seeds both ran, with the
    labels each bought and how often the teacher labelled their pool picks right."""
    def bought(rows: dict[str, Any], seeds: list[int]) -> str:
        by = [rows[str(s)].get("train_by_source", {}) for s in seeds]
        acc = [r["teacher_pool_label_accuracy"] for s in seeds if (r := rows[str(s)]).get("teacher_pool_label_accuracy")
               is not None]
        return (f"{statistics.mean(b.get('pool', 0) for b in by):.1f} / "
                f"{statistics.mean(b.get('synthetic', 0) for b in by):.1f} | "
                + (f"{100 * statistics.mean(acc):.1f}%" if acc else "-"))

    lines = []
    for stage, (budget, arm, bases, seeds) in ARM_SERIES.items():
        runs = data.get("distill_seeds", {}).get(budget, {})
        for base in bases:
            if not (p := seed_pairs(data, budget, arm, base, only=seeds)):
                continue
            lines.append(f"| {stage} | {budget} | {arm} - {base} | {seeds[0]}-{seeds[-1]} | "
                         f"{statistics.mean(p[arm]):.3f} | {statistics.mean(p[base]):.3f} | {100 * p['diff']:+.1f} "
                         f"[{100 * p['ci_low']:+.1f}, {100 * p['ci_high']:+.1f}] ({series_status(p, seeds)}) | {p['wins']}/{p['n']} | "
                         f"{bought(runs[arm], p['seeds'])} | {bought(runs[base], p['seeds'])} |")
    if not lines:
        return []
    return ["Pre-registered arm comparisons over a series' seeds (real teacher; policy_choice.md): the arm minus each "
            "base, test macro-F1 points with a 95% paired bootstrap CI over the seeds both ran, and wins; per arm the "
            "pool / synthetic labels bought (mean) and how often the teacher labelled its pool picks right.", "",
            "| stage | calls | arm - base | planned seeds | arm | base | difference [95% CI] | wins | arm: pool / "
            "synthetic | arm: teacher right | base: pool / synthetic | base: teacher right |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|", *lines, ""]


def pool_label_accuracy(dataset: list[Any], cfg: Any) -> dict[str, Any]:
    """How often the teacher's labels of the pool examples the run bought match gold (the BBC pool's gold is
    known): whether a policy's picks are the ones the teacher gets wrong."""
    from distillgraph.store.datasets import pool_gold

    gold = pool_gold(cfg.data.bbc, cfg.task)
    bought = [a for a in dataset if a.source == "pool" and a.id in gold]
    if not bought:
        return {}
    right = sum(a.target == gold[a.id] for a in bought)
    dropped = [a for a in bought if a.weight == 0]  # set aside by the label gate (teacher.gate.mode drop)
    return {"teacher_pool_label_accuracy": round(right / len(bought), 4), "pool_labels_checked": len(bought),
            "gate_dropped": len(dropped), "gate_dropped_wrong": sum(a.target != gold[a.id] for a in dropped)}


def pool_right(row: dict[str, Any]) -> str:
    """`right/n = share [Wilson 95% interval]` of the teacher's labels on the pool texts a run bought; '-' if none."""
    n, acc = row.get("pool_labels_checked"), row.get("teacher_pool_label_accuracy")
    if not n or acc is None:
        return "-"
    right = round(acc * n)
    low, high = wilson(right, n)
    gated = ""
    if row.get("gate_dropped") is not None:  # recorded from 2026-12-03 on
        gated = f"; gate dropped {row['gate_dropped']} ({row['gate_dropped_wrong']} wrong)"
    return f"{right}/{n} = {acc:.3f} [{low:.3f}, {high:.3f}]{gated}"


def speed(distill: dict[str, Any], student_s: float) -> dict[str, Any]:
    """The teacher's seconds per label (mean over the runs' annotator time per call) against the student's."""
    label_s = [row["teacher_seconds_per_label"] for by_arm in distill.values() for row in by_arm.values()
               if row.get("teacher_seconds_per_label")]
    if not label_s or not student_s:
        return {}
    teacher_s = statistics.mean(label_s)
    return {"teacher_seconds_per_label": round(teacher_s, 2), "student_seconds_per_example": student_s,
            "student_speedup": round(teacher_s / student_s, 1)}


def distill_sweep(budgets: list[int], arms: list[str], previous: dict[str, Any]) -> dict[str, Any]:
    """(a) The student distilled from the real teacher per budget and arm (one seed each: the demo's)."""
    from bench.harness import prediction_seconds

    out: dict[str, Any] = {k: dict(v) for k, v in previous.items()}
    per_example = None
    with tempfile.TemporaryDirectory() as tmp:
        for budget in budgets:
            for arm in arms:
                row, cfg, adapter = distill_run(budget, arm, Path(tmp))
                out.setdefault(str(budget), {})[arm] = row
                if per_example is None:
                    per_example = prediction_seconds(cfg, adapter)
    return {"distill": out, "student_seconds_per_example": round(per_example or 0.0, 5)}


# ---------------------------------------------------------------- (c) simulated label noise, gated or not


def sweep_config(budget: int, seed: int, extra: list[str]) -> Any:
    from bench.sample_efficiency import run_config

    return run_config("distillgraph", budget, seed, extra=extra, pins=[])  # today's defaults, not the 2026-11 pin


GATE_TUNING_SEEDS = [100, 101, 102]  # dev only; the published noise table uses other seeds
# Gate once when bought (regate_k 0: the two best of a first dev sweep over drop / weight x 0.3 / 0.5 / 0.7 / 0.9,
# which no other setting there beat by more than its seed spread), or re-gate every label against all labels each
# round (regate_k 5) with the neighbours' evidence at weight 2 or 4 (divided by the labels' shares).
# From 2026-12-02 also confident learning's out-of-fold evidence in the re-gate (w_model), beside the neighbours or
# instead of them.
GATE_GRID: list[dict[str, Any]] = [{"mode": "drop", "threshold": 0.5, "regate_k": 0, "w_neighbours": 1},
             {"mode": "weight", "threshold": 0.3, "regate_k": 0, "w_neighbours": 1},
             *({"mode": mode, "threshold": 0.5, "regate_k": 5, "w_neighbours": w}
               for mode in ("drop", "weight") for w in (2, 4)),
             *({"mode": mode, "threshold": 0.5, "regate_k": 5, "w_neighbours": w, "w_model": m}
               for mode in ("drop", "weight") for w, m in ((2, 1), (0, 2)))]


def gate_overrides(gate: dict[str, Any]) -> list[str]:
    return [f"teacher.gate.{k}={v}" for k, v in gate.items()]


def noise_run(rate: float, seed: int, budget: int, gate: dict[str, Any] | None) -> dict[str, Any]:
    """One probe run with the simulated noisy teacher (gate None: ungated)."""
    from bench.sample_efficiency import one_run

    extra = [f"teacher.simulation.noise={rate}", "teacher.self_consistency=1", *gate_overrides(gate or {})]
    r = one_run(sweep_config(budget, seed, extra))
    r.update(rate=rate, gated=gate is not None, gate=gate)
    shown = f"dev {r['dev_macro_f1']:.4f}" + ("" if seed in GATE_TUNING_SEEDS else f" test {r['macro_f1']:.4f}")
    print(f"noise {rate:.0%} {gate or 'ungated'} seed {seed}: {shown}", flush=True)
    return r


def gate_tuning(rates: list[float], seeds: list[int], budget: int) -> dict[str, Any]:
    """Pick the gate (mode x threshold) on DEV macro-F1 and tuning seeds: the setting with the largest mean dev
    gain over the ungated run, over the noise rates and seeds (test metrics are never read here)."""
    from bench.harness import quiet_logs

    quiet_logs()
    base = {(rate, seed): noise_run(rate, seed, budget, None)["dev_macro_f1"] for rate in rates for seed in seeds}
    table = []
    for gate in GATE_GRID:
        gains = [noise_run(rate, seed, budget, gate)["dev_macro_f1"] - base[rate, seed] for rate in rates for seed in seeds]
        table.append({"gate": gate, "dev_gain": round(sum(gains) / len(gains), 4),
                      "wins": sum(g > 0 for g in gains), "n": len(gains)})
    best = max(table, key=lambda row: row["dev_gain"])
    return {"chosen": best["gate"], "table": table, "rates": rates, "seeds": seeds, "budget_calls": budget,
            "metric": "final-round dev macro-F1, gated minus ungated (mean over rates x seeds)"}


def noise_sweep(rates: list[float], seeds: list[int], budget: int, gate: dict[str, Any]) -> dict[str, Any]:
    """Final test macro-F1 (embedding-probe student, oracle teacher with seeded label noise) per noise rate,
    gated (`gate`: teacher.gate settings) and ungated, at equal calls; the noise-free run is the reference."""
    from bench.harness import mean_std, quiet_logs
    from bench.stats import compare

    quiet_logs()
    runs = [noise_run(rate, seed, budget, g) for rate in rates for g in ((None,) if rate == 0 else (None, gate))
            for seed in seeds]

    def finals(rate: float, gated: bool) -> dict[int, float]:
        return {r["seed"]: r["macro_f1"] for r in runs if r["rate"] == rate and r["gated"] == gated}

    clean = mean_std(list(finals(0.0, False).values()))
    table: dict[str, Any] = {}
    for rate in rates:
        if rate == 0:
            continue
        un, ga = mean_std(list(finals(rate, False).values())), mean_std(list(finals(rate, True).values()))
        cost = clean["mean"] - un["mean"]
        paired = compare(finals(rate, True), finals(rate, False))
        table[str(rate)] = {"gated": ga["mean"], "ungated": un["mean"], "gated_std": ga["std"],
                            "ungated_std": un["std"],
                            "recovered": round((ga["mean"] - un["mean"]) / cost, 3) if cost > 0 else None,
                            "paired": {k: paired[k] for k in ("diff", "ci_low", "ci_high", "wins", "n")}}
    return {"noise": table, "noise_free": clean["mean"], "noise_setup": {
        "budget_calls": budget, "seeds": seeds, "student": "embedding-probe", "gate": gate,
        "teacher": "simulated (oracle + seeded uniform label noise, one draw per example)"},
        "noise_runs": runs}


# ---------------------------------------------------------------- (b) reserve-writer synthesis on the long tail

SYNTH_TEST_SEEDS = list(range(20))  # (b)'s published seeds: never used to choose anything
SYNTH_ARMS = {"random": ("random", 'loop.synthesis="off"'), "select_only": ("distillgraph", 'loop.synthesis="off"'),
              "select_synth": ("distillgraph", 'loop.synthesis="auto"')}
# a long tail whose smallest topics hold fewer pool texts than their quota: 300 texts at 20:1
TAIL = ["data.bbc.pool_size=300", "data.bbc.imbalance=20", "data.bbc.reserve_per_label=40",
        "teacher.simulation.writer=reserve"]


def synthesis_config(budget: int, seed: int, arm: str, extra: tuple[str, ...] = ()) -> Any:
    """The run config of one (b) point: the tail split and the arm's policy and synthesis, today's defaults (not
    bench/sample_efficiency.py's error boost 30 pin), then `extra` overrides."""
    from bench.sample_efficiency import run_config

    policy, synth = SYNTH_ARMS[arm]
    return run_config(policy, budget, seed, extra=[*TAIL, synth, f"run.name={arm}-{budget}-s{seed}", *extra], pins=[])


# dev-only variants of (b) for choosing how synthesis is steered: NAME -> (arm, overrides). Stage 26.
SYNTH_DEV_VARIANTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "select_only": ("select_only", ()),
    "labelled": ("select_synth", ("loop.hard_anchor=labelled", "loop.missed_labels=false")),
    "labelled_missed": ("select_synth", ("loop.hard_anchor=labelled", "loop.missed_labels=true")),
    "dev_anchor": ("select_synth", ("loop.hard_anchor=dev", "loop.missed_labels=false")),  # inflated on dev
    "dev_half_missed": ("select_synth", ("loop.hard_anchor=dev_half", "loop.missed_labels=true")),  # stage 27
    "dev_half_weak50": ("select_synth", ("loop.hard_anchor=dev_half", "loop.missed_labels=true",
                                         "loop.weak_synth_share=0.5")),  # stage 28
    # stage 61: the writer check (loop.writer_check), with the reserve writer and with one that mislabels half
    "writer_check": ("select_synth", ("loop.writer_check=true",)),
    "bad_writer": ("select_synth", ("teacher.simulation.writer_mislabel=0.5",)),
    "bad_writer_check": ("select_synth", ("teacher.simulation.writer_mislabel=0.5", "loop.writer_check=true")),
    # stage 62: the check in every round, on all synthetic texts so far, leaving them out of training once stopped
    "writer_every": ("select_synth", ("loop.writer_check=every",)),
    "bad_writer_every": ("select_synth", ("teacher.simulation.writer_mislabel=0.5", "loop.writer_check=every")),
    # stage 63: every round, against as many calls of pool labels
    "writer_per_call": ("select_synth", ("loop.writer_check=per_call",)),
    "bad_writer_per_call": ("select_synth", ("teacher.simulation.writer_mislabel=0.5", "loop.writer_check=per_call")),
    # stage 65: synthesis only where a cluster's pool cannot cover its quota (weak head clusters write nothing)
    "tail_only": ("select_synth", ("loop.weak_synth_share=0",)),
    "bad_writer_tail_only": ("select_synth", ("teacher.simulation.writer_mislabel=0.5", "loop.weak_synth_share=0")),
    # stage 66: weak clusters write only for labels the labelled set is short of; and the split made balanced
    "rare_labels_writer": ("select_synth", ("loop.weak_synth_labels=rare",)),
    "bad_writer_rare": ("select_synth", ("teacher.simulation.writer_mislabel=0.5", "loop.weak_synth_labels=rare")),
    "balanced_select_only": ("select_only", ("data.bbc.imbalance=1",)),
    "balanced_default": ("select_synth", ("data.bbc.imbalance=1",)),
    "balanced_rare": ("select_synth", ("data.bbc.imbalance=1", "loop.weak_synth_labels=rare")),
}
DEV_METRICS = ("dev_macro_f1", "dev_worst_cluster", "held_macro_f1", "held_worst_cluster")


def synthesis_dev_point(point: tuple[int, int, str]) -> dict[str, Any]:
    """One dev-only run of (b)'s split: (budget, tuning seed, variant) -> its final dev metrics (a worker)."""
    from bench.harness import quiet_logs

    quiet_logs()
    budget, seed, name = point
    arm, extra = SYNTH_DEV_VARIANTS[name]
    cfg = synthesis_config(budget, seed, arm, extra)
    state = final_state(cfg)
    last = state["history"][-1]
    print(f"dev budget {budget} {name} seed {seed}: dev macro_f1 {last.dev['macro_f1']:.4f}", flush=True)
    check = state.get("writer_check") or {}
    return {"budget": budget, "seed": seed, "variant": name, "dev_macro_f1": last.dev["macro_f1"],
            "dev_worst_cluster": last.dev.get("worst_cluster") or 0.0,
            **held_dev_metrics(state, cfg.task.label_names),
            "synthetic": sum(1 for a in state.get("dataset", []) if a.source == "synthetic"),
            **({"writer_check": {**{k: check.get(k) for k in ("round", "with", "without", "stopped")},
                                 "checked": check.get("checked", [check.get("round")]),
                                 **{k: check[k] for k in ("calls", "pool", "without_pool") if k in check},
                                 "last_round": len(state["history"]) - 1}} if check else {})}


def synthesis_dev_sweep(budgets: list[int], seeds: list[int], variants: list[str], workers: int = 2,
                        reuse: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Dev metrics only (nothing of test is kept) of each variant on (b)'s split, on tuning seeds: per budget the
    mean, and each variant minus select-only paired by seed. `reuse`: runs of an earlier sweep (the same code for
    those variants) taken instead of running their points again. Refuses (b)'s test seeds."""
    from bench.harness import mean_std
    from bench.stats import compare

    if set(seeds) & set(SYNTH_TEST_SEEDS):
        raise SystemExit(f"seeds {sorted(set(seeds) & set(SYNTH_TEST_SEEDS))} are (b)'s test seeds")
    points = [(b, s, v) for b in budgets for s in seeds for v in variants]
    kept = {(r["budget"], r["seed"], r["variant"]): r for r in reuse or []}
    rows = [kept[p] for p in points if p in kept]
    rows += map_points(synthesis_dev_point, [p for p in points if p not in kept], workers)
    out: dict[str, Any] = {"seeds": seeds, "variants": {v: list(SYNTH_DEV_VARIANTS[v][1]) for v in variants},
                           "runs": rows, "by_budget": {}}
    for b in budgets:
        by = {v: {r["seed"]: r for r in rows if r["budget"] == b and r["variant"] == v} for v in variants}
        entry: dict[str, Any] = {}
        for v in variants:
            entry[v] = {m: mean_std([r[m] for r in by[v].values()]) for m in DEV_METRICS}
            for base in ("select_only", "dev_half_missed"):  # selection alone; today's default (stage 61 on)
                if v != base and base in by:
                    entry[v][f"vs_{base}"] = {m: compare({s: r[m] for s, r in by[v].items()},
                                                         {s: r[m] for s, r in by[base].items()})
                                              for m in DEV_METRICS}
            checked = [r["writer_check"] for r in by[v].values() if r.get("writer_check")]
            if checked:  # loop.writer_check: how often it stopped synthesis (and before the last round: in time to
                # change what later rounds buy), of the runs it checked
                entry[v]["writer_check"] = {"checked": len(checked), "stopped": sum(bool(c["stopped"]) for c in checked),
                                            "stopped_before_last": sum(bool(c["stopped"]) and c["round"] < c.get(
                                                "last_round", c["round"] + 1) for c in checked),
                                            "runs": len(by[v])}
        out["by_budget"][str(b)] = entry
    return out


def synthesis_table(rows: list[dict[str, Any]], budgets: list[int]) -> dict[str, Any]:
    """(b)'s table from its runs (`synthesis_point` rows): per budget each arm's mean / std of the final test
    macro-F1 and worst-cluster accuracy, select+synth minus select-only paired by seed, and the per-seed values."""
    from bench.harness import mean_std
    from bench.stats import compare

    out: dict[str, Any] = {}
    for budget in budgets:
        finals: dict[str, dict[int, dict[str, float]]] = {arm: {} for arm in SYNTH_ARMS}
        for r in rows:
            if r["budget"] == budget:
                finals[r["arm"]][r["seed"]] = {"macro_f1": r["macro_f1"], "worst_cluster_acc": r["worst_cluster_acc"]}
        entry: dict[str, Any] = {arm: {m: mean_std([v[m] for v in finals[arm].values()])
                                       for m in ("macro_f1", "worst_cluster_acc")} for arm in SYNTH_ARMS}
        f1 = compare({s: v["macro_f1"] for s, v in finals["select_synth"].items()},
                     {s: v["macro_f1"] for s, v in finals["select_only"].items()})
        worst = compare({s: v["worst_cluster_acc"] for s, v in finals["select_synth"].items()},
                        {s: v["worst_cluster_acc"] for s, v in finals["select_only"].items()})
        entry["paired"] = {"diff_macro_f1": f1["diff"], "ci_low": f1["ci_low"], "ci_high": f1["ci_high"],
                           "diff_worst_cluster": worst["diff"], "worst_ci": [worst["ci_low"], worst["ci_high"]],
                           "n_seeds": f1["n"], "p_wilcoxon": f1["p_wilcoxon"], "wins": f1["wins"],
                           "worst_wins": worst["wins"]}
        entry["per_seed"] = {arm: {str(s): v for s, v in sorted(by.items())} for arm, by in finals.items()}
        out[str(budget)] = entry
    return out


def map_points(fn: Any, points: list[tuple[int, int, str]], workers: int) -> list[dict[str, Any]]:
    """`fn` over `points` (one graph run each), `workers` runs at a time in spawned processes (1: in this one)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    if workers <= 1:
        return [fn(p) for p in points]
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(fn, points))


def synthesis_rows(budgets: list[int], seeds: list[int], arms: tuple[str, ...] = tuple(SYNTH_ARMS),
                   workers: int = 2) -> list[dict[str, Any]]:
    """One `synthesis_point` row per (budget, seed, arm), `workers` runs at a time (1: in this process)."""
    return map_points(synthesis_point, [(b, s, arm) for b in budgets for s in seeds for arm in arms], workers)


def synthesis_sweep(budgets: list[int], seeds: list[int], workers: int = 2) -> dict[str, Any]:
    """Random vs select-only vs select + reserve-writer synthesis at equal calls (oracle labels, probe student)."""
    return synthesis_table(synthesis_rows(budgets, seeds, workers=workers), budgets)


# the issue's goal for (b): select+synth minus select-only, in macro-F1 and in worst-cluster accuracy (fractions)
SYNTH_GOAL = {"macro_f1": 0.03, "worst_cluster_acc": 0.10}


# ---------------------------------------------------------------- (b)'s gain on dev against its gain on test

GAP_METRICS = (("macro_f1", "dev_macro_f1", "macro_f1"), ("worst_cluster", "dev_worst_cluster", "worst_cluster_acc"))


def final_state(cfg: Any) -> dict[str, Any]:
    """The final graph state of one run."""
    from bench.sample_efficiency import run_graph

    return run_graph(cfg)[0]


def final_round(cfg: Any) -> Any:
    """The last round's metrics (RoundMetrics) of one graph run."""
    return final_state(cfg)["history"][-1]


def held_dev_metrics(state: dict[str, Any], labels: list[str]) -> dict[str, float]:
    """Macro-F1 and worst-cluster accuracy of the final dev predictions on the half of dev that a `dev_half`
    writer is never shown (`node_tools.shown_dev`); the same half whatever the variant, so comparable."""
    from distillgraph.graph.node_tools import shown_dev
    from distillgraph.trainer.evaluate import classification_metrics

    held = [r for r in state["dev_predictions"] if not shown_dev(r["id"])]
    m = classification_metrics([r["gold"] for r in held], [r["pred"] for r in held], labels,
                               [r["cluster"] for r in held])
    return {"held_macro_f1": round(m["macro_f1"], 4), "held_worst_cluster": round(m["worst_cluster_score"] or 0.0, 4),
            "held_n": len(held)}


def synthesis_point(point: tuple[int, int, str]) -> dict[str, Any]:
    """One run of (b)'s split and arm at (budget, seed, arm): its final-round dev and test metrics (a worker)."""
    from bench.harness import quiet_logs

    quiet_logs()
    budget, seed, arm = point
    last = final_round(synthesis_config(budget, seed, arm))
    print(f"budget {budget} {arm} seed {seed}: test macro_f1 {last.test['macro_f1']:.4f}", flush=True)
    return {"budget": budget, "seed": seed, "arm": arm, "dev_macro_f1": last.dev["macro_f1"],
            "dev_worst_cluster": last.dev.get("worst_cluster") or 0.0, "macro_f1": last.test["macro_f1"],
            "worst_cluster_acc": last.test.get("worst_cluster") or 0.0}


def dev_test_gap(rows: list[dict[str, Any]], budget: int) -> dict[str, Any]:
    """Per metric at `budget`: select+synth minus select-only on dev and on test, and the dev gain minus the test
    gain, each paired by seed (bench.stats.compare: points as fractions, bootstrap CI, wins)."""
    from bench.stats import compare

    by = {(r["seed"], r["arm"]): r for r in rows if r["budget"] == budget}
    seeds = sorted(s for s, arm in by if arm == "select_only" and (s, "select_synth") in by)
    out: dict[str, Any] = {}
    for name, dev_key, test_key in GAP_METRICS:
        gain = {where: {s: by[s, "select_synth"][key] - by[s, "select_only"][key] for s in seeds}
                for where, key in (("dev", dev_key), ("test", test_key))}
        out[name] = {"dev_gain": compare(gain["dev"], dict.fromkeys(seeds, 0.0)),
                     "test_gain": compare(gain["test"], dict.fromkeys(seeds, 0.0)),
                     "dev_minus_test": compare(gain["dev"], gain["test"])}
    return out


def synthesis_dev_gap(budgets: list[int], seeds: list[int], workers: int = 2,
                      rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """(b)'s select-only and select+synth runs keeping dev as well as test (`rows`: runs already made, e.g. by the
    synthesis section). With `loop.hard_anchor: dev` (until 2026-12-05) the simulated writer's hard samples were the
    reserve texts nearest the student's misclassified *dev* texts (what the prompt showed a real teacher), so a gain
    measured on dev overstated the gain on unseen data; today's default shows the writer only half of dev and a
    synthesising run reports dev on the other half (`dev_half`). Nothing is chosen on this."""
    rows = [r for r in rows or synthesis_rows(budgets, seeds, ("select_only", "select_synth"), workers)
            if r["arm"] in ("select_only", "select_synth")]
    return {"seeds": seeds, "split": TAIL, "teacher": "simulated (oracle labels; writer: held-out reserve texts)",
            "student": "embedding-probe", "hard_anchor": todays_steering()["hard_anchor"], "runs": rows,
            "by_budget": {str(b): dev_test_gap(rows, b) for b in budgets}}


def synthesis_dev_gap_text(data: dict[str, Any]) -> list[str]:
    gap = data.get("synthesis_dev_gap")
    if not gap:
        return []
    anchor = gap.get("hard_anchor", "dev")
    how = {"dev": "The hard samples were written near the student's misclassified dev texts (`loop.hard_anchor: "
                  "dev`), as the generator prompt showed them to a real teacher, so the dev set stopped being unseen "
                  "data for a run that synthesises.",
           "labelled": "The hard samples are written near the student's errors on its new teacher labels "
                       "(`loop.hard_anchor: labelled`); no dev text is shown to the writer.",
           "dev_half": "The writer is shown the student's misclassified texts of a fixed half of dev "
                       "(`loop.hard_anchor: dev_half`), and a run that synthesises reports dev on the other half; "
                       "select-only runs report all of dev."}.get(anchor, "")
    out = [f"Synthesis's gain on a run's own dev figures against its gain on test (SIMULATION, the same runs; seeds "
           f"{', '.join(map(str, gap['seeds']))}; `python -m bench.teacher_quality synthesis`). {how} Points, paired "
           "bootstrap 95% CI, wins:", "",
           "| calls | metric | gain on dev | gain on test | dev minus test |", "|---|---|---|---|---|"]

    def cell(c: dict[str, Any]) -> str:
        return f"{100 * c['diff']:+.1f} [{100 * c['ci_low']:+.1f}, {100 * c['ci_high']:+.1f}] {c['wins']}/{c['n']}"

    for budget, row in sorted(gap["by_budget"].items(), key=lambda kv: int(kv[0])):
        out += [f"| {budget} | {m} | {cell(row[m]['dev_gain'])} | {cell(row[m]['test_gain'])} | "
                f"{cell(row[m]['dev_minus_test'])} |" for m, _, _ in GAP_METRICS]
    return [*out, ""]


def todays_steering() -> dict[str, Any]:
    """How today's defaults steer the writer (`loop.hard_anchor`, `loop.missed_labels`), as (b)'s setup records it."""
    from distillgraph.graph.config import LoopConfig

    loop = LoopConfig()
    return {"hard_anchor": loop.hard_anchor, "missed_labels": loop.missed_labels,
            "weak_synth_labels": loop.weak_synth_labels}


def steering(setup: dict[str, Any]) -> str:
    """How (b)'s synthesis was steered, from its setup (entries before the settings existed: dev anchoring,
    no missed labels; every weak cluster writing, `weak_synth_labels: any`, unnamed)."""
    return (f"hard_anchor={setup.get('hard_anchor', 'dev')}, "
            f"missed_labels={str(bool(setup.get('missed_labels', False))).lower()}"
            + (f", weak_synth_labels={setup['weak_synth_labels']}" if "weak_synth_labels" in setup else ""))


def anchor_comparison(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Per earlier steering of synthesis (`synthesis_earlier`), budget and metric: select+synth's test value today
    minus with that steering, paired over the seeds both have; and each one's dev-minus-test gap."""
    from bench.stats import compare

    now = data.get("synthesis")
    if not now:
        return []
    out = []
    for against, prev in sorted(data.get("synthesis_earlier", {}).items()):
        for budget in sorted(set(now) & set(prev["synthesis"]), key=int):
            a, b = now[budget]["per_seed"]["select_synth"], prev["synthesis"][budget]["per_seed"]["select_synth"]
            seeds = sorted(set(a) & set(b), key=int)
            gaps = [((g or {}).get("by_budget") or {}).get(budget, {}) for g in (data.get("synthesis_dev_gap"),
                                                                                 prev.get("synthesis_dev_gap"))]
            for metric, gap_key in (("macro_f1", "macro_f1"), ("worst_cluster_acc", "worst_cluster")):
                diff = compare({s: a[s][metric] for s in seeds}, {s: b[s][metric] for s in seeds})
                out.append({"against": against, "budget": int(budget), "metric": metric,
                            "now": now[budget]["select_synth"][metric]["mean"],
                            "previous": prev["synthesis"][budget]["select_synth"][metric]["mean"], "diff": diff,
                            "gap_now": gaps[0].get(gap_key, {}).get("dev_minus_test"),
                            "gap_previous": gaps[1].get(gap_key, {}).get("dev_minus_test")})
    return out


def anchor_text(data: dict[str, Any]) -> list[str]:
    rows = anchor_comparison(data)
    if not rows:
        return []

    def cell(c: dict[str, Any] | None) -> str:
        return "-" if not c else (f"{100 * c['diff']:+.1f} [{100 * c['ci_low']:+.1f}, {100 * c['ci_high']:+.1f}] "
                                  f"{c['wins']}/{c['n']}")

    out = [f"How the writer is steered (SIMULATION, the same seeds): today (`{steering(data.get('synthesis_setup', {}))}`)"
           " against earlier settings. Select+synth's mean test value with each, today's minus the earlier one "
           "paired by seed (points, bootstrap 95% CI, wins), and each one's dev-minus-test gap of synthesis's gain:",
           "", "| calls | metric | earlier setting | today | earlier | today minus earlier | dev minus test, today | "
           "dev minus test, earlier |", "|---|---|---|---|---|---|---|---|"]
    out += [f"| {r['budget']} | {r['metric']} | `{r['against']}` | {r['now']:.4f} | {r['previous']:.4f} | "
            f"{cell(r['diff'])} | {cell(r['gap_now'])} | {cell(r['gap_previous'])} |" for r in rows]
    return [*out, ""]


def synthesis_ceiling(seeds: list[int]) -> dict[str, Any]:
    """What the probe reaches on (b)'s tail split with gold labels on the whole pool, and on the whole pool plus
    every reserve text (all the writer could ever serve): no run of (b) can train on more than the second."""
    from bench.harness import mean_std, quiet_logs
    from bench.sample_efficiency import run_config, upper_bound

    quiet_logs()
    per_seed: dict[str, dict[str, dict[str, float]]] = {}
    for seed in seeds:
        cfg = run_config("distillgraph", 80, seed, extra=TAIL, pins=[])  # the split and store of (b)'s runs
        per_seed[str(seed)] = {name: {m: round(v, 4) for m, v in upper_bound(seed, cfg, with_reserve=reserve).items()
                                      if m in SYNTH_GOAL}
                               for name, reserve in (("pool", False), ("pool_reserve", True))}
        print(f"seed {seed}: {per_seed[str(seed)]}", flush=True)
    return {"seeds": seeds, "per_seed": per_seed, **{
        name: {m: mean_std([row[name][m] for row in per_seed.values()]) for m in SYNTH_GOAL}
        for name in ("pool", "pool_reserve")}}


def synthesis_reach(synthesis: dict[str, Any], ceiling: dict[str, Any]) -> list[dict[str, Any]]:
    """Per budget and metric: the mean select+synth needs for the goal (select-only's mean + the goal) against the
    ceiling (the probe on the whole pool plus every reserve text, gold labels, the same seeds' mean)."""
    rows = []
    for budget, row in sorted(synthesis.items(), key=lambda kv: int(kv[0])):
        for metric, gain in SYNTH_GOAL.items():
            base = row["select_only"][metric]["mean"]
            top = ceiling["pool_reserve"][metric]["mean"]
            rows.append({"budget": int(budget), "metric": metric, "select_only": base,
                         "needed": round(base + gain, 4), "ceiling": top, "reachable": base + gain <= top})
    return rows


def synthesis_reach_text(data: dict[str, Any]) -> list[str]:
    ceiling = data.get("synthesis_ceiling")
    if not ceiling or not data.get("synthesis"):
        return []
    table_seeds = data.get("synthesis_setup", {}).get("seeds")
    same = table_seeds is not None and sorted(map(int, ceiling["seeds"])) == sorted(map(int, table_seeds))
    whose = ", the table's" if same else ", not known to be the table's"
    out = [f"The goal against the probe's ceiling on this split (gold labels on the whole pool plus every reserve "
           f"text, {len(ceiling['seeds'])} split seeds {', '.join(map(str, ceiling['seeds']))}"
           f"{whose}; the whole pool alone: macro-F1 "
           f"{ceiling['pool']['macro_f1']['mean']:.4f}, worst cluster {ceiling['pool']['worst_cluster_acc']['mean']:.4f}):",
           "", "| budget | metric | select-only | goal needs select+synth at | ceiling | reachable |",
           "|---|---|---|---|---|---|"]
    out += [f"| {r['budget']} | {r['metric']} | {r['select_only']:.4f} | {r['needed']:.4f} | {r['ceiling']:.4f} | "
            f"{'yes' if r['reachable'] else '**no**'} |" for r in synthesis_reach(data["synthesis"], ceiling)]
    out += ["", "The ceiling is not a strict bound (a probe fitted on a subset can score higher by chance), but where "
            "it says no, select+synth would have to beat, on average over the seeds, the probe fitted on every text "
            "a run of this split could ever label."]
    return [*out, ""]


def node_seconds(run_dir: Path) -> dict[str, float]:
    """Seconds per node kind over a run, from its trace (where a demo's time goes)."""
    total: dict[str, float] = {}
    for line in (run_dir / "trace.jsonl").read_text(encoding="utf-8").splitlines():
        step = json.loads(line)
        total[step["node"]] = round(total.get(step["node"], 0.0) + float(step.get("seconds") or 0.0), 1)
    return total


def annotator_prompt(run_dir: Path) -> str:
    """Which annotator template a run used: `vN` when its prompt hash is today's packaged template's, else
    `earlier` (rows measured before a template change stay comparable only with their own kind)."""
    tpl = PromptLibrary().get("annotator")
    for line in (run_dir / "trace.jsonl").read_text(encoding="utf-8").splitlines():
        for e in json.loads(line).get("events", []):
            if e.get("kind") == "teacher" and e.get("prompt") == "annotator":
                return f"v{tpl.version}" if e.get("prompt_hash") == tpl.hash else "earlier"
    return "-"


def timed_example(example: str, overrides: list[str] | None = None) -> tuple[Path, dict[str, Any]]:
    """Run `distillgraph run EXAMPLE` as a user would (a fresh process, the shipped config, `--set` overrides if
    given) and time it."""
    import re
    import subprocess
    import sys

    before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "distillgraph.graph.cli", "run", example,
                           *[arg for o in overrides or [] for arg in ("--set", o)]],
                          capture_output=True, text=True, cwd=EXAMPLE.parents[1])  # fmt: skip
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{example} failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    found = re.search(r"in (runs/\S+)", proc.stdout + proc.stderr)
    if not found:
        raise SystemExit(f"{example}: no run directory in its output")
    return EXAMPLE.parents[1] / found.group(1), {
        "wall_seconds": round(wall, 1), "load_average_1m_before": round(before, 2),
        "load_average_1m_after": round(os.getloadavg()[0], 2), "cores": os.cpu_count()}


def run_entry(run_dir: Path, timing: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A finished run's report/metrics.json and the fields every example entry has."""
    m = json.loads((run_dir / "report" / "metrics.json").read_text(encoding="utf-8"))
    return m, {"stop_reason": m.get("stop_reason"), "run": run_dir.name, "node_seconds": node_seconds(run_dir),
               "generator": generator_totals(run_dir), **({"timing": timing} if timing else {})}


GENERATOR_COUNTS = ("selected", "synthesized", "synth_calls_failed", "near_duplicates", "synthesis_short",
                    "synthesis_short_filled_from_pool")


def generator_totals(run_dir: Path) -> dict[str, int]:
    """The generator's counts summed over a run's rounds (trace summaries; a count older runs lack is absent)."""
    from distillgraph.graph.trace import read_trace

    total: dict[str, int] = {}
    for step in read_trace(run_dir):
        summary = step.get("summary") or {}
        if step["node"] == "generator":
            for key in GENERATOR_COUNTS:
                if key in summary:
                    total[key] = total.get(key, 0) + int(summary[key])
    return total


def demo_entry(run_dir: Path, timing: dict[str, Any] | None = None) -> dict[str, Any]:
    """The result-shape `demo` entry from a finished `distillgraph run examples/bbc-topic.yaml` (its metrics.json)."""
    m, common = run_entry(run_dir, timing)
    rounds, audit = m["rounds"], m.get("teacher_audit") or {}
    best = m.get("best_round") or {}  # what `distillgraph export` ships: the round with the best dev score
    return {"round0_test_macro_f1": rounds[0]["test"].get("macro_f1"), "final_test_macro_f1": rounds[-1]["test"].get(
        "macro_f1"), "teacher_audit_accuracy": audit.get("accuracy"), "teacher_audit": audit.get("line"),
        "best_dev_round": best.get("round"), "best_dev_round_test_macro_f1": (best.get("test") or {}).get("macro_f1"),
        "curve": [{"round": r["round"], "train": r["train_size"], "calls": r["budget_spent"].get("calls"),
                   "dev_macro_f1": r["dev"].get("macro_f1"), "test_macro_f1": r["test"].get("macro_f1")} for r in rounds],
        "annotator_prompt": annotator_prompt(run_dir), **common}


def demo_repeat(seed: int) -> dict[str, Any]:
    """The demo's config with another seed: run.seed and the BBC split (pool, dev, test, gold seeds) follow it."""
    run_dir, timing = timed_example("examples/bbc-topic.yaml",
                                    [f"run.seed={seed}", f"data.bbc.split_seed={seed}", f"run.name=demo-seed{seed}"])
    entry = demo_entry(run_dir, timing)
    gain = entry["final_test_macro_f1"] - entry["round0_test_macro_f1"]
    print(f"demo seed {seed}: round 0 {entry['round0_test_macro_f1']:.4f} -> final {entry['final_test_macro_f1']:.4f} "
          f"({gain * 100:+.1f} points), teacher audit {entry['teacher_audit_accuracy']}", flush=True)
    return {"seed": seed, **entry}


def exported(entry: dict[str, Any]) -> str:
    """The student `distillgraph export` ships (the best dev round) as `round N, 0.xxxx`; `-` if not recorded."""
    if entry.get("best_dev_round") is None:
        return "-"
    return f"round {entry['best_dev_round']}, {fmt(entry.get('best_dev_round_test_macro_f1'), 4)}"


def gate_check(ungated: Path, gated: Path) -> dict[str, Any]:
    """The demo's config run twice, without and with label gating (teacher.gate; the gate and the seed are read
    from the runs' resolved configs), the gated one reusing the ungated one's paid answers where it bought the
    same items: the dev curves decide, test is reported."""
    from distillgraph.graph.config import load_yaml
    from distillgraph.graph.runner import RESOLVED

    off, on = (load_yaml((run / RESOLVED).read_text(encoding="utf-8")) for run in (ungated, gated))
    gate_off, gate_on = (cfg["teacher"]["gate"] for cfg in (off, on))
    return {"seed": on["run"]["seed"], "ungated": demo_entry(ungated)["curve"], "gated": demo_entry(gated)["curve"],
            "gate": {k: v for k, v in gate_on.items() if gate_off.get(k) != v},
            "decided_on": "final dev macro-F1 (test was visible in the same files; dev and test agreed)"}


def gate_check_text(check: dict[str, Any]) -> list[str]:
    """The demo with and without gating, round by round (dev decides; one seed, so no verdict beyond it)."""
    gate = ", ".join(f"{k} {v}" for k, v in check["gate"].items())
    out = [f"Label gating on the demo (seed {check['seed']}, one run each; the gate ({gate}) was chosen on dev "
           f"of the noise simulation, adopted in examples/bbc-topic.yaml on {check['decided_on']}):", "",
           "| round | ungated: train, dev, test macro-F1 | gated: train, dev, test macro-F1 |", "|---|---|---|"]
    for u, g in zip(check["ungated"], check["gated"], strict=True):
        out.append(f"| {u['round']} | {u['train']}, {u['dev_macro_f1']:.4f}, {u['test_macro_f1']:.4f} | "
                   f"{g['train']}, {g['dev_macro_f1']:.4f}, {g['test_macro_f1']:.4f} |")
    return out + [""]


def demo_repeats_text(repeats: list[dict[str, Any]]) -> list[str]:
    """The demo over several seeds: per seed round 0 -> final, the gain, the audited teacher, and the goal's count."""
    out = ["The demo's config over seeds (`python -m bench.teacher_quality demo-seeds`: `run.seed` and "
           "`data.bbc.split_seed` = the seed, everything else as shipped; seed 0 is `make demo`):", "",
           "| seed | round 0 test macro-F1 | final | gain (points) | teacher audit accuracy | final >= round 0 + 20 "
           "and >= audit | minutes (1-min load before-after) | exported student (best dev round): round, test macro-F1 "
           "| annotator template |", "|---|---|---|---|---|---|---|---|---|"]
    met = 0
    for r in repeats:
        gain = r["final_test_macro_f1"] - r["round0_test_macro_f1"]
        audit = r.get("teacher_audit_accuracy")
        ok = gain >= 0.20 and (audit is None or r["final_test_macro_f1"] >= audit)
        met += ok
        timing = r.get("timing") or {}
        minutes = f"{timing['wall_seconds'] / 60:.1f} ({timing['wall_seconds']:.0f} s)" if "wall_seconds" in timing else "-"
        if "load_average_1m_after" in timing:  # other work on the machine slows a CPU teacher: say how much
            minutes += f" (load {timing.get('load_average_1m_before', 0):.1f}-{timing['load_average_1m_after']:.1f})"
        out.append(f"| {r['seed']} | {r['round0_test_macro_f1']:.4f} | {r['final_test_macro_f1']:.4f} | {gain * 100:+.1f} | "
                   f"{fmt(audit, 3)} | {'yes' if ok else 'no'} | {minutes} | {exported(r)} | "
                   f"{r.get('annotator_prompt', '-')} |")
    gains = [(r["final_test_macro_f1"] - r["round0_test_macro_f1"]) * 100 for r in repeats]
    out += ["", f"Goal met on {met} of {len(repeats)} seeds; mean gain {sum(gains) / len(gains):+.1f} points "
            f"(range {min(gains):+.1f} to {max(gains):+.1f}).", ""]
    return out


def generation_entry(run_dir: Path, timing: dict[str, Any] | None = None) -> dict[str, Any]:
    """(d) The headline task with the real teacher (examples/bbc-headline.yaml): chrF and ROUGE-L per round."""
    m, common = run_entry(run_dir, timing)
    rounds = m["rounds"]
    return {"round0_test_chrf": rounds[0]["test"].get("chrf"), "final_test_chrf": rounds[-1]["test"].get("chrf"),
            "curve": [{"round": r["round"], "train": r["train_size"], "calls": r["budget_spent"].get("calls"),
                       **{f"{split}_{k}": r[split].get(k) for split in ("dev", "test") for k in ("chrf", "rougeL")},
                       "test_worst_cluster_chrf": r["test"].get("worst_cluster")} for r in rounds],
            **common}


def variant_table(check: dict[str, Any], intro: str) -> list[str]:
    """A prompt check (bench/prompt_clip.py) as markdown: the intro, one row per variant, its notes."""
    return [intro, "", "| variant | dev accuracy | right here, wrong with the first | the reverse | s per call (median) |",
            "|---|---|---|---|---|"] + [
        f"| {k} | {r['accuracy']:.2f} | {r.get('gained', '-')} | {r.get('lost', '-')} | {r['seconds_median']} |"
        for k, r in check["variants"].items()] + [""] + [f"- {n}" for n in check.get("notes", [])] + [""]


def _embedded_lines(data: dict[str, Any]) -> list[str]:
    """(a) The embedded teacher's own accuracy and seconds per call."""
    out: list[str] = []
    emb = data.get("embedded_teacher")
    if emb:
        spc = emb.get("seconds_per_call", {})
        out += [f"Embedded teacher: {emb['model']}, through `teacher.provider: local` (the project's launcher), "
                f"{emb['n_test']} balanced BBC test articles (first 1,500 characters), on {emb.get('machine', '')}, "
                f"1-minute load average {emb.get('label_zero_shot', {}).get('load_average_1m', '?')} while it ran "
                "(the cores are shared with other jobs: the seconds are upper bounds). Server CPU seconds count both "
                "llama.cpp threads.", "",
                "| call | accuracy | s per call | server CPU s per call |", "|---|---|---|---|",
                f"| label, zero-shot | {emb['test_accuracy_zero_shot']:.3f} | {spc.get('label_zero_shot')} | "
                f"{emb['label_zero_shot'].get('server_cpu_seconds_per_call', '-')} |",
                f"| label, 3 retrieved demonstrations | {emb['test_accuracy_demos']:.3f} | {spc.get('label_demos')} | "
                f"{emb['label_demos'].get('server_cpu_seconds_per_call', '-')} |",
                f"| analysis (analyst prompt, max_tokens {emb.get('analyse', {}).get('max_tokens', 200)}) | "
                f"{'parsed' if emb.get('analyse', {}).get('ok') else 'not parsed'} | {spc.get('analyse')} | - |",
                f"| synthesis (4 samples per call) | - | {spc.get('synth')} | - |", ""]
    return out


def _prompt_check_lines(data: dict[str, Any]) -> list[str]:
    """The annotator prompt's checks: how much of each article, how many demonstrations."""
    out: list[str] = []
    clip = data.get("prompt_clip_check")
    if clip:
        out += variant_table(clip, f"How much of each article the annotator prompt shows (`python -m bench.prompt_clip`): "
                             f"{clip['n']} articles of the demo's {clip['split']}, 3 demonstrations "
                             f"({clip['demonstrations']}), labelled once per variant of the template. Rule, fixed before "
                             f"the run: {clip['rule']}. Chosen: **{clip['chosen']}** (the annotator template since "
                             "version 3).")
    demos = data.get("demos_check")
    if demos:
        out += variant_table(demos, "How many demonstrations the annotator prompt shows (`python -m bench.prompt_clip "
                             f"--demos 3,2`): {demos['n']} articles of the demo's {demos['split']}, the "
                             f"{demos['demonstrations']}, the {demos['template']} template. Rule, fixed before the run: "
                             f"{demos['rule']}. The rule's pick: **{demos['chosen']}**.")
    return out


def _distill_lines(data: dict[str, Any]) -> list[str]:
    """(a) Students distilled from the real teacher: single runs, seed pairs, series."""
    out: list[str] = []
    if data.get("distill"):
        own = (data.get("embedded_teacher") or {}).get("test_accuracy_demos")
        out += ["Distilled from the real teacher (the demo's config: Qwen teacher, MiniLM + LoRA student, 2 gold seeds "
                "per topic, one seed, so single runs: no CI). Final test accuracy / macro-F1 and calls spent; arms: "
                "`random` (random selection), `select_only` (the default policy, no synthesis), `synth_only` (the "
                "teacher writes every new text), `mixed` (the default: selection plus synthesis for weak clusters)."
                + (f" The teacher's own test accuracy with 3 demonstrations: {own:.3f}." if own else ""), "",
                "The teacher's pool labels: how many of the pool texts the run bought it labelled as gold has them "
                "(a random arm's are a random sample of the pool). Code: the commit the run had (defaults move; "
                "'-': before 2026-12-02, session 32, when it was first recorded).", "",
                "| calls | arm | student accuracy | student macro-F1 | calls spent | train (by source) | s per label | "
                "teacher's pool labels right | code (date) |",
                "|---|---|---|---|---|---|---|---|---|"]
        for budget, by_arm in sorted(data["distill"].items(), key=lambda kv: int(kv[0])):
            out += [f"| {budget} | {arm} | {row['student_accuracy']:.4f} | {row['student_macro_f1']:.4f} | "
                    f"{row['calls']:g} | {row['train_size']} ({', '.join(f'{k} {v}' for k, v in row['train_by_source'].items())}) | "
                    f"{row.get('teacher_seconds_per_label', '-')} | {pool_right(row)} | "
                    + (f"{row['code']} ({row['date']})" if row.get("code") else "-") + " |"
                    for arm, row in by_arm.items()]
        out += [line for n in data.get("distill_notes", []) for line in ("", f"Note: {n}")]
        out += (["", *seed_pairs_text(data), *series_detail_text(data, SERIES), *arm_series_text(data)]
                if data.get("distill_seeds") else [])
        out += sim_pairs_text(data)
        out += writer_check_real_text(data)
        if data.get("student_speedup"):
            out += ["", f"The student predicts an article in {1000 * data['student_seconds_per_example']:.1f} ms, "
                    f"{data['student_speedup']:.0f}x faster than the teacher labels one in these runs "
                    f"({data['teacher_seconds_per_label']} s per label, the annotator's time per call)."]
        out.append("")
    return out


def _noise_lines(data: dict[str, Any]) -> list[str]:
    """(c) Simulated label noise, gated and ungated, and the gate's dev tuning."""
    out: list[str] = []
    if data.get("noise"):
        setup = data.get("noise_setup", {})
        out += [f"Simulated label noise (SIMULATION: oracle labels with seeded uniform noise, one draw per example), "
                f"{setup.get('budget_calls')} calls, test seeds {setup.get('seeds')}, {setup.get('student')} student, "
                f"gate `{gate_text(setup['gate'])}`; final test macro-F1 (mean over seeds); paired gated minus ungated, points, 95% "
                f"bootstrap CI, wins. Noise-free: {data.get('noise_free'):.4f}.", "",
                "| noise | ungated | gated | gated - ungated [95% CI] wins | share of the noise's cost recovered |",
                "|---|---|---|---|---|"]
        for rate, row in sorted(data["noise"].items(), key=lambda kv: float(kv[0])):
            rec = "-" if row.get("recovered") is None else f"{100 * row['recovered']:.0f}%"
            pr = row.get("paired")
            pair = (f"{100 * pr['diff']:+.1f} [{100 * pr['ci_low']:+.1f}, {100 * pr['ci_high']:+.1f}] "
                    f"{pr['wins']}/{pr['n']}" if pr else "-")
            out.append(f"| {float(rate):.0%} | {row['ungated']:.4f} ± {row['ungated_std']:.4f} | "
                       f"{row['gated']:.4f} ± {row['gated_std']:.4f} | {pair} | {rec} |")
        out.append("")
        tuning = data.get("gate_tuning")
        if tuning:
            out += [f"The gate was chosen on dev: {tuning['metric']}, noise rates {tuning['rates']}, tuning seeds "
                    f"{tuning['seeds']} (never the test seeds above); chosen `{gate_text(tuning['chosen'])}`.", "",
                    "| gate | mean dev gain (points) | wins / runs |", "|---|---|---|"]
            out += [f"| {gate_text(row['gate'])} | {100 * row['dev_gain']:+.1f} | {row['wins']}/{row['n']} |"
                    for row in tuning["table"]]
            out += [""] + [f"Earlier: {n}" for n in data.get("gate_history", [])] + [""] * bool(data.get("gate_history"))
    return out


def _synthesis_lines(data: dict[str, Any]) -> list[str]:
    """(b) Reserve-writer synthesis on the long tail (a simulation)."""
    out: list[str] = []
    if data.get("synthesis"):
        seeds = next(iter(data["synthesis"].values()))["paired"]["n_seeds"]
        out += ["Reserve-writer synthesis on a 20:1 long tail (300 pool texts, 40 reserve texts per topic; oracle "
                f"labels, embedding-probe student, {seeds} seeds): each cell is the mean final test macro-F1 / "
                "worst-cluster accuracy; paired: select+synth minus select-only, bootstrap 95% CI over seeds.", "",
                "| budget | random | select-only | select+synth | Δ macro-F1 [95% CI] | Δ worst cluster |",
                "|---|---|---|---|---|---|"]
        for budget, row in sorted(data["synthesis"].items(), key=lambda kv: int(kv[0])):
            cells = [f"{row[arm]['macro_f1']['mean']:.4f} / {row[arm]['worst_cluster_acc']['mean']:.4f}"
                     for arm in ("random", "select_only", "select_synth")]
            pr = row["paired"]
            out.append(f"| {budget} | {' | '.join(cells)} | "
                       f"{pr['diff_macro_f1']:+.4f} [{pr['ci_low']:+.4f}, {pr['ci_high']:+.4f}] | "
                       f"{pr['diff_worst_cluster']:+.4f}" + (f" [{pr['worst_ci'][0]:+.4f}, {pr['worst_ci'][1]:+.4f}]"
                                                               if pr.get("worst_ci") else "")
                       + (f" (wins: macro-F1 {pr['wins']}, worst cluster {pr['worst_wins']}, of {pr['n_seeds']})"
                          if "wins" in pr else "")
                       + " |")
        out += ["", *[f"Note: {n}" for n in data.get("synthesis_notes", [])], ""]
        out += synthesis_reach_text(data)
        out += synthesis_dev_gap_text(data)
        out += anchor_text(data)
        tuning = data.get("synthesis_dev_tuning") or {}
        if tuning:
            seeds = sorted({s for t in tuning.values() for s in t.get("seeds", [])})
            out += [f"Today's steering was chosen on dev metrics of tuning seeds {seeds[0]}-{seeds[-1]} "
                    f"({', '.join(sorted(tuning))} of `bench/results/policy_choice.md`; `python -m "
                    "bench.teacher_quality synthesis-dev`). The test seeds above had been read (stage 25) before "
                    "stages 26 and 27 were planned, so this table is not an unbiased check of them.", ""]
    return out


def _demo_lines(data: dict[str, Any]) -> list[str]:
    """The demo's learning curve, its gate check and its repeats."""
    out: list[str] = []
    demo = data.get("demo")
    if demo:
        out += [f"Demo (`distillgraph run examples/bbc-topic.yaml`, Qwen teacher, 60 calls): {demo.get('teacher_audit')}",
                "", "| round | train | calls | dev macro-F1 | test macro-F1 |", "|---|---|---|---|---|"]
        out += [f"| {r['round']} | {r['train']} | {r['calls']} | {r['dev_macro_f1']} | {r['test_macro_f1']} |"
                for r in demo["curve"]]
        out += ["", f"Stopped: {demo.get('stop_reason')}. The run's last round is the final figure; "
                f"`distillgraph export` ships the best dev round's student: {exported(demo)}."
                f"{timing_line(demo, 'make demo')}"
                + (f" Note: {demo['note']}" if demo.get("note") else ""), ""]
    if data.get("demo_gate_check"):
        out += gate_check_text(data["demo_gate_check"])
    if data.get("demo_repeats"):
        out += demo_repeats_text(data["demo_repeats"])
    if data.get("demo_repeats_earlier"):  # rows a later run of the same seed replaced, with the template they used
        out += ["Replaced by later runs (kept for the record): " + "; ".join(
            f"seed {r['seed']} ({r['run']}, annotator template {r.get('annotator_prompt', '-')}): "
            f"{r['round0_test_macro_f1']:.4f} -> {r['final_test_macro_f1']:.4f} in "
            f"{(r.get('timing') or {}).get('wall_seconds', 0) / 60:.1f} min"
            + (f" ({r['config_note']})" if r.get("config_note") else "") for r in data["demo_repeats_earlier"]) + ".",
            ""]
    return out


def _generation_lines(data: dict[str, Any]) -> list[str]:
    """(d) The headline task with the real teacher."""
    out: list[str] = []
    gen = data.get("generation")
    if gen:
        out += ["Generation with the real teacher (`distillgraph run examples/bbc-headline.yaml`: Qwen writes the "
                "target headlines, SmolLM2-135M + LoRA student): corpus chrF and mean ROUGE-L on the test articles "
                "per round.", "", "| round | train | calls | dev chrF | test chrF | test ROUGE-L | worst-topic test chrF |",
                "|---|---|---|---|---|---|---|"]
        out += [f"| {r['round']} | {r['train']} | {r['calls']} | {fmt(r['dev_chrf'], 2)} | {fmt(r['test_chrf'], 2)} | "
                f"{fmt(r['test_rougeL'], 4)} | {fmt(r['test_worst_cluster_chrf'], 2)} |" for r in gen["curve"]]
        out += ["", f"Stopped: {gen.get('stop_reason')}.{timing_line(gen, 'the run')}"
                + (f" Note: {gen['note']}" if gen.get("note") else ""), ""]
    return out


def markdown(data: dict[str, Any]) -> str:
    """The BENCHMARKS.md fragment from teacher_quality.json (what has been run so far)."""
    out = ["## Teacher quality: the embedded teacher, label noise and gating, reserve-writer synthesis", "",
           *_embedded_lines(data), *_prompt_check_lines(data), *_distill_lines(data), *_noise_lines(data),
           *_synthesis_lines(data), *_demo_lines(data), *_generation_lines(data)]
    return "\n".join(out)


def gate_text(gate: dict[str, Any]) -> str:
    extra = ", ".join(f"{k} {v}" for k, v in gate.items() if k not in ("mode", "threshold"))
    return f"{gate['mode']} < {gate['threshold']}" + (f" ({extra})" if extra else "")


def fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def timing_line(entry: dict[str, Any], what: str) -> str:
    """Wall time of a timed example run, the load it ran under, and where the time went (trace seconds per node)."""
    t = entry.get("timing")
    nodes = ", ".join(f"{k} {v:.0f} s" for k, v in sorted(entry.get("node_seconds", {}).items(), key=lambda kv: -kv[1]))
    head = (f" Wall time of {what} after setup: {t['wall_seconds'] / 60:.1f} min on {t['cores']} cores (1-minute load "
            f"average {t['load_average_1m_before']} before, {t['load_average_1m_after']} after)." if t else "")
    return head + (f" Trace seconds per node: {nodes}." if nodes else "")


def keep_previous_anchor(data: dict[str, Any]) -> None:
    """Before (b) is run again with synthesis steered otherwise (`loop.hard_anchor`, `loop.missed_labels`,
    `loop.weak_synth_labels`): keep
    the stored table and dev gap under "synthesis_earlier", keyed by how they were steered."""
    old = steering(data.get("synthesis_setup", {}))
    if data.get("synthesis") and old != steering(todays_steering()):
        earlier = dict(data.get("synthesis_earlier", {}))
        earlier[old] = {"synthesis": data["synthesis"], "synthesis_dev_gap": data.get("synthesis_dev_gap"),
                        "seeds": data.get("synthesis_setup", {}).get("seeds")}
        merge("synthesis_earlier", earlier)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser()
    ap.add_argument("section", choices=["embedded", "noise", "synthesis", "synthesis-dev", "synthesis-ceiling", "synthesis-dev-gap",
                                        "distill",
                                        "distill-seeds", "distill-sim", "writer-check-real", "demo",
                                        "demo-seeds", "demo-gate", "generation",
                                        "markdown"])
    ap.add_argument("--arms", default=",".join(DISTILL_ARMS), help="distill: " + " | ".join(DISTILL_ARMS))
    ap.add_argument("--run-dir", type=Path, help="demo / generation: read a finished run instead of running (and timing) "
                    "the example")
    ap.add_argument("--run-dirs", default="", help="demo-gate: UNGATED,GATED run folders of the demo's config")
    ap.add_argument("--budgets", default="40,80")
    ap.add_argument("--label", default="latest", help="synthesis-dev: the key its result is stored under")
    ap.add_argument("--reuse", default="", help="synthesis-dev: take the runs a stored sweep (its label) already has")
    ap.add_argument("--variants", default=",".join(SYNTH_DEV_VARIANTS), help="synthesis-dev: " + " | ".join(SYNTH_DEV_VARIANTS))
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--parts", default="label,analyse,synth")
    ap.add_argument("--max-tokens", type=int, default=400, help="the demo's teacher.max_tokens")
    ap.add_argument("--rates", default="0,0.1,0.2,0.3")
    ap.add_argument("--teacher", default="oracle", help="distill-sim: " + " | ".join(SIM_TEACHERS))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--budget", type=int, default=120)
    ap.add_argument("--gate", default="tuned", help="noise: tuned (chosen on dev, tuning seeds 100-102) | chosen (the gate the "
                    "last tuning chose, not re-tuned) | drop | weight")
    ap.add_argument("--threshold", type=float, default=0.5)
    return ap


def main() -> None:
    args = _parser().parse_args()
    if args.section == "embedded":
        previous = stored().get("embedded_teacher", {})
        merge("embedded_teacher", embedded(args.n, args.threads, set(args.parts.split(",")), args.max_tokens, previous))
    elif args.section == "noise":
        rates = [float(x) for x in args.rates.split(",")]
        if args.gate == "tuned":  # choose the gate on dev + tuning seeds first, then measure it on the test seeds
            tuning = gate_tuning([r for r in rates if r > 0], GATE_TUNING_SEEDS, args.budget)
            merge("gate_tuning", tuning)
            gate = tuning["chosen"]
        elif args.gate == "chosen":  # the gate the last dev sweep chose, measured again (e.g. after a default moved)
            tuned = stored().get("gate_tuning")
            if not tuned:
                raise SystemExit(f"{RESULTS}: no gate_tuning entry yet; run the noise section with --gate tuned first")
            gate = tuned["chosen"]
        else:
            gate = {"mode": args.gate, "threshold": args.threshold}
        out = noise_sweep(rates, [int(x) for x in args.seeds.split(",")], args.budget, gate)
        for key in ("noise", "noise_free", "noise_setup"):
            merge(key, out[key])
    elif args.section == "distill":
        previous = stored()
        out = distill_sweep([int(x) for x in args.budgets.split(",")], args.arms.split(","),
                            previous.get("distill", {}))
        merge("distill", out["distill"])
        for key, value in speed(out["distill"], out["student_seconds_per_example"]).items():
            merge(key, value)
    elif args.section == "distill-seeds":  # --budget, --seeds (not 0: the distill section's), --arms random,mixed
        distill_seeds(args.budget, args.arms.split(","), [int(x) for x in args.seeds.split(",")])
    elif args.section == "writer-check-real":  # --budget, --seeds (tuning seeds): stage 64's diagnostic
        writer_check_real(args.budget, [int(x) for x in args.seeds.split(",")])
    elif args.section == "distill-sim":  # --teacher, --budget, --seeds, --arms random,mixed (a SIMULATION)
        distill_sim(args.budget, args.arms.split(","), [int(x) for x in args.seeds.split(",")], args.teacher)
    elif args.section in ("demo", "generation"):
        example, entry = {"demo": ("examples/bbc-topic.yaml", demo_entry),
                          "generation": ("examples/bbc-headline.yaml", generation_entry)}[args.section]
        run_dir, timing = (args.run_dir, None) if args.run_dir else timed_example(example)
        merge(args.section, entry(run_dir, timing))
    elif args.section == "demo-gate":  # --run-dirs UNGATED,GATED: two finished runs of the demo's config
        ungated, gated = (Path(x) for x in args.run_dirs.split(","))
        merge("demo_gate_check", gate_check(ungated, gated))
    elif args.section == "demo-seeds":  # --seeds: each replaces its earlier entry, the others are kept
        seeds = [int(x) for x in args.seeds.split(",")]
        data = stored()
        previous = data.get("demo_repeats", [])
        kept = [r for r in previous if r["seed"] not in seeds]
        earlier = data.get("demo_repeats_earlier", [])
        merge("demo_repeats_earlier", earlier + [r for r in previous if r["seed"] in seeds])
        for seed in seeds:
            kept.append(demo_repeat(seed))
            merge("demo_repeats", sorted(kept, key=lambda r: r["seed"]))
    elif args.section == "synthesis":  # the table and its dev-vs-test gap from the same runs
        budgets, seeds = [int(x) for x in args.budgets.split(",")], [int(x) for x in args.seeds.split(",")]
        keep_previous_anchor(stored())
        rows = synthesis_rows(budgets, seeds)
        merge("synthesis", synthesis_table(rows, budgets))
        merge("synthesis_dev_gap", synthesis_dev_gap(budgets, seeds, rows=rows))
        merge("synthesis_setup", {"arms": {a: list(v) for a, v in SYNTH_ARMS.items()}, "split": TAIL, "seeds": seeds,
                                  "teacher": "simulated (oracle labels; writer: held-out reserve texts)",
                                  "student": "embedding-probe", **todays_steering()})
    elif args.section == "synthesis-dev":  # --budgets, --seeds (tuning seeds), --variants, --label (e.g. stage 27)
        tuning = dict(stored().get("synthesis_dev_tuning", {}))
        tuning[args.label] = synthesis_dev_sweep([int(x) for x in args.budgets.split(",")],
                                                 [int(x) for x in args.seeds.split(",")], args.variants.split(","),
                                                 reuse=tuning[args.reuse]["runs"] if args.reuse else None)
        if args.reuse:
            tuning[args.label]["reused_from"] = args.reuse
        merge("synthesis_dev_tuning", tuning)
    elif args.section == "synthesis-ceiling":
        merge("synthesis_ceiling", synthesis_ceiling([int(x) for x in args.seeds.split(",")]))
    elif args.section == "synthesis-dev-gap":  # --budgets, --seeds: (b)'s test seeds
        merge("synthesis_dev_gap", synthesis_dev_gap([int(x) for x in args.budgets.split(",")],
                                                     [int(x) for x in args.seeds.split(",")]))
    data = stored()
    RESULTS.with_suffix(".md").write_text(markdown(data) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS} and {RESULTS.with_suffix('.md')}")


if __name__ == "__main__":
    main()
