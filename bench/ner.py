"""NER benchmark (issue 18): selection policies x budgets x seeds on the packaged WNUT-style tweets.

Every point is a real graph run (bench.harness.run_graph) with the oracle teacher (a SIMULATION: gold
entities, 1 call = 1 sentence labelled), the fast token-probe student, 4 rounds, the whole budget spent.
Equal information: every policy gets the same gold dev set and the same per-cluster dev errors (only
`distillgraph` reads them). Seeds: the split seed is the run seed; TEST_SEEDS are never used to tune
anything (this harness tunes nothing: the defaults are run as shipped). Paired comparisons as in the
classification suite (bench/stats.py).

    .venv/bin/python -m bench.ner                                   # default grid (see below)
    .venv/bin/python -m bench.ner --budgets 50 --seeds 0 1 --policies random distillgraph
    .venv/bin/python -m bench.ner --upper-bound                     # + the whole pool labelled from gold
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.harness import (
    RESULTS,
    ROOT,
    code_version,
    machine,
    prediction_seconds,
    quiet_logs,
    run_graph,
    write_results,
)
from bench.stats import compare, mean_std
from distillgraph.graph.config import RunConfig, apply_overrides, config_from_dict
from distillgraph.store.ner import WNUT_TYPES

NAME = "ner"
OUTSIDE_FILE = "ner_outside_weight.json"  # written by bench/ner_tuning.py --outside-weights
ROUNDS = 4
BUDGETS = [50, 100, 200]
TEST_SEEDS = [0, 1, 2]
POLICIES = ["random", "uncertainty", "cluster_balanced", "baldistill", "distillgraph"]
SETTINGS = [f"loop.rounds={ROUNDS}", f"loop.max_rounds={ROUNDS}", "loop.patience=1000",
            "loop.score_sample=100000", "teacher.demonstrations=0", "teacher.provider=oracle",
            "student.kind=token-probe"]


def ner_config(policy: str, budget: int, seed: int, extra: list[str] | None = None) -> RunConfig:
    """One point: the WNUT tweets split by `seed`, the oracle, the token probe, `policy` at `budget` calls."""
    data: dict[str, Any] = {
        "task": {"type": "ner", "name": "wnut", "instruction": "Find the named entities in the tweet.",
                 "labels": WNUT_TYPES},
        "data": {"source": "wnut", "wnut": {"split_seed": seed}},
        "budget": {"max_calls": budget},
    }
    overrides = [*SETTINGS, f"loop.policy={policy}", f"run.seed={seed}", f"run.name=ner-{policy}-{budget}-s{seed}",
                 *(extra or [])]
    return config_from_dict(apply_overrides(data, overrides))


def final_test(state: dict[str, Any], split: str = "test") -> dict[str, float]:
    """The final round's entity F1 and worst-type F1 on `split` (test, or dev for a tuning check)."""
    last = state["history"][-1]
    test = getattr(last, split) if hasattr(last, split) else last[split]
    return {"entity_f1": float(test.get("entity_f1", 0.0)), "worst_type_f1": float(test.get("worst_type_f1", 0.0)),
            "labelled": int(last.train_size if hasattr(last, "train_size") else last["train_size"])}


def sweep(policies: list[str], budgets: list[int], seeds: list[int], extra: list[str] | None = None,
          split: str = "test") -> dict[str, Any]:
    points: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for budget in budgets:
        for seed in seeds:
            for policy in policies:
                start = time.perf_counter()
                state, _ = run_graph(ner_config(policy, budget, seed, extra))
                point = {**final_test(state, split), "seconds": round(time.perf_counter() - start, 1)}
                points.setdefault(policy, {}).setdefault(str(budget), {})[str(seed)] = point
                print(f"{policy:>16} B={budget:<4} seed={seed}: entity F1 {point['entity_f1']:.4f} "
                      f"worst type {point['worst_type_f1']:.4f} ({point['seconds']} s)", flush=True)
    return points


def summarise(points: dict[str, Any], focus: str = "distillgraph") -> dict[str, Any]:
    """Mean ± std per policy and budget; `focus` paired by seed against random and against the best other
    policy (highest mean test entity F1 at that budget), as in the classification suite."""
    metrics = ("entity_f1", "worst_type_f1")
    results = {p: {b: {m: mean_std([s[m] for s in by_seed.values()]) for m in metrics}
                   for b, by_seed in by_b.items()} for p, by_b in points.items()}
    paired: dict[str, Any] = {}
    for b in points.get(focus, {}):
        per = {p: {m: {s: v[m] for s, v in by_b[b].items()} for m in metrics}
               for p, by_b in points.items() if b in by_b}
        others = [p for p in per if p != focus]
        if not others:
            continue
        best = max(others, key=lambda p: results[p][b]["entity_f1"]["mean"])
        paired[b] = {"vs_best_other": {"policy": best, **compare(per[focus]["entity_f1"], per[best]["entity_f1"])}}
        if "random" in per:
            paired[b]["vs_random"] = compare(per[focus]["entity_f1"], per["random"]["entity_f1"])
            paired[b]["worst_type_vs_random"] = compare(per[focus]["worst_type_f1"], per["random"]["worst_type_f1"])
    return {"results": results, "paired": paired}


