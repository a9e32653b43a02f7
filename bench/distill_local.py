"""Benchmark: distilling the embedded local teacher (SmolLM2-135M via llama.cpp) on BBC topics.

1. The teacher's own test accuracy on a small stratified test sample, through the annotator prompt
   (`agents.annotator.annotation_requests` + `agents.teacher.build_teacher`): zero-shot and with the k
   nearest gold-labelled seed examples as demonstrations (what the annotator retrieves in a run).
2. Real graph runs with `teacher.provider: local` at equal token budgets (`budget.max_tokens`):
   select-only (`loop.synthesis: off`), synthesize-only (`only`) and mixed (`auto`); the student's test
   accuracy after distillation and the tokens spent.
3. Inference time per example: the teacher (one annotation call) against the students (embedding
   probe; MiniLM LoRA classifier).

    .venv/bin/python -m bench.distill_local [--sample 5] [--budgets 8000] [--curve 4000 16000] [--rounds 1] [--full]

Defaults (about 5 minutes on an idle 2-core machine): 5 test texts; one round; the three modes at
8,000 tokens and the mixed mode also at 4,000 and 16,000 (an analyst call costs ~1,800 tokens, a label
call ~950 with three demonstrations). `--full`: 30 test texts, the three modes at 8,000 and 20,000
tokens over two rounds, and the LoRA classifier student instead of the probe.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import (
    bbc_config,
    machine,
    prewarm_bbc_embeddings,
    quiet_logs,
    run_graph,
    shared_embedder,
    write_results,
)
from distillgraph.graph.config import RunConfig
from distillgraph.store.schema import Example

MODES = ("off", "only", "auto")
MODE_NAMES = {"off": "select-only", "only": "synthesize-only", "auto": "mixed"}
SEED_PER_LABEL = 2


def local_config(overrides: list[str]) -> RunConfig:
    """The shipped demo's teacher settings (examples/bbc-topic.yaml) with a few gold seeds per topic."""
    return bbc_config([
        "teacher.provider=local", "teacher.local.model=smollm2-135m", "teacher.max_tokens=160", "teacher.temperature=0", "teacher.max_concurrency=2",
        "teacher.timeout=300",
        "teacher.demonstrations=3", f"data.bbc.seed_per_label={SEED_PER_LABEL}", *overrides,
    ])


def stratified(examples: list[Example], n: int, seed: int = 0) -> list[Example]:
    """n examples spread evenly over the labels (the test split is balanced), in a seeded order."""
    by_label: dict[str, list[Example]] = {}
    for e in examples:
        by_label.setdefault(e.target or "", []).append(e)
    rng = random.Random(seed)
    for items in by_label.values():
        rng.shuffle(items)
    picked: list[Example] = []
    while len(picked) < n and any(by_label.values()):
        for label in sorted(by_label):
            if by_label[label] and len(picked) < n:
                picked.append(by_label[label].pop())
    return picked


def nearest_demos(texts: list[Example], pool: list[Example], k: int) -> list[list[dict[str, Any]]]:
    """Per text, the k most similar gold examples (cosine over the shared MiniLM cache)."""

    if k <= 0 or not pool:
        return [[] for _ in texts]
    embedder = shared_embedder(bbc_config([]).store)
    q = embedder.encode([e.text for e in texts], [e.id for e in texts])
    p = embedder.encode([e.text for e in pool], [e.id for e in pool])
    order = (-(q @ p.T)).argsort(axis=1)[:, :k]
    return [[{"id": pool[j].id, "text": pool[j].text, "target": pool[j].target} for j in row] for row in order]


