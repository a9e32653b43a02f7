"""The graph's nodes: small functions that take the state and return a partial update.

Each node is built by `make_nodes(deps)` as a closure over the injected dependencies (student,
teacher, store, prompts, trace). The `_node` wrapper restores the budget ledger from the state,
records the step in trace.jsonl and returns the ledger with the update, so a resumed run continues
the count exactly where the checkpoint left it.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from distillgraph.agents import analyst as A
from distillgraph.agents.annotator import AnnotationJob, annotation_requests, collect
from distillgraph.agents.generator import SynthJob, candidates_from_answers, synth_requests
from distillgraph.agents.judge import informativeness, judge_requests
from distillgraph.agents.records import Annotation, Candidate, Plan, RoundMetrics
from distillgraph.agents.schemas import JudgeAnswer, WeaknessReport
from distillgraph.agents.teacher import TeacherRequest, TeacherResult
from distillgraph.graph.deps import Deps
from distillgraph.graph.routing import stop_reason
from distillgraph.graph.state import DistillState, labelled_ids
from distillgraph.store.index import add_samples, build_index
from distillgraph.store.schema import Example, UserError
from distillgraph.trainer.selection import select_diverse

NodeFn = Callable[[DistillState], dict[str, Any]]


def make_nodes(deps: Deps) -> dict[str, NodeFn]:
    cfg = deps.cfg
    task = cfg.task
    loop = cfg.loop
    votes = cfg.teacher.self_consistency

    # ------------------------------------------------------------------ helpers

    def _node(name: str, fn: Callable[[DistillState], dict[str, Any]]) -> NodeFn:
        def run(state: DistillState) -> dict[str, Any]:
            deps.ledger.restore(state.get("ledger") or {})  # a resumed node continues the checkpointed count
            # clusters and texts of synthetic examples live in the state (a resumed process has no memory of them)
            items: list[Annotation | Candidate] = [*state.get("dataset", []), *state.get("candidates", [])]
            for item in items:
                if item.id not in deps.examples:
                    deps.assignments()[item.id] = item.cluster
                    if item.text:
                        synthetic_texts[item.id] = item.text
            step = state.get("step", 0) + 1
            rnd = state.get("round", 0)
            deps.trace.begin(name, step, rnd, deps.ledger.to_dict())
            deps.current_node = name
            t0 = time.time()
            update = fn(state)
            update["step"] = step
            update["ledger"] = ledger_state()
            summary = update.pop("_summary", {})
            summary["seconds"] = round(time.time() - t0, 3)
            deps.node_seconds[name] = deps.node_seconds.get(name, 0.0) + summary["seconds"]
            deps.trace.end(update["ledger"], summary, sorted(update))
            deps.on_step(name, step, update.get("round", rnd), summary, update["ledger"])
            return update

        run.__name__ = name
        return run

    def ledger_state() -> dict[str, Any]:
        d = deps.ledger.to_dict()
        d["exhausted"] = not deps.ledger.can_afford(calls=votes, tokens=deps.est_tokens_per_call * votes)
        return d

    def ask(requests: list[TeacherRequest]) -> list[TeacherResult]:
        results = deps.teacher.ask_many(requests) if requests else []
        for req, res in zip(requests, results, strict=True):
            deps.trace.event(
                "teacher", node=req.node, prompt=req.prompt_name, example_id=req.example_id,
                sample_index=req.sample_index, messages=req.messages if deps.trace_prompts else None,
                raw=res.raw, parsed=res.parsed.model_dump() if res.parsed is not None else None,
                error=res.error, cached=res.cached, skipped_budget=res.skipped_budget,
                tokens=res.input_tokens + res.output_tokens, attempts=res.attempts,
            )
        return results

    synthetic_texts: dict[str, str] = {}

    def text_of(ex_id: str) -> str:
        ex = deps.examples.get(ex_id)
        return ex.text if ex is not None else synthetic_texts[ex_id]

    def targets(state: DistillState) -> dict[str, str]:
        """id -> target of everything labelled that may serve as a demonstration or training item."""
        out = {e.id: e.target for e in deps.data["seed"] if e.target is not None}
        out.update({a.id: a.target for a in state.get("dataset", [])})
        return out

    def cluster_of(ex_id: str) -> int:
        return deps.assignments().get(ex_id, 0)

    def unlabelled_pool(state: DistillState) -> list[str]:
        taken = labelled_ids(state)
        return [e.id for e in deps.data["pool"] if e.id not in taken]

    def demonstrations(text: str, vector: np.ndarray | None, state: DistillState, exclude: str) -> list[dict[str, Any]]:
        k = cfg.teacher.demonstrations
        if k <= 0:
            return []
        known = targets(state)
        if not known:
            return []
        hits = deps.store.neighbours(
            text=None if vector is not None else text, vector=vector, k=4 * k + 4,
            labelled=True, split=["seed", "pool", "synthetic"], exclude_ids=[exclude],
        )
        demos = []
        for h in hits:  # the state, not Chroma's flags, says what is labelled (resume and fork agree)
            if h.id in known:
                demos.append({"id": h.id, "text": h.text or text_of(h.id), "target": known[h.id]})
            if len(demos) >= k:
                break
        return demos

    def annotate(cands: list[Candidate], state: DistillState, node: str) -> tuple[list[Annotation], list[dict[str, Any]]]:
        if not cands:
            return [], []
        texts = [c.text if c.text else text_of(c.id) for c in cands]
        vecs = deps.vectors([c.id for c in cands], texts)
        jobs = [AnnotationJob(c, t, demonstrations(t, vecs[i], state, c.id)) for i, (c, t) in enumerate(zip(cands, texts, strict=True))]
        results = ask(annotation_requests(jobs, task=task, prompts=deps.prompts, votes=votes, node=node))
        out = collect(jobs, results, task=task, votes=votes, teacher_model=deps.teacher.model)
        for r in out.rejected:
            deps.trace.decision("reject", **r)
        return out.accepted, out.rejected

    def mark_labelled(anns: list[Annotation], round_: int) -> None:
        exs = []
        for a in anns:
            base = deps.examples.get(a.id)
            text = base.text if base is not None else (a.text or "")
            split = base.split if base is not None else "synthetic"
            exs.append(Example(id=a.id, text=text, split=split,
                               label=a.target if task.type == "classification" else None,
                               output=a.target if task.type == "generation" else None))
        if exs:
            add_samples(exs, round=round_, source="labelled", embedder=deps.embedder, store=deps.store,
                        clustering=deps.clustering(), data_dir=deps.data_dir)

    # ------------------------------------------------------------------ index

    def index(state: DistillState) -> dict[str, Any]:
        exs = [e for split in ("pool", "seed", "dev", "test") for e in deps.data[split]]
        res = build_index(exs, deps.embedder, deps.store, cfg.store, deps.data_dir)
        deps.set_index(res)
        cl = res.clustering
        deps.trace.decision("clusters", k=cl.k, method=cl.method, sizes=cl.sizes)
        summary = {"k": cl.k, "method": cl.method, "embedded_new": res.n_embedded, "total": res.n_total,
                   "timings": {k: round(v, 2) for k, v in res.seconds.items()}}
        return {"run_id": deps.run_id, "round": 0, "clusters": deps.cluster_summary(), "_summary": summary}

    # ------------------------------------------------------------------ bootstrap

    def bootstrap(state: DistillState) -> dict[str, Any]:
        rng = random.Random(cfg.run.seed)
        update: dict[str, Any] = {"round": 0}
        pool_ids = [e.id for e in deps.data["pool"]]
        # dev set: gold when given, else carved from the pool (stratified by cluster) and labelled by the teacher
        dev_labels: dict[str, str] = {}
        if deps.data["dev"]:
            dev_ids = [e.id for e in deps.data["dev"]]
        else:
            by_c: dict[int, list[str]] = defaultdict(list)
            for i in pool_ids:
                by_c[cluster_of(i)].append(i)
            n = min(loop.dev_from_pool, len(pool_ids) // 3)
            picked: list[str] = []
            while len(picked) < n and any(by_c.values()):
                for c in sorted(by_c):
                    if by_c[c] and len(picked) < n:
                        picked.append(by_c[c].pop(rng.randrange(len(by_c[c]))))
            cands = [Candidate(id=i, cluster=cluster_of(i), source="dev-bootstrap", round=0) for i in picked]
            dev_anns, _ = annotate(cands, state, "bootstrap")
            dev_labels = {a.id: a.target for a in dev_anns}
            dev_ids = list(dev_labels)
            deps.trace.decision("dev carved from pool", n=len(dev_ids), paid=True)
            if not dev_ids:
                raise UserError("no dev set: none given and the teacher labelled none of the carved pool examples")
        update["dev_ids"] = dev_ids
        update["dev_labels"] = dev_labels
        # cold start: the teacher labels the representatives of every cluster
        anns: list[Annotation] = []
        if not any(e.target for e in deps.data["seed"]) and loop.bootstrap_per_cluster > 0:
            taken = set(dev_labels)
            cands = []
            if loop.policy in ("random", "uncertainty"):  # baselines without clusters start from random labels
                n = loop.bootstrap_per_cluster * deps.clustering().k
                free = sorted(i for i in pool_ids if i not in taken)
                cands = [Candidate(id=r, cluster=cluster_of(r), source="bootstrap", round=0)
                         for r in sorted(rng.sample(free, min(n, len(free))))]
            for c, reps in sorted(deps.clustering().representatives.items()) if not cands else []:
                reps = [r for r in reps if r in deps.pool_ids and r not in taken][: loop.bootstrap_per_cluster]
                cands += [Candidate(id=r, cluster=int(c), source="bootstrap", round=0) for r in reps]
            state_for_demos: DistillState = {"dataset": [], "dev_labels": dev_labels}
            anns, rejected = annotate(cands, state_for_demos, "bootstrap")
            mark_labelled(anns, 0)
            update["rejected"] = rejected
            deps.trace.decision("cold start", candidates=len(cands), accepted=len(anns))
        update["dataset"] = anns
        update["_summary"] = {"dev": len(dev_ids), "dev_from_pool": bool(dev_labels), "bootstrap_labels": len(anns),
                              "seed": len(deps.data["seed"])}
        return update

    # ------------------------------------------------------------------ trainer

    def train_items(state: DistillState) -> list[Any]:
        from distillgraph.trainer.base import TrainItem

        items = [TrainItem(id=e.id, text=e.text, target=e.target or "", cluster=cluster_of(e.id))
                 for e in deps.data["seed"] if e.target is not None]
        for a in state.get("dataset", []):
            items.append(TrainItem(id=a.id, text=text_of(a.id), target=a.target,
                                   rationale=a.rationale or None, cluster=a.cluster))
        return items

    def evaluate(ids: list[str], gold: list[str], split: str, round_: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        texts = [text_of(i) for i in ids]
        preds = deps.student.predict(ids, texts)
        clusters = [cluster_of(i) for i in ids]
        metrics = deps.metrics(gold, [p.prediction for p in preds], clusters)
        rows = [{"id": i, "gold": g, "pred": p.prediction, "probs": p.probs, "raw": p.raw, "cluster": c}
                for i, g, p, c in zip(ids, gold, preds, clusters, strict=True)]
        path = deps.run_dir / "rounds" / f"round-{round_}" / f"{split}_predictions.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        return metrics, rows

    def judge_dev(rows: list[dict[str, Any]], rnd: int) -> float | None:
        """Mean teacher-as-judge score (1..5) of the student's dev outputs (paid under `judge`)."""
        ids = [r["id"] for r in rows]
        reqs = judge_requests(ids, [text_of(i) for i in ids], [r["pred"] or "" for r in rows],
                              instruction=task.instruction, rubric=task.rubric, prompts=deps.prompts, round_=rnd)
        scores = [r.parsed.score for r in ask(reqs) if r.ok and isinstance(r.parsed, JudgeAnswer)]
        return round(sum(scores) / len(scores), 3) if scores else None

    def trainer(state: DistillState) -> dict[str, Any]:
        rnd = state.get("round", 0)
        items = train_items(state)
        if not items:
            raise UserError("nothing to train on: no seed labels and the teacher accepted no bootstrap labels "
                            "(raise the budget or give data.seed)")
        out_dir = deps.run_dir / "adapters" / f"round-{rnd}"
        stats = deps.student.fit(items, out_dir, round=rnd)
        deps.student_round = rnd
        dev_ids = state.get("dev_ids", [])
        dev_gold = [state.get("dev_labels", {}).get(i) or deps.examples[i].target or "" for i in dev_ids]
        dev, dev_rows = evaluate(dev_ids, dev_gold, "dev", rnd)
        if task.type == "generation" and loop.judge and loop.judge_dev_sample and deps.teacher_can("judge"):
            dev["judge"] = judge_dev(dev_rows[: loop.judge_dev_sample], rnd)
        test: dict[str, Any] = {}
        if deps.data["test"]:
            t_ids = [e.id for e in deps.data["test"]]
            test, _ = evaluate(t_ids, [e.target or "" for e in deps.data["test"]], "test", rnd)
        by_source: Counter[str] = Counter(a.source for a in state.get("dataset", []))
        if deps.data["seed"]:
            by_source["seed"] = len(deps.data["seed"])
        ledger = deps.ledger.to_dict()
        rm = RoundMetrics(
            round=rnd, train_size=len(items), train_by_source=dict(by_source),
            dev=deps.headline(dev), test=deps.headline(test) if test else {},
            per_cluster_dev={str(k): v for k, v in deps.per_cluster(dev).items()},
            worst_cluster=dev.get("worst_cluster_score"), cluster_spread=dev.get("cluster_spread"),
            budget_spent={k: float(v) for k, v in ledger["spent"].items()},
            spent_by_node={n: float(r["spent"]["calls"]) for n, r in ledger["nodes"].items()},
            node_seconds=dict(deps.node_seconds), train_seconds=float(stats.get("seconds", 0.0)), adapter=str(out_dir),
        )
        with (deps.run_dir / "metrics.jsonl").open("a", encoding="utf-8") as f:
            f.write(rm.model_dump_json() + "\n")
        history = list(state.get("history", [])) + [rm]
        why = stop_reason({**state, "history": history, "ledger": ledger_state(), "round": rnd}, loop, cfg.dev_metric)
        deps.trace.decision("route", next="report" if why else "analyst", reason=why or "budget left, still improving")
        return {"history": [rm], "adapter": str(out_dir), "stop_reason": why or "",
                "_summary": {"train_size": len(items), "dev": rm.dev, "test": rm.test, "train": stats}}

    # ------------------------------------------------------------------ analyst

    def ensure_student(state: DistillState) -> None:
        """After a resume the in-memory student may not hold the latest adapter: load it."""
        rnd = state.get("round", 0)
        if deps.student_round != rnd and state.get("adapter"):
            deps.student.load(Path(state["adapter"]))
            deps.student_round = rnd

    def read_predictions(round_: int, split: str) -> list[dict[str, Any]]:
        path = deps.run_dir / "rounds" / f"round-{round_}" / f"{split}_predictions.jsonl"
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def analyst(state: DistillState) -> dict[str, Any]:
        prev = state.get("round", 0)
        rnd = prev + 1
        stage = rnd - 1
        rows = read_predictions(prev, "dev")
        ids = [r["id"] for r in rows]
        flags = deps.correct_flags(rows)
        stats = A.error_stats(ids, [text_of(i) for i in ids], [r["gold"] for r in rows],
                              [r["pred"] for r in rows], [r["cluster"] for r in rows], flags)
        names = deps.cluster_names()
        weaknesses = []
        last = state["history"][-1] if state.get("history") else None
        metrics_line = ", ".join(f"{k} {v:.3f}" for k, v in (last.dev if last else {}).items())
        if deps.teacher_can("analyse") and stats.wrong:
            tpl = deps.prompts.get("analyst")
            v = A.weakness_request_vars(stats, metrics_line, names, loop.analyst_examples)
            msgs = tpl.render(task_type=task.type, instruction=task.instruction, labels=task.labels, **v)
            res = ask([TeacherRequest(node="analyst", messages=msgs, schema=WeaknessReport, prompt_name=tpl.name,
                                      prompt_hash=tpl.hash, sample_index=rnd, kind="analyse")])[0]
            if res.ok and isinstance(res.parsed, WeaknessReport):
                weaknesses = A.weaknesses_from_report(res.parsed, set(ids), set(task.label_names), set(names))
        if not weaknesses:
            weaknesses = A.weaknesses_from_stats(stats, names)
        # budget of this round: what is left, spread over the stages left (BalDistill's B/K)
        avail = Counter(cluster_of(i) for i in unlabelled_pool(state))
        stages_left = max(loop.rounds - stage, 1)
        budget_calls = deps.calls_left() / stages_left
        cost_select = float(votes)
        can_synth = deps.teacher_can("synth") and loop.synthesis != "off"
        cost_synth = votes + 1.0 / loop.synth_per_call
        natural = {int(c): float(s) for c, s in deps.clustering().sizes.items()}
        if loop.policy != "distillgraph":
            can_synth = False  # the baselines select from the pool only
        synth_guess = 1.0 if loop.synthesis == "only" else (0.3 if can_synth else 0.0)
        scoring_calls = 0
        if deps.scoring_method() == "judge" and deps.teacher_can("judge"):
            # judging is paid too: set aside the next trainer's dev judging and this round's pool judging
            budget_calls -= loop.judge_dev_sample if (task.type == "generation" and loop.judge) else 0
            scoring_calls = int(max(0, min(loop.score_sample, sum(avail.values()), budget_calls / 2)))
            budget_calls -= scoring_calls
        samples = A.samples_for_budget(budget_calls, cost_select, cost_synth, synth_guess)
        policy = loop.policy
        weak_clusters = {c for w in weaknesses for c in w.clusters} if policy == "distillgraph" else set()
        plans = A.allocate(
            samples=samples, natural=natural, errors=stats.per_cluster, available=dict(avail),
            # cluster_balanced: the uniform end of the balancing schedule from the first round on
            stage=loop.rounds if policy == "cluster_balanced" else (0 if policy in ("random", "uncertainty") else stage),
            stages=loop.rounds, error_boost=loop.error_boost if policy == "distillgraph" else 0.0,
            tail_factor=loop.tail_factor, synthesis=loop.synthesis if policy == "distillgraph" else "off",
            can_synthesize=can_synth, weakness_clusters=weak_clusters, names=names)
        focus: dict[int, str] = {}
        for w in weaknesses:
            for c in w.clusters:
                focus.setdefault(c, w.description)
        plan = Plan(round=rnd, stage=stage, stages=loop.rounds, budget_calls=round(budget_calls, 2),
                    cost_per_select=cost_select, cost_per_synth=cost_synth, samples=samples,
                    scoring_calls=scoring_calls, clusters=plans,
                    weakness_focus=focus,
                    notes=[f"{deps.calls_left():.1f} call-equivalents left over {stages_left} stage(s)"])
        for p in plans:
            deps.trace.decision("allocate", cluster=p.cluster, quota=p.quota, select=p.select,
                                synthesize=p.synthesize, kind=p.kind, reason=p.reason)
        return {"round": rnd, "plan": plan, "weaknesses": weaknesses,
                "_summary": {"samples": samples, "budget_calls": round(budget_calls, 2), "weaknesses": len(weaknesses),
                             "errors": {str(k): round(v, 3) for k, v in stats.per_cluster.items()}}}

    # ------------------------------------------------------------------ generator

    def score_pool(ids: list[str], state: DistillState, rnd: int) -> np.ndarray:
        texts = [text_of(i) for i in ids]
        method = deps.scoring_method()
        if method == "judge":
            preds = deps.student.predict(ids, texts)
            outs = [p.prediction or p.raw or "" for p in preds]
            reqs = judge_requests(ids, texts, outs, instruction=task.instruction, rubric=task.rubric,
                                  prompts=deps.prompts, round_=rnd)
            return informativeness(ask(reqs))
        if method == "embedding":
            preds = deps.student.predict(ids, texts)
            outs = [p.prediction or p.raw or "" for p in preds]
            a = deps.embedder.encode(outs)
            b = deps.vectors(ids, texts)
            return 1.0 - np.sum(a * b, axis=1)
        return deps.student.score(texts, method)

    def select_per_cluster(by_c: dict[int, list[str]], plan: Plan, state: DistillState, rnd: int,
                           rng: random.Random) -> list[Candidate]:
        """Each cluster's quota from its own unlabelled pool: most informative first, kept diverse
        (cluster_balanced: nearest to the centroid first, as in the clustering paper)."""
        out = []
        wanted = {p.cluster: p.select for p in plan.clusters if p.select > 0}
        total_sel = sum(wanted.values())
        for c, k in sorted(wanted.items()):
            ids = by_c.get(c, [])
            if plan.scoring_calls:  # paid scoring (judge): this cluster's share of the calls set aside for it
                cap = max(k, int(plan.scoring_calls * k / max(total_sel, 1)))
            else:
                cap = max(k * 4, int(loop.score_sample * k / max(total_sel, 1)))
            if len(ids) > cap and loop.policy != "cluster_balanced":
                ids = sorted(rng.sample(ids, cap))
            if not ids:
                continue
            vecs = deps.vectors(ids, None)
            if loop.policy == "cluster_balanced":
                centroid = np.asarray(deps.clustering().centroids[c], dtype=np.float32)
                scores = vecs @ (centroid / (np.linalg.norm(centroid) or 1.0))
            else:
                scores = score_pool(ids, state, rnd)
            min_dist = loop.diversity if loop.policy == "distillgraph" else 0.0
            chosen = select_diverse(ids, scores, vecs, k, min_dist)
            sc = dict(zip(ids, scores.tolist(), strict=True))
            out += [Candidate(id=i, cluster=c, source="pool", round=rnd, score=sc[i]) for i in chosen]
            deps.trace.decision("select", cluster=c, scored=len(ids), chosen=len(chosen),
                                top_score=round(max(sc[i] for i in chosen), 4) if chosen else None,
                                chosen_ids=chosen, scores={i: round(v, 4) for i, v in sc.items()})
        return out

    def select_global(unl: list[str], plan: Plan, state: DistillState, rnd: int, rng: random.Random) -> list[Candidate]:
        """Baselines that ignore clusters: uniform random, or the highest entropy over the whole pool."""
        k = min(sum(p.select for p in plan.clusters), len(unl))
        if loop.policy == "random":
            chosen, sc = sorted(rng.sample(unl, k)), {}
        else:
            scores = score_pool(unl, state, rnd)
            order = np.argsort(-scores, kind="stable")[:k]
            chosen, sc = [unl[i] for i in order], {unl[i]: float(scores[i]) for i in order}
        deps.trace.decision("select", policy=loop.policy, pool=len(unl), chosen=len(chosen))
        return [Candidate(id=i, cluster=cluster_of(i), source="pool", round=rnd, score=sc.get(i)) for i in chosen]

    def generator(state: DistillState) -> dict[str, Any]:
        ensure_student(state)
        rnd = state["round"]
        plan = state["plan"]
        assert plan is not None, "the generator runs after the analyst"
        rng = random.Random(cfg.run.seed * 1000 + rnd)
        unl = unlabelled_pool(state)
        by_c: dict[int, list[str]] = defaultdict(list)
        for i in unl:
            by_c[cluster_of(i)].append(i)
        cands: list[Candidate] = []
        # (a) select: the most informative unlabelled pool examples of each cluster, kept diverse
        if loop.policy in ("random", "uncertainty"):
            cands += select_global(unl, plan, state, rnd, rng)
        else:
            cands += select_per_cluster(by_c, plan, state, rnd, rng)
        # (b) synthesize: new inputs for tail clusters and uncovered weaknesses
        jobs = []
        wrong = [r for r in read_predictions(rnd - 1, "dev") if not deps.correct_flags([r])[0]]
        known = targets(state)
        for p in plan.clusters:
            if p.synthesize <= 0:
                continue
            labelled_c = [i for i in known if cluster_of(i) == p.cluster]
            reps = [r for r in deps.clustering().representatives.get(p.cluster, []) if r in known] + labelled_c
            examples = [{"text": text_of(i), "target": known[i]} for i in list(dict.fromkeys(reps))[:4]]
            errors = [{"text": text_of(r["id"]), "target": r["gold"], "predicted": r["pred"] or "(unparseable)"}
                      for r in wrong if r["cluster"] == p.cluster][:3]
            jobs.append(SynthJob(cluster=p.cluster, cluster_name=p.name, n=p.synthesize,
                                 weakness=plan.weakness_focus.get(p.cluster, ""), examples=examples, errors=errors))
        pairs = synth_requests(jobs, task=task, prompts=deps.prompts, per_call=loop.synth_per_call,
                               easy_fraction=loop.easy_fraction, round_=rnd, temperature=cfg.teacher.synth_temperature)
        results = ask([r for _, r in pairs])
        synth, failed = candidates_from_answers(pairs, results, rnd, cfg.data.max_text_chars)
        # drop near-duplicates of existing data (and of each other)
        kept: list[Candidate] = []
        if synth:
            vecs = deps.vectors([c.id for c in synth], [c.text or "" for c in synth])
            for c, v in zip(synth, vecs, strict=True):
                near = deps.store.neighbours(vector=v, k=1, exclude_ids=[c.id])
                if near and near[0].distance < loop.near_duplicate:
                    deps.trace.decision("drop near-duplicate", id=c.id, of=near[0].id, distance=round(near[0].distance, 4))
                    continue
                kept.append(c)
            if kept:
                clusters = add_samples(
                    [Example(id=c.id, text=c.text or "", split="synthetic") for c in kept], round=rnd,
                    source="synthetic", embedder=deps.embedder, store=deps.store, clustering=deps.clustering(),
                    data_dir=deps.data_dir)
                for c, nc in zip(kept, clusters, strict=True):
                    if nc != c.cluster:  # it stays in the cluster it was written for
                        deps.trace.decision("synthetic lands in another cluster", id=c.id, asked=c.cluster, nearest=nc)
        cands += kept
        return {"candidates": cands, "_summary": {"selected": len(cands) - len(kept), "synthesized": len(kept),
                                                  "synth_calls_failed": failed, "near_duplicates": len(synth) - len(kept)}}

    # ------------------------------------------------------------------ annotator

    def annotator(state: DistillState) -> dict[str, Any]:
        rnd = state["round"]
        cands = state.get("candidates", [])
        accepted, rejected = annotate(cands, state, "annotator")
        mark_labelled(accepted, rnd)
        return {"dataset": accepted, "rejected": rejected, "candidates": [],
                "_summary": {"candidates": len(cands), "accepted": len(accepted), "rejected": len(rejected),
                             "by_label": dict(Counter(a.target for a in accepted)) if task.type == "classification" else {}}}

    # ------------------------------------------------------------------ report

    def report(state: DistillState) -> dict[str, Any]:
        path = deps.write_report(state)
        return {"report": str(path), "_summary": {"report": str(path), "stop_reason": state.get("stop_reason", "")}}

    nodes = {"index": index, "bootstrap": bootstrap, "trainer": trainer, "analyst": analyst,
             "generator": generator, "annotator": annotator, "report": report}
    return {name: _node(name, fn) for name, fn in nodes.items()}