def fit_and_score(student: Any, train: list[Any], examples: list[Any], task: Any) -> float:
    """Entity F1 on `examples` of `student` trained (in a scratch folder) on the gold `train` examples."""
    from distillgraph.trainer.base import TrainItem

    with tempfile.TemporaryDirectory() as tmp:
        student.fit([TrainItem(id=e.id, text=e.text, target=e.output or "") for e in train], tmp, round=0)
    return scored(student, examples, task)


def scored(student: Any, examples: list[Any], task: Any) -> float:
    """Entity F1 of a fitted `student` on gold `examples`."""
    from distillgraph.trainer.evaluate_ner import ner_metrics

    preds = student.predict([e.id for e in examples], [e.text for e in examples])
    return float(ner_metrics([e.output or "" for e in examples], [p.prediction or "" for p in preds],
                             task.label_names)["entity_f1"])


def upper_bound(seeds: list[int]) -> dict[str, Any]:
    """The token probe trained on the whole pool labelled from gold (what more labels could reach)."""
    from distillgraph.store.datasets import load_data
    from distillgraph.trainer.student import build_student

    scores = []
    for seed in seeds:
        cfg = ner_config("random", 1, seed)
        data = load_data(cfg.data, cfg.task)
        student = build_student(cfg.student, cfg.task, progress=False)
        scores.append(fit_and_score(student, data["pool"], data["test"], cfg.task))
    return {"entity_f1": mean_std(scores), "seeds": seeds, "n_pool": len(data["pool"])}


def embedded_teacher(n: int, seed: int = 0, demonstrations: int = 3, split: str = "test",
                     extra: list[str] | None = None, bank: int = 0, demo_source: str = "gold") -> dict[str, Any]:
    """The embedded teacher (Qwen2.5-Coder-1.5B via the project's llama.cpp launcher) labels the first `n`
    sentences of `split` with the annotator prompt and `demonstrations` gold pool neighbours (the run's
    retrieval, by embedding); `extra` overrides the task (e.g. its instruction) for a dev check.
    `bank` > 0 retrieves the neighbours among a seeded random sample of that many pool sentences only (a
    run's labelled set is a few hundred), shown with their gold tags or, `demo_source="teacher"`, with the
    tags the teacher itself gave them zero-shot (as in a run, where the demonstrations are its own earlier
    labels); the bank's own zero-shot entity F1 is reported too."""
    from distillgraph.agents.annotator import AnnotationJob, annotation_requests, collect
    from distillgraph.agents.budget import BudgetLedger
    from distillgraph.agents.cache import AnswerCache
    from distillgraph.agents.config import BudgetConfig, TeacherConfig
    from distillgraph.agents.records import Candidate
    from distillgraph.agents.teacher import build_teacher
    from distillgraph.prompts import PromptLibrary
    from distillgraph.store.datasets import load_data
    from distillgraph.store.embed import build_embedder
    from distillgraph.store.schema import StoreConfig
    from distillgraph.trainer.evaluate_ner import ner_metrics

    cfg = ner_config("random", 1, seed, extra)
    data = load_data(cfg.data, cfg.task)
    test, pool = data[split][:n], data["pool"]
    if bank > 0:
        pool = random.Random(seed).sample(pool, min(bank, len(pool)))
    prompts = PromptLibrary()
    tcfg = TeacherConfig(provider="local", temperature=0.0, max_concurrency=1, timeout=600, max_tokens=256)

    def label(items: list[Any], demos: list[list[dict[str, Any]]]) -> tuple[list[str], Any, float]:
        jobs = [AnnotationJob(Candidate(id=e.id, cluster=0, source="pool", round=0), e.text, d)
                for e, d in zip(items, demos, strict=True)]
        start = time.perf_counter()
        results = teacher.ask_many(annotation_requests(jobs, task=cfg.task, prompts=prompts, votes=1))
        seconds = time.perf_counter() - start
        out = collect(jobs, results, task=cfg.task, votes=1, teacher_model=teacher.model)
        tags = {a.id: a.target for a in out.accepted}
        return [tags.get(e.id) or " ".join(["O"] * len(e.text.split(" "))) for e in items], out, seconds

    bank_row: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, AnswerCache(Path(tmp) / "c.sqlite") as cache:
        teacher = build_teacher(tcfg, BudgetLedger(BudgetConfig(max_calls=100_000)), cache, env={}, prompts=prompts,
                                no_cache=True)
        try:
            shown = [e.output for e in pool]
            if demonstrations > 0 and demo_source == "teacher":  # the bank labelled by the teacher, zero-shot
                shown, _, bank_s = label(pool, [[] for _ in pool])
                bm = ner_metrics([e.output or "" for e in pool], shown, cfg.task.label_names)
                bank_row = {"bank_zero_shot": {"n": len(pool), "entity_f1": round(bm["entity_f1"], 4),
                                               "precision": round(bm["entity_precision"], 4),
                                               "recall": round(bm["entity_recall"], 4),
                                               "seconds_per_sentence": round(bank_s / max(len(pool), 1), 2)}}
            nearest: list[list[int]] = [[] for _ in test]
            if demonstrations > 0:  # retrieval only when something is shown: no embedding of the pool for 0
                emb = build_embedder(StoreConfig(), None)
                pv, tv = emb.encode([e.text for e in pool]), emb.encode([e.text for e in test])
                nearest = [list((pv @ v).argsort()[::-1][:demonstrations]) for v in tv]
            demos = [[{"id": pool[i].id, "text": pool[i].text, "target": shown[i]} for i in near] for near in nearest]
            pred, out, seconds = label(test, demos)
        finally:
            teacher.close()
    gold = [e.output or "" for e in test]
    m = ner_metrics(gold, pred, cfg.task.label_names)
    return {**bank_row, "entity_f1": round(m["entity_f1"], 4), "precision": round(m["entity_precision"], 4),
            "recall": round(m["entity_recall"], 4), "worst_type_f1": round(m["worst_type_f1"] or 0.0, 4),
            "per_type_f1": {t: round(v["f1"], 3) for t, v in m["per_type"].items()}, "n": len(test),
            "seconds_per_sentence": round(seconds / max(len(test), 1), 2), "failed": len(out.rejected),
            "entities_rejected": len(out.entities_dropped), "demonstrations": demonstrations, "split": split,
            **({"bank": bank, "demo_source": demo_source} if bank else {}),
            "split_seed": seed, "instruction": cfg.task.instruction, **machine()}