def teacher_accuracy(n: int, k_values: tuple[int, ...]) -> list[dict[str, Any]]:
    """The local teacher labels n stratified test texts through the annotator prompt, per demo count."""
    from distillgraph.agents.annotator import AnnotationJob, annotation_requests, collect
    from distillgraph.agents.budget import BudgetLedger
    from distillgraph.agents.cache import AnswerCache
    from distillgraph.agents.config import BudgetConfig
    from distillgraph.agents.records import Candidate
    from distillgraph.agents.teacher import build_teacher
    from distillgraph.prompts import PromptLibrary
    from distillgraph.store.datasets import load_bbc

    cfg = local_config([])
    data = load_bbc(cfg.data.bbc, cfg.task)
    sample = stratified(data["test"], n)
    prompts = PromptLibrary()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, AnswerCache(Path(tmp) / "cache.sqlite") as cache:
        ledger = BudgetLedger(BudgetConfig(max_calls=10_000))
        teacher = build_teacher(cfg.teacher, ledger, cache, env={}, prompts=prompts, no_cache=True)
        try:
            for k in k_values:
                demos = nearest_demos(sample, data["seed"], k)
                jobs = [AnnotationJob(Candidate(id=e.id, cluster=0, source="pool", round=0), e.text, d)
                        for e, d in zip(sample, demos, strict=True)]
                reqs = annotation_requests(jobs, task=cfg.task, prompts=prompts, votes=1, node="bench")
                start = time.perf_counter()
                results = teacher.ask_many(reqs)
                wall = time.perf_counter() - start
                out = collect(jobs, results, task=cfg.task, votes=1, teacher_model=teacher.model)
                labels = {a.id: a.target for a in out.accepted}
                correct = sum(labels.get(e.id) == e.target for e in sample)
                rows.append({
                    "demonstrations": k, "n": len(sample), "accuracy": round(correct / len(sample), 4),
                    "unparsed_or_invalid": len(out.rejected), "seconds_per_example": round(wall / len(sample), 2),
                    "tokens_per_call": round(sum(r.input_tokens + r.output_tokens for r in results) / len(results), 1),
                    "concurrency": cfg.teacher.max_concurrency,
                })
                print(f"teacher, {k} demonstrations: {correct}/{len(sample)} correct, "
                      f"{wall / len(sample):.1f} s/example, {rows[-1]['tokens_per_call']} tokens/call", flush=True)
        finally:
            teacher.close()
    return rows


def distill_run(mode: str, tokens: int, student: str, rounds: int) -> dict[str, Any]:
    """One graph run with the local teacher at a token budget; final test metrics and spending."""
    cfg = local_config([
        f"loop.synthesis='{mode}'", f"budget.max_tokens={tokens}", f"student.kind={student}",
        f"loop.rounds={rounds}", f"loop.max_rounds={rounds}", "loop.patience=100", f"run.name=local-{mode}-{tokens}",
    ])
    start = time.perf_counter()
    state, _ = run_graph(cfg)
    seconds = time.perf_counter() - start
    first, last = state["history"][0], state["history"][-1]
    sources: dict[str, int] = {}
    for a in state["dataset"]:
        sources[a.source] = sources.get(a.source, 0) + 1
    row = {
        "mode": MODE_NAMES[mode], "synthesis": mode, "token_budget": tokens, "student": student,
        "tokens_spent": int(state["ledger"]["spent"]["tokens"]), "calls": int(state["ledger"]["spent"]["calls"]),
        "labels_by_source": sources, "seed_labels": SEED_PER_LABEL * len(cfg.task.labels),
        "test_accuracy_seeds_only": first.test.get("accuracy"), "test_accuracy": last.test.get("accuracy"),
        "test_macro_f1": last.test.get("macro_f1"), "rejected": len(state.get("rejected", [])),
        "seconds": round(seconds, 1),
    }
    print(f"{row['mode']:<16} {tokens} tokens: accuracy {row['test_accuracy_seeds_only']:.3f} -> "
          f"{row['test_accuracy']:.3f}, {row['tokens_spent']} tokens, {row['calls']} calls, {sources} "
          f"({seconds:.0f} s)", flush=True)
    return row