EXAMPLE = "examples/wnut-ner.yaml"


def distilled(config: str = EXAMPLE, teacher_seconds: float | None = None, overrides: list[str] | None = None,
              keep: Path | None = None) -> dict[str, Any]:
    """The example config run end to end with the embedded teacher (as `distillgraph run` runs it, in this
    process): wall time, calls spent, the student's test entity F1 per round, and its prediction time per
    test sentence against the teacher's seconds per sentence (`teacher_seconds`, from embedded_teacher).
    `overrides` (key=value) change the example (e.g. a larger budget); `keep`: a folder that keeps the run.
    Also how the teacher's entities on the pool sentences it labelled compare with their gold tags."""
    from distillgraph.graph.config import load_config

    cfg = load_config(ROOT / config, overrides or [])
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        state, run_dir = run_graph(cfg, keep_dir=keep or Path(tmp))
        wall = time.perf_counter() - start
        hist = state["history"]
        per_sentence = prediction_seconds(cfg, Path(hist[-1].adapter), warm_up=20)
    ledger = state["ledger"]
    out = {"config": config, **({"overrides": overrides} if overrides else {}), "wall_seconds": round(wall, 1),
           "calls": int(ledger["spent"]["calls"]), **teacher_pool_quality(state["dataset"], cfg),
           "calls_by_node": {n: int(row["spent"]["calls"]) for n, row in ledger.get("nodes", {}).items()},
           "rejected": len(state.get("rejected", [])), "stop_reason": state.get("stop_reason"),
           "rounds": [{"round": m.round, "train_size": m.train_size, "test_entity_f1": round(m.test["entity_f1"], 4),
                       "dev_entity_f1": round(m.dev["entity_f1"], 4)} for m in hist],
           "student_entity_f1": round(hist[-1].test["entity_f1"], 4),
           "student_seconds_per_sentence": round(per_sentence, 5), **machine(),
           "code": code_version()["head"], "date": time.strftime("%Y-%m-%d")}  # which defaults the run had
    if teacher_seconds:
        out["speedup"] = round(teacher_seconds / per_sentence, 1)
    return out


def refit(run_dir: Path, overrides: list[str], filters: tuple[str, ...] = ()) -> dict[str, Any]:
    """The student of a finished NER run re-fit on the run's own training examples (the teacher's tags, their
    gating weights) with student `overrides`: dev and test entity F1. The picks stay those of the run's
    student; only the last fit changes. Also the same sentences with their gold tags, to show what the
    teacher's tags cost. `filters` (SPAN_FILTERS names): also the teacher's tags with those spans dropped (dev
    only)."""
    from distillgraph.graph.runner import final_state, load_run_config
    from distillgraph.store.datasets import load_data
    from distillgraph.trainer.base import TrainItem
    from distillgraph.trainer.student import build_student

    cfg = load_run_config(run_dir, overrides)
    data = load_data(cfg.data, cfg.task)
    pool = {e.id: e for e in data["pool"]}
    taught = [TrainItem(id=a.id, text=a.text or pool[a.id].text, target=a.target, weight=a.weight)
              for a in final_state(run_dir)["dataset"] if a.text or a.id in pool]
    gold = [TrainItem(id=t.id, text=t.text, target=pool[t.id].output or "") for t in taught if t.id in pool]
    out: dict[str, Any] = {"overrides": overrides, "train": len(taught)}
    student = build_student(cfg.student, cfg.task, progress=False)
    for name, train in (("teacher_tags", taught), ("gold_tags_same_sentences", gold)):
        with tempfile.TemporaryDirectory() as tmp:
            student.fit(train, Path(tmp), round=0)
        out[name] = {split: round(scored(student, data[split], cfg.task), 4) for split in ("dev", "test")}
    if filters:  # the teacher's tags with a span filter: dev only, a check of what precision alone buys
        from distillgraph.trainer.evaluate_ner import ner_metrics

        bought = [t for t in taught if t.id in pool]
        out["filtered"] = {}
        for rule in filters:
            train = [replace(t, target=drop_spans(t.text, t.target, rule)) for t in taught]
            m = ner_metrics([pool[t.id].output or "" for t in bought], [t.target for t in train if t.id in pool],
                            cfg.task.label_names)
            with tempfile.TemporaryDirectory() as tmp:
                student.fit(train, Path(tmp), round=0)
            out["filtered"][rule] = {"pool_tags": {k: round(float(m[k]), 4) for k in
                                                   ("entity_f1", "entity_precision", "entity_recall")},
                                     "dev": round(scored(student, data["dev"], cfg.task), 4)}
    return out


SPAN_FILTERS = {  # what a filter drops from the teacher's entities (the tokens become O)
    "marks": "spans starting with @, # or a URL (WNUT's guideline: usernames, hashtags and URLs are not entities)",
    "marks_lowercase": "those, and spans whose first character is lowercase",
}


def drop_spans(text: str, tags: str, rule: str) -> str:
    """IOB2 `tags` of `text` (tokens split on spaces) without the entities that `rule` (SPAN_FILTERS) drops."""
    from seqeval.metrics.sequence_labeling import get_entities

    toks, out = text.split(), tags.split()
    for _, start, end in get_entities(tags.split()):
        first = toks[start]
        bad = first[:1] in "@#" or first.lower().startswith(("http:", "https:", "www."))
        if bad or (rule == "marks_lowercase" and first[:1].islower()):
            out[start:end + 1] = ["O"] * (end + 1 - start)
    return " ".join(out)


def teacher_pool_quality(dataset: list[Any], cfg: RunConfig) -> dict[str, Any]:
    """Entity F1 / precision / recall of the teacher's accepted tags on the pool sentences a run bought, against
    their gold tags (the packaged pool is gold): the labels the student actually learnt from."""
    from distillgraph.store.datasets import load_data
    from distillgraph.trainer.evaluate_ner import ner_metrics

    pool = {e.id: e.output or "" for e in load_data(cfg.data, cfg.task)["pool"]}
    bought = [a for a in dataset if getattr(a, "id", None) in pool]
    if not bought:
        return {}
    m = ner_metrics([pool[a.id] for a in bought], [a.target for a in bought], cfg.task.label_names)
    return {"teacher_pool_labels": {"n": len(bought), **{k: round(float(m[k]), 4) for k in
                                                         ("entity_f1", "entity_precision", "entity_recall") if k in m}}}


def pool_tags(d: dict[str, Any]) -> str:
    """A distilled run's teacher tags on the pool sentences it bought, against gold (a clause; '' if not kept)."""
    t = d.get("teacher_pool_labels")
    return (f"; the teacher's tags on the {t['n']} pool sentences it labelled, against their gold tags: entity F1 "
            f"{t['entity_f1']:.3f} (precision {t['entity_precision']:.3f}, recall {t['entity_recall']:.3f})" if t else "")