def student_inference(students: tuple[str, ...], n: int = 100) -> dict[str, float]:
    """Seconds per example of each student predicting fresh test texts (embedding included, no cache)."""
    from distillgraph.store.datasets import load_bbc
    from distillgraph.store.embed import build_embedder
    from distillgraph.trainer.base import TrainItem
    from distillgraph.trainer.config import StudentConfig
    from distillgraph.trainer.student import build_student

    cfg = local_config([])
    data = load_bbc(cfg.data.bbc, cfg.task)
    train = [TrainItem(id=e.id, text=e.text, target=e.target or "") for e in data["seed"]]
    test = data["test"][:n]
    out = {}
    for kind in students:
        scfg = StudentConfig(kind=kind, num_train_epochs=1)  # type: ignore[arg-type]
        embedder = build_embedder(cfg.store, None) if kind == "embedding-probe" else None
        student = build_student(scfg, cfg.task, embedder=embedder, progress=False)
        with tempfile.TemporaryDirectory() as tmp:
            student.fit(train, Path(tmp), round=0)
        student.predict([test[0].id], [test[0].text])  # warm-up: model loading is not inference
        start = time.perf_counter()
        student.predict([e.id for e in test[1:]], [e.text for e in test[1:]])
        out[kind] = round((time.perf_counter() - start) / (len(test) - 1), 4)
    return out


def markdown(res: dict[str, Any]) -> str:
    lines = ["## Distilling the embedded local teacher (SmolLM2-135M, llama.cpp)", "",
             f"{res['machine']}, load average {res['load_average_1m']} at the start (times move with "
             f"other load). BBC topics, annotator prompt with function calling, temperature 0.", "",
             "Teacher accuracy on a stratified test sample:", "",
             "| demonstrations | n | accuracy | invalid answers | s / example | tokens / call |",
             "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['demonstrations']} | {r['n']} | {r['accuracy']:.2f} | {r['unparsed_or_invalid']} | "
              f"{r['seconds_per_example']:.1f} | {r['tokens_per_call']:.0f} |" for r in res["teacher"]]
    lines += ["", f"Student after distillation ({res['seed_labels']} gold seed labels, {res['rounds']} round(s), "
              f"test split of "
              f"{res['test_size']}); accuracy before → after the teacher's labels:", "",
              "| mode | student | token budget | tokens spent | calls | labels by source | test accuracy | "
              "macro-F1 | s |", "|---|---|---:|---:|---:|---|---:|---:|---:|"]
    for r in res["distill"]:
        src = ", ".join(f"{k} {v}" for k, v in sorted(r["labels_by_source"].items())) or "-"
        lines.append(f"| {r['mode']} | {r['student']} | {r['token_budget']} | {r['tokens_spent']} | {r['calls']} | "
                     f"{src} | {r['test_accuracy_seeds_only']:.3f} → {r['test_accuracy']:.3f} | "
                     f"{r['test_macro_f1']:.3f} | {r['seconds']:.0f} |")
    teacher_s = min(r["seconds_per_example"] for r in res["teacher"])
    lines += ["", "Inference time per example: teacher "
              f"{teacher_s:.2f} s (one annotation call, concurrency {res['teacher'][0]['concurrency']}); "
              + "; ".join(f"{k} student {v * 1000:.1f} ms ({teacher_s / v:.0f}× faster)"
                          for k, v in res["student_inference_s"].items()) + "."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=5, help="test texts for the teacher's own accuracy")
    parser.add_argument("--budgets", type=int, nargs="+", default=[8000], help="token budgets")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--curve", type=int, nargs="*", default=[4000, 16000],
                        help="extra token budgets for the mixed mode alone (the student vs. tokens spent)")
    parser.add_argument("--full", action="store_true", help="30 texts, budgets 8k and 20k, 2 rounds, LoRA classifier")
    args = parser.parse_args()
    quiet_logs()
    sample, budgets, rounds = (30, [8000, 20000], 2) if args.full else (args.sample, args.budgets, args.rounds)
    student = "classifier" if args.full else "embedding-probe"
    prewarm_bbc_embeddings()
    res: dict[str, Any] = machine() | {"seed_labels": SEED_PER_LABEL * 5, "rounds": rounds,
                                       "test_size": local_config([]).data.bbc.test_size}
    res["teacher"] = teacher_accuracy(sample, (0, 3))
    res["distill"] = [distill_run(mode, tokens, student, rounds) for tokens in budgets for mode in args.modes]
    res["distill"] += [distill_run("auto", tokens, student, rounds) for tokens in args.curve if tokens not in budgets]
    res["distill"].sort(key=lambda r: (r["token_budget"], MODES.index(r["synthesis"])))
    res["student_inference_s"] = student_inference(("embedding-probe", "classifier"))
    write_results("distill_local", res, markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