def ran_on(d: dict[str, Any]) -> str:
    """Which commit and day a distilled run had (defaults move between runs); '' for runs before it was kept."""
    return f" (commit {d['code']}, {d['date']})" if d.get("code") else ""


def _policy_lines(data: dict[str, Any]) -> list[str]:
    """The policy sweep's table (SIMULATION: the oracle teacher)."""
    out = ["## NER: selection policies on the WNUT-style tweets (oracle teacher: a simulation)", "",
           f"Token-probe student, {ROUNDS} rounds, the oracle teacher (SIMULATION: gold entities, 1 call = 1 "
           f"sentence), seeds {data['seeds']} (split seed = run seed; nothing tuned on them). Test entity F1 "
           "(micro, seqeval strict IOB2), mean ± sd; worst-type F1 in brackets.", ""]
    out += [f"Note: {n}" for n in data.get("notes", [])] + [""] * bool(data.get("notes"))
    budgets = sorted({b for p in data["results"].values() for b in p}, key=int)
    out += ["| policy | " + " | ".join(f"B={b}" for b in budgets) + " |", "|---" * (len(budgets) + 1) + "|"]
    for policy, by_b in data["results"].items():
        cells = [f"{by_b[b]['entity_f1']['mean']:.3f} ± {by_b[b]['entity_f1']['std']:.3f} "
                 f"[{by_b[b]['worst_type_f1']['mean']:.3f}]" if b in by_b else "-" for b in budgets]
        out.append(f"| {policy} | " + " | ".join(cells) + " |")
    return out


def _paired_lines(data: dict[str, Any]) -> list[str]:
    """distillgraph against random and the best other policy, paired over seeds."""
    out: list[str] = []
    out += ["", "distillgraph paired over seeds: entity F1 difference (95% bootstrap CI, wins / n, verdict); "
            "'ahead' only where the CI excludes 0:", ""]
    for b, pr in sorted(data["paired"].items(), key=lambda kv: int(kv[0])):
        parts = []
        if "vs_random" in pr:
            v, w = pr["vs_random"], pr["worst_type_vs_random"]
            parts.append(f"vs random {v['diff']:+.4f} [{v['ci_low']:+.4f}, {v['ci_high']:+.4f}] {v['wins']}/{v['n']} "
                         f"({v['verdict']}), worst type {w['diff']:+.4f} ({w['verdict']})")
        o = pr["vs_best_other"]
        parts.append(f"vs best other ({o['policy']}) {o['diff']:+.4f} [{o['ci_low']:+.4f}, {o['ci_high']:+.4f}] "
                     f"{o['wins']}/{o['n']} ({o['verdict']})")
        out.append(f"- B={b}: " + "; ".join(parts))
    return out


def _teacher_lines(data: dict[str, Any]) -> list[str]:
    """The embedded teacher's own test entity F1, and the runs distilled from it."""
    out: list[str] = []
    if data.get("embedded_teacher"):
        main = data["embedded_teacher"]
        others = [t for t in (data.get("embedded_teacher_variants") or {}).values()
                  if t["demonstrations"] != main["demonstrations"]]
        for t in [main, *others]:
            shown = (f"{t['demonstrations']} retrieved gold demonstrations" if t["demonstrations"]
                     else "no demonstrations")
            role = "; as examples/wnut-ner.yaml runs it: the reference for the distilled student" if t is main else ""
            out += ["", f"Embedded teacher (Qwen2.5-Coder-1.5B, {shown}{role}) on "
                    f"{t['n']} test sentences: entity F1 {t['entity_f1']:.3f} (worst type {t['worst_type_f1']:.3f}), "
                    f"{t['seconds_per_sentence']} s per sentence, {t['entities_rejected']} named entities not in the "
                    "text."]
    if data.get("distilled"):
        d = data["distilled"]
        curve = " → ".join(f"{r['test_entity_f1']:.3f}" for r in d["rounds"])
        out += ["", f"Distilled with the embedded teacher (`distillgraph run {d['config']}`, token probe): {d['calls']} "
                f"calls, test entity F1 by round {curve}, "
                f"{d['wall_seconds'] / 60:.1f} minutes end to end on {d['machine']} (1-minute load "
                f"{d['load_average_1m']} at the end); the student predicts a sentence in "
                f"{d['student_seconds_per_sentence'] * 1000:.1f} ms"
                + (f", {d['speedup']:.0f}x faster than the teacher" if d.get("speedup") else "")
                + pool_tags(d) + ran_on(d) + "."]
    for calls, d in sorted(data.get("distilled_at", {}).items(), key=lambda kv: int(kv[0])):
        curve = " → ".join(f"{r['test_entity_f1']:.3f}" for r in d["rounds"])
        out += ["", f"The same example at `budget.max_calls={calls}` (not sized to its 20 minutes): {d['calls']} calls, "
                f"{d['wall_seconds'] / 60:.1f} minutes, test entity F1 by round {curve}" + pool_tags(d) + ran_on(d)
                + "."]
    return out


def _tuning_lines(data: dict[str, Any]) -> list[str]:
    """Dev-only checks: the O weight, the teacher's instruction and demonstrations."""
    out: list[str] = []
    tuning = data.get("outside_weight_tuning")
    if tuning:
        table = tuning["dev_entity_f1"]
        sizes = sorted(table, key=int)
        keys = list(dict.fromkeys(k for n in sizes for k in table[n]))
        common = [n for n in sizes if all(k in table[n] for k in keys)]  # the mean is over these sizes only
        weight = {k: (k.split("O=")[1] if "O=" in k else "1") for k in keys}
        out += ["", f"The token probe's weight on O words (`student.outside_weight`), chosen on dev only "
                f"(`python -m bench.ner_tuning --outside-weights ...`: random pool subsets labelled from gold, "
                f"{tuning['subsets_per_size']} per size, tuning split seeds {tuning['tuning_seeds']}; mean dev "
                "entity F1; '-': not measured):", "",
                "| O weight | " + " | ".join(f"{n} sentences" for n in sizes)
                + f" | mean over {', '.join(common)} |", "|---" * (len(sizes) + 2) + "|"]
        for k in sorted(keys, key=lambda k: -float(weight[k])):
            cells = [f"{table[n][k]['mean']:.3f}" if k in table[n] else "-" for n in sizes]
            mean = sum(table[n][k]["mean"] for n in common) / max(len(common), 1)
            out.append(f"| {weight[k]} | " + " | ".join(cells) + f" | {mean:.3f} |")
    checks = data.get("teacher_dev") or {}
    if checks:
        out += ["", "The embedded teacher's instruction and demonstrations, checked on dev only (`python -m bench.ner "
                "--teacher-dev 80 --demonstrations K [--demo-bank N --demo-source gold|teacher] --set "
                "task.instruction=...`: the first 80 dev tweets of tuning split seed "
                f"{DEV_SEEDS[0]}; K nearest neighbours shown, from the whole pool with their gold entities unless a "
                "bank of N random pool tweets is named, shown with their gold entities or with the teacher's own "
                "zero-shot ones, as a run shows its earlier labels):", "",
                "| instruction | demonstrations | entity F1 | precision | recall | s per sentence |", "|---" * 6 + "|"]
        for r in checks.values():
            pr = [f"{r[k]:.3f}" if k in r else "-" for k in ("precision", "recall")]
            shown = str(r["demonstrations"])
            if r["demonstrations"] and r.get("bank"):
                own = r.get("demo_source") == "teacher"
                source = "the teacher's own labels" if own else "gold"
                shown += f" from {r['bank']} tweets, {source}"
                if own and r.get("bank_zero_shot"):
                    shown += f" (those labels' entity F1 {r['bank_zero_shot']['entity_f1']:.3f})"
            elif r["demonstrations"]:
                shown += " from the pool, gold"
            out.append(f"| {r['instruction']} | {shown} | {r['entity_f1']:.3f} | {pr[0]} | {pr[1]} | "
                       f"{r['seconds_per_sentence']} |")
    return out


def _refit_lines(data: dict[str, Any]) -> list[str]:
    """Re-fits of a kept run, and the whole gold pool's upper bound."""
    out: list[str] = []
    for key, r in data.get("refit", {}).items():
        out += ["", f"Re-fit (`--refit`, run `{key.split(' ')[0]}`: the run's own {r['train']} training sentences and "
                f"picks, only the last fit changed; {', '.join(r['overrides']) or 'no overrides'}): test entity F1 "
                f"{r['teacher_tags']['test']:.3f} (dev {r['teacher_tags']['dev']:.3f}); the same sentences with their "
                f"gold tags: {r['gold_tags_same_sentences']['test']:.3f} (dev {r['gold_tags_same_sentences']['dev']:.3f})."]
        for rule, f in r.get("filtered", {}).items():
            t = f["pool_tags"]
            out[-1] += (f" Without {SPAN_FILTERS[rule]}: the tags' entity F1 {t['entity_f1']:.3f} (precision "
                        f"{t['entity_precision']:.3f}, recall {t['entity_recall']:.3f}), the student's dev entity F1 "
                        f"{f['dev']:.3f} (test not read).")
    if data.get("upper_bound"):
        ub = data["upper_bound"]["entity_f1"]
        out += ["", f"Whole pool labelled from gold (upper bound of this student): entity F1 {ub['mean']:.3f} ± {ub['std']:.3f}."]
    return out


def markdown(data: dict[str, Any]) -> str:
    out = [*_policy_lines(data), *_paired_lines(data), *_teacher_lines(data), *_tuning_lines(data),
           *_refit_lines(data)]
    return "\n".join(out) + "\n"


DEV_SEEDS = [10, 11, 12]  # NER's tuning split seeds: dev only, never among the test seeds
DEV_FILE = "ner_dev.json"


def dev_results() -> dict[str, Any]:
    """The saved NER dev checks (policy settings under "settings", teacher checks under "teacher")."""
    path = RESULTS / DEV_FILE
    return json.loads(path.read_text()) if path.exists() else {"split": "dev", "seeds": DEV_SEEDS, "settings": {}}


def save_dev_results(saved: dict[str, Any]) -> None:
    (RESULTS / DEV_FILE).write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")


def dev_check(policies: list[str], budgets: list[int], extra: list[str]) -> dict[str, Any]:
    """Run `policies` with `extra` on DEV_SEEDS and keep the final dev entity F1 under the setting's name
    (bench/results/ner_dev.json): how a default that would change NER is checked before any NER test seed."""
    saved = dev_results()
    name = " ".join(extra) or "defaults"
    points = sweep(policies, budgets, DEV_SEEDS, extra, split="dev")
    entry = saved["settings"].setdefault(name, {})
    for policy, by_b in points.items():
        per_b = {b: {"dev_entity_f1": mean_std([v["entity_f1"] for v in by_s.values()]), "points": by_s}
                 for b, by_s in by_b.items()}
        entry.setdefault(policy, {}).update(per_b)
        means = [per_b[b]["dev_entity_f1"]["mean"] for b in per_b]
        print(f"{name} / {policy}: mean dev entity F1 {sum(means) / len(means):.4f} over budgets "
              f"{', '.join(per_b)}", flush=True)
    saved.update(machine())
    save_dev_results(saved)
    return saved


def teacher_dev_check(n: int, extra: list[str], demonstrations: int = 3, bank: int = 0,
                      demo_source: str = "gold") -> dict[str, Any]:
    """The embedded teacher on the first `n` dev sentences of tuning split seed DEV_SEEDS[0] with the task
    overrides `extra` (e.g. another instruction), kept under their name in ner_dev.json's "teacher": how a
    prompt or instruction for the NER example is chosen without looking at test."""
    saved = dev_results()
    row = embedded_teacher(n, seed=DEV_SEEDS[0], demonstrations=demonstrations, split="dev", extra=extra,
                           bank=bank, demo_source=demo_source)
    key = [*extra, f"demonstrations={demonstrations}", *([f"bank={bank}", f"demo_source={demo_source}"] if bank else [])]
    saved.setdefault("teacher", {})[" ".join(key)] = row
    save_dev_results(saved)
    print(json.dumps(row), flush=True)
    return row


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policies", nargs="+", default=POLICIES)
    ap.add_argument("--budgets", nargs="+", type=int, default=BUDGETS)
    ap.add_argument("--seeds", nargs="+", type=int, default=TEST_SEEDS)
    ap.add_argument("--upper-bound", action="store_true")
    ap.add_argument("--teacher", type=int, default=0, help="also label N test sentences with the embedded teacher")
    ap.add_argument("--teacher-dev", type=int, default=0,
                    help=f"a tuning check: the embedded teacher labels N dev sentences (split seed {DEV_SEEDS[0]}) "
                    f"with the --set task overrides, saved under their name in {DEV_FILE}")
    ap.add_argument("--demonstrations", type=int, default=3,
                    help="--teacher / --teacher-dev: gold pool neighbours shown to the teacher (0: none, as in a "
                    "run's first round)")
    ap.add_argument("--demo-bank", type=int, default=0,
                    help="--teacher-dev: retrieve the demonstrations among a random sample of N pool sentences")
    ap.add_argument("--demo-source", choices=["gold", "teacher"], default="gold",
                    help="--teacher-dev with --demo-bank: show the bank's gold tags, or the teacher's own zero-shot "
                    "tags (as a run's demonstrations are its earlier labels)")
    ap.add_argument("--distilled", action="store_true",
                    help=f"also run {EXAMPLE} end to end with the embedded teacher (about 20 minutes)")
    ap.add_argument("--distilled-calls", type=int, default=0,
                    help="also run the example with this budget.max_calls (e.g. 300: the issue's cap; not timed "
                    "against the example's 20 minutes), kept under distilled_at")
    ap.add_argument("--keep-run", type=Path, help="--distilled / --distilled-calls: keep the run folder here")
    ap.add_argument("--refit", type=Path, help="a run kept with --keep-run: re-fit its student on its own training "
                    "examples with the --set student overrides (and on their gold tags); kept under refit")
    ap.add_argument("--span-filters", nargs="*", default=[], choices=list(SPAN_FILTERS),
                    help="--refit: also re-fit on the teacher's tags without these spans (dev F1 only)")
    ap.add_argument("--only", choices=["sweep", "none"], default="sweep", help="none: skip the policy sweep")
    ap.add_argument("--render", action="store_true", help="only re-summarise the saved points and rewrite ner.md")
    ap.add_argument("--merge", action="store_true",
                    help="keep the saved points of other seeds / policies / budgets (e.g. to add seeds to a sweep)")
    ap.add_argument("--dev", action="store_true",
                    help=f"a tuning check: dev entity F1 on split seeds {DEV_SEEDS} (never test seeds), with the "
                    f"--set overrides, saved under their name in {DEV_FILE}; ner.json is not touched")
    ap.add_argument("--set", dest="extra", nargs="+", default=[],
                    help="config overrides (key=value) for --dev and --refit")
    return ap


def sweep_results(args: argparse.Namespace, old: dict[str, Any]) -> dict[str, Any]:
    """The policy sweep (with --merge: joined to the saved points of other seeds, policies and budgets)."""
    points = sweep(args.policies, args.budgets, args.seeds)
    seeds = list(args.seeds)
    if args.merge and old.get("points"):
        merged = old["points"]
        for p, by_b in points.items():
            for b, by_s in by_b.items():
                merged.setdefault(p, {}).setdefault(b, {}).update(by_s)
        points, seeds = merged, sorted(set(old.get("seeds", [])) | set(seeds))
    return {**summarise(points), "points": points, "seeds": seeds, "simulation": "oracle teacher", **machine()}


def record_teacher(data: dict[str, Any], row: dict[str, Any], demonstrations: int) -> None:
    """The teacher as measured last becomes the reference (run it as the example does); earlier measurements
    with other demonstrations stay listed under embedded_teacher_variants."""
    variants = data.setdefault("embedded_teacher_variants", {})
    if data.get("embedded_teacher"):
        variants.setdefault(f"demonstrations={data['embedded_teacher']['demonstrations']}", data["embedded_teacher"])
    variants[f"demonstrations={demonstrations}"] = row
    data["embedded_teacher"] = row


def main() -> None:
    args = _parser().parse_args()
    quiet_logs()
    if args.dev:
        dev_check(args.policies, args.budgets, args.extra)
        return
    if args.teacher_dev:
        teacher_dev_check(args.teacher_dev, args.extra, args.demonstrations, args.demo_bank, args.demo_source)
        return
    old = json.loads((RESULTS / f"{NAME}.json").read_text()) if (RESULTS / f"{NAME}.json").exists() else {}
    data = dict(old)
    if (RESULTS / OUTSIDE_FILE).exists():  # bench/ner_tuning.py --outside-weights (dev only)
        data["outside_weight_tuning"] = json.loads((RESULTS / OUTSIDE_FILE).read_text())
    teacher_checks = dev_results().get("teacher")  # --teacher-dev (dev only)
    if teacher_checks:
        data["teacher_dev"] = teacher_checks
    if args.refit:  # printed and kept under "refit", keyed by the run folder's name and the overrides
        row = refit(args.refit, args.extra, tuple(args.span_filters))
        print(json.dumps(row))
        data.setdefault("refit", {})[f"{args.refit.name} {' '.join(args.extra)}".strip()] = row
        write_results(NAME, data, markdown(data))
        return
    if args.render:
        data.update(summarise(data["points"]))
        write_results(NAME, data, markdown(data))
        return
    if args.only == "sweep":
        data.update(sweep_results(args, old))
    if args.upper_bound:
        data["upper_bound"] = upper_bound(args.seeds)
    if args.teacher:
        record_teacher(data, embedded_teacher(args.teacher, demonstrations=args.demonstrations), args.demonstrations)
    teacher_seconds = (data.get("embedded_teacher") or {}).get("seconds_per_sentence")
    if args.distilled:
        data["distilled"] = distilled(teacher_seconds=teacher_seconds, keep=args.keep_run)
    if args.distilled_calls:
        data.setdefault("distilled_at", {})[str(args.distilled_calls)] = distilled(
            teacher_seconds=teacher_seconds, overrides=[f"budget.max_calls={args.distilled_calls}"], keep=args.keep_run)
    write_results(NAME, data, markdown(data))


if __name__ == "__main__":
    main()
