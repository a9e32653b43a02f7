"""Scale benchmark: the index step, Chroma and per-round orchestration against pool size, and the
teacher client's concurrency against a loopback stub with 200 ms latency.

    .venv/bin/python -m bench.scale                       # pools of 2,000 and 5,000 texts (about 6 min on 2 idle cores)
    .venv/bin/python -m bench.scale --sizes 20000,100000  # larger pools (--full: 2k, 20k and 100k)
    .venv/bin/python -m bench.scale --gpu                 # the CUDA-vs-CPU check behind bench/gpu.sh

Corpus: synthetic and reproducible. Every text is 2-4 sentences sampled (seeded) from one BBC article, so
texts are realistic, topic-coherent and as many as wanted. Each pool size runs in its own child process
(so its peak RSS is its own) and does, with the packaged MiniLM embedder unless --embedding-model:

* raw embedding throughput: a fresh embedder encodes a sample of the pool (model loading excluded), before
  and after the graph run (their mean is the reference, so a load change during the run biases less);
* a real graph run (`graph.runner.execute`): the index step over the pool, then 3 rounds with the
  embedding-probe student and a zero-latency loopback stub as the teacher, on-disk Chroma;
* `index_throughput_ratio`: texts/s of the index step (embed + cluster + Chroma add; model loading
  excluded) over the raw texts/s;
* `round_orchestration_s`: per round, the seconds of analyst, generator, annotator and trainer minus the
  time spent inside the student (fit / predict / score), the embedder and teacher HTTP calls;
* `chroma_add_per_s` from the index step, `chroma_query_ms`: 200 unfiltered 10-NN queries on the run's
  collection; `peak_rss_gb`: the child's peak resident memory.

Results: bench/results/scale.json (+ scale.md), shape
`{"pools": {N: {...}}, "teacher_concurrency": {C: efficiency}, "gpu": {...} | null}`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RESULTS = Path(__file__).resolve().parent / "results"
LABELS = ("business", "entertainment", "politics", "sports", "tech")  # the BBC corpus folders
DEFAULT_SIZES = (2000, 5000)
FULL_SIZES = (2000, 20000, 100000)
RAW_SAMPLE = 1000
TEACHER_LATENCY_S = 0.2
CONCURRENCIES = (8, 32, 64)
SUSTAINED_PER_SLOT = 16  # requests per concurrency slot for the headline efficiency
BURST_PER_SLOT = 4  # a short batch, reported beside it
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


# ---------------------------------------------------------------- the synthetic corpus


def corpus(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """(text, topic) pairs: each text 2-4 sentences of one BBC article, sampled with `seed`; all distinct."""
    from distillgraph.store.datasets import bbc_articles

    articles = []
    for topic, _head, body in bbc_articles():
        sentences = [s.strip() for s in _SENTENCE.split(body.replace("\n", " ")) if len(s.strip()) > 20]
        if len(sentences) >= 4:
            articles.append((topic, sentences))
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    while len(out) < n:
        topic, sentences = articles[rng.randrange(len(articles))]
        start = rng.randrange(len(sentences))
        picked = sorted(rng.sample(range(len(sentences)), rng.randint(2, 4)), key=lambda i: (i - start) % len(sentences))
        text = " ".join(sentences[i] for i in picked)
        if text not in seen:
            seen.add(text)
            out.append((text, topic))
    return out


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------- timers (child process)


class Clock:
    """Wall seconds spent inside wrapped calls; overlapping calls (threads) count once (interval union)."""

    def __init__(self) -> None:
        self.total = 0.0
        self._active = 0
        self._since = 0.0
        self._lock = threading.Lock()

    def wrap(self, owner: Any, name: str) -> None:
        original = getattr(owner, name)
        clock = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            clock._enter()
            try:
                return original(*args, **kwargs)
            finally:
                clock._exit()

        setattr(owner, name, timed)

    def _enter(self) -> None:
        with self._lock:
            if self._active == 0:
                self._since = time.perf_counter()
            self._active += 1

    def _exit(self) -> None:
        with self._lock:
            self._active -= 1
            if self._active == 0:
                self.total += time.perf_counter() - self._since


def scale_config(n: int, work: Path, store_cfg: Any, rounds: int) -> Any:
    """The run config of one pool size: the probe student, a stub teacher, 12 calls per round."""
    from distillgraph.graph.config import config_from_dict

    return config_from_dict({
        "task": {"type": "classification", "name": f"scale-{n}", "instruction": "Classify the news text by topic.",
                 "labels": {lb: "" for lb in LABELS}},
        "data": {"pool": str(work / "pool.jsonl"), "dev": str(work / "dev.jsonl")},
        "teacher": {"provider": "openai", "model": "stub", "base_url": "http://127.0.0.1:1/v1",
                    "max_concurrency": 8, "demonstrations": 2},
        "student": {"kind": "embedding-probe"},
        "store": store_cfg.model_dump(exclude_defaults=True),
        "loop": {"rounds": rounds, "max_rounds": rounds, "patience": rounds + 1, "score_sample": 400},
        "budget": {"max_calls": 12 * rounds},
        "run": {"dir": str(work / "runs")},
    })


def orchestration_per_round(steps: list[dict[str, Any]]) -> dict[int, float]:
    """Per loop round, the nodes' seconds outside the student, the embedder, the teacher and model loading."""
    per_round: dict[int, float] = {}
    for s in steps:
        if s["node"] in ("analyst", "generator", "annotator", "trainer") and s["round"] >= 1:
            own = s["seconds"] - s["student"] - s["embed"] - s["teacher"] - s["load"]
            per_round[s["round"]] = per_round.get(s["round"], 0.0) + max(0.0, own)
    return per_round


def chroma_query_ms(run_dir: Path, n_queries: int = 200) -> float:
    """Milliseconds per 10-neighbour query of the run's Chroma collection (random query vectors)."""
    import chromadb
    import numpy as np
    from chromadb.config import Settings

    client = chromadb.PersistentClient(path=str(run_dir / "chroma"), settings=Settings(anonymized_telemetry=False))
    collection = client.get_collection(client.list_collections()[0].name)
    dim = len(collection.get(limit=1, include=["embeddings"])["embeddings"][0])
    queries = np.random.default_rng(0).standard_normal((n_queries, dim)).astype(np.float32)
    start = time.perf_counter()
    for q in queries:
        collection.query(query_embeddings=q.reshape(1, -1), n_results=10, include=["metadatas", "distances"])
    return 1000 * (time.perf_counter() - start) / len(queries)


def measure_pool(n: int, work: Path, embedding_model: str | None, rounds: int = 3) -> dict[str, Any]:
    """One pool size, in this (child) process: raw embedding, a graph run, Chroma queries, peak RSS."""
    import httpx
    from rich.console import Console

    from distillgraph.graph.runner import execute, new_run_dir
    from distillgraph.store.embed import Embedder, build_embedder
    from distillgraph.store.schema import StoreConfig
    from distillgraph.trainer.probe import ProbeStudent
    from tests.stub_server import StubServer

    pairs = corpus(n + 200, seed=n)
    pool, dev = pairs[:n], pairs[n:]
    work.mkdir(parents=True, exist_ok=True)
    write_jsonl(work / "pool.jsonl", [{"text": t} for t, _ in pool])
    write_jsonl(work / "dev.jsonl", [{"text": t, "label": lb} for t, lb in dev])
    store_cfg = StoreConfig(embedding_model=embedding_model)

    sample = [t for t, _ in pool[:RAW_SAMPLE]]

    def raw_rate() -> float:
        """Raw embedding throughput: a fresh embedder, no cache, model loading excluded."""
        raw = build_embedder(store_cfg, None)
        raw.progress = False
        raw.encode(sample[:8])  # loads the model (not timed)
        start = time.perf_counter()
        raw.encode(sample)
        return len(sample) / (time.perf_counter() - start)

    raw_before = raw_rate()  # measured again after the run: the mean of both brackets the index step in time

    clocks = {name: Clock() for name in ("student", "embed", "teacher", "load")}
    for name in ("fit", "predict", "score"):
        clocks["student"].wrap(ProbeStudent, name)
    clocks["embed"].wrap(Embedder, "_embed")
    clocks["load"].wrap(Embedder, "_load_model")
    clocks["teacher"].wrap(httpx.Client, "send")

    steps: list[dict[str, Any]] = []
    last = {k: 0.0 for k in clocks}

    def on_step(node: str, number: int, round_: int, summary: dict[str, Any], ledger: dict[str, Any]) -> None:
        now = {k: c.total for k, c in clocks.items()}
        delta = {k: now[k] - last[k] for k in clocks}
        last.update(now)
        steps.append({"node": node, "round": round_, "seconds": summary.get("seconds", 0.0), **delta,
                      "timings": summary.get("timings")})

    cfg = scale_config(n, work, store_cfg, rounds)
    with StubServer() as stub:
        cfg.teacher.base_url = stub.base_url
        run_dir = new_run_dir(cfg)
        execute(cfg, run_dir, env={}, console=Console(quiet=True), progress=False, on_step=on_step)

    raw_after = raw_rate()
    raw_per_s = (raw_before + raw_after) / 2
    index = next(s for s in steps if s["node"] == "index")
    n_indexed = n + len(dev)
    index_s = index["seconds"] - index["load"]
    per_round = orchestration_per_round(steps)
    query_ms = chroma_query_ms(run_dir)
    timings = index["timings"] or {}
    return {
        "index_throughput_ratio": round((n_indexed / index_s) / raw_per_s, 3),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 3),
        "round_orchestration_s": round(sum(per_round.values()) / max(1, len(per_round)), 3),
        "chroma_add_per_s": round(n_indexed / max(timings.get("add", 0.0), 1e-9), 1),
        "chroma_query_ms": round(query_ms, 2),
        "detail": {
            "texts_indexed": n_indexed,
            "raw_embed_texts_per_s": round(raw_per_s, 1),
            "raw_embed_texts_per_s_before_after": [round(raw_before, 1), round(raw_after, 1)],
            "index_texts_per_s": round(n_indexed / index_s, 1),
            "index_seconds": round(index["seconds"], 2),
            "index_model_load_s": round(index["load"], 2),
            "index_stages_s": timings,
            "rounds_measured": sorted(per_round),
            "orchestration_s_per_round": {str(k): round(v, 3) for k, v in sorted(per_round.items())},
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
    }


# ---------------------------------------------------------------- teacher concurrency


def slow_responder(body: dict[str, Any]) -> dict[str, Any]:
    from tests.stub_server import schema_responder

    time.sleep(TEACHER_LATENCY_S)
    return schema_responder(body)


@contextlib.contextmanager
def stub_process() -> Iterator[str]:
    """The 200 ms stub in its own process (as a real endpoint is): it does not share the client's GIL."""
    proc = subprocess.Popen([sys.executable, "-m", "bench.scale", "--stub-server"], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait()


def teacher_concurrency(concurrencies: tuple[int, ...] = CONCURRENCIES) -> dict[str, Any]:
    """Fresh label requests against a loopback stub answering after 200 ms; efficiency = measured req/s over
    the ideal concurrency / latency, sustained (SUSTAINED_PER_SLOT requests per slot); a short burst
    (BURST_PER_SLOT per slot, where ramp-up and the last answer weigh more) is reported beside it."""
    from distillgraph.agents.budget import BudgetLedger
    from distillgraph.agents.cache import AnswerCache
    from distillgraph.agents.config import BudgetConfig, TeacherConfig
    from distillgraph.agents.schemas import label_answer_schema
    from distillgraph.agents.teacher import TeacherRequest, build_teacher
    from distillgraph.prompts import PromptLibrary
    schema = label_answer_schema(LABELS)
    texts = [t for t, _ in corpus(max(concurrencies) * (SUSTAINED_PER_SLOT + BURST_PER_SLOT + 1), seed=7)]
    out: dict[str, Any] = {}

    def requests(tag: str, first: int, n: int) -> list[TeacherRequest]:
        return [TeacherRequest(node="annotator", schema=schema, example_id=f"{tag}-{i}", messages=[
            {"role": "system", "content": "Classify the news text into one of: " + ", ".join(LABELS) + "."},
            {"role": "user", "content": texts[first + i]}]) for i in range(n)]

    with tempfile.TemporaryDirectory() as tmp:
        for c in concurrencies:
            with stub_process() as base_url, AnswerCache(Path(tmp) / f"cache-{c}.sqlite") as cache:
                cfg = TeacherConfig(base_url=base_url, model="stub", max_concurrency=c)
                teacher = build_teacher(cfg, BudgetLedger(BudgetConfig(max_calls=len(texts) + c)), cache, env={},
                                        prompts=PromptLibrary())
                teacher.ask_many(requests(f"warm{c}", 0, c))  # clients, connections, cache: steady state first
                row: dict[str, Any] = {}
                for name, per_slot, first in (("burst", BURST_PER_SLOT, c), ("sustained", SUSTAINED_PER_SLOT,
                                                                               c * (1 + BURST_PER_SLOT))):
                    n = c * per_slot
                    start = time.perf_counter()
                    results = teacher.ask_many(requests(f"{name}{c}", first, n))
                    seconds = time.perf_counter() - start
                    assert all(r.ok for r in results), "stub answers failed"
                    row[name] = {"efficiency": round((n / seconds) / (c / TEACHER_LATENCY_S), 3), "requests": n,
                                 "req_per_s": round(n / seconds, 1)}
                teacher.close()
            out[str(c)] = {"efficiency": row["sustained"]["efficiency"], "req_per_s": row["sustained"]["req_per_s"],
                           "ideal_req_per_s": c / TEACHER_LATENCY_S, "burst": row["burst"],
                           "sustained": row["sustained"]}
    return out


# ---------------------------------------------------------------- GPU check (bench/gpu.sh)


def gpu_check() -> dict[str, Any] | None:
    """Embedding throughput and a LoRA step on CUDA against CPU; None without a CUDA GPU."""
    import torch

    if not torch.cuda.is_available():
        return None
    from distillgraph.store.embed import Embedder
    from distillgraph.store.schema import TaskConfig
    from distillgraph.trainer.base import TrainItem
    from distillgraph.trainer.config import StudentConfig
    from distillgraph.trainer.student import build_student

    texts = [t for t, _ in corpus(2000, seed=3)]
    result: dict[str, Any] = {"device": torch.cuda.get_device_name(0)}
    for device, n in (("cuda", 2000), ("cpu", 200)):
        emb = Embedder(device=device, progress=False)
        _ = emb.model
        emb.encode(texts[:32])
        start = time.perf_counter()
        emb.encode(texts[:n])
        result[f"embed_texts_per_s_{device}"] = round(n / (time.perf_counter() - start), 1)
        result[f"embed_batch_{device}"] = emb.batch_size  # on a GPU: grown to fit its free memory (store/device.py)
    task = TaskConfig(labels={lb: "" for lb in LABELS})
    items = [TrainItem(id=str(i), text=t, target=lb) for i, (t, lb) in enumerate(corpus(64, seed=4))]
    for device in ("cuda", "cpu"):
        student = build_student(StudentConfig(device=device, num_train_epochs=1), task, progress=False)
        with tempfile.TemporaryDirectory() as tmp:
            stats = student.fit(items, Path(tmp), round=0)
        result[f"lora_step_s_{device}"] = round(stats["seconds"] / stats["steps"], 4)
    result["embed_speedup"] = round(result["embed_texts_per_s_cuda"] / result["embed_texts_per_s_cpu"], 1)
    result["lora_step_speedup"] = round(result["lora_step_s_cpu"] / result["lora_step_s_cuda"], 1)
    return result


def gpu_lines(gpu: dict[str, Any] | None) -> list[str]:
    """The GPU check (bench/gpu.sh) as prose: measured speeds, the demo on the GPU, notes."""
    if not gpu:
        return ["GPU: none measured (bench/gpu.sh exits 0 with one line where there is no CUDA GPU)."]
    head = (f"GPU check (`bash bench/gpu.sh`, {gpu['device']}, {gpu.get('date', 'date not recorded')}): MiniLM "
            f"embedding {gpu['embed_texts_per_s_cuda']:,.0f} texts/s on the GPU against "
            f"{gpu['embed_texts_per_s_cpu']:,.0f} on the same machine's CPU ({gpu['embed_speedup']}x); a LoRA step "
            f"{gpu['lora_step_s_cuda']} s against {gpu['lora_step_s_cpu']} s ({gpu['lora_step_speedup']}x).")
    if "demo_seconds" in gpu:
        curve = " -> ".join(f"{f:.3f}" for f in gpu.get("demo_test_macro_f1", []))
        head += (f" The demo config on the GPU: {gpu['demo_seconds']} s with the {gpu.get('demo_teacher', 'local')} "
                 f"teacher" + (f", test macro-F1 by round {curve}." if curve else "."))
    lines = [head, *([f"Machine: {gpu['machine']}."] if gpu.get("machine") else []),
             *[f"Note: {n}" for n in gpu.get("notes", [])]]
    return [x for line in lines for x in (line, "")][:-1]


# ---------------------------------------------------------------- driver


def markdown(result: dict[str, Any]) -> str:
    lines = ["## Scale: index, Chroma, orchestration, teacher concurrency", "",
             f"Synthetic pools (2-4 sentences of one BBC article each), {result['machine']}, "
             f"embedder {result['embedding_model']}. `python -m bench.scale`.", "",
             "Raw and index embedding rates are measured minutes apart in the same child process; on a shared "
             "machine both move with its load (see the `detail` of each pool in scale.json). The index step sorts "
             "the whole pool by length before batching, so it pads less than the raw reference (1,000 texts) and "
             "can embed faster per text: a ratio above 1 means no measurable cost, and the embedding stage's "
             "share of the index step's time (the rest: clustering, Chroma add) is the cost measured on its own.", "",
             "| pool | index / raw embedding | embedding share of index time | peak RSS GB | orchestration s/round "
             "| Chroma add/s | query ms | measured |",
             "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for n, row in result["pools"].items():
        stages = row.get("detail", {}).get("index_stages_s", {})
        share = f"{stages['embed'] / stages['total']:.2f}" if stages.get("total") else ""
        lines.append(f"| {int(n):,} | {row['index_throughput_ratio']:.2f} | {share} | {row['peak_rss_gb']:.2f} | "
                     f"{row['round_orchestration_s']:.3f} | {row['chroma_add_per_s']:,.0f} | {row['chroma_query_ms']:.1f} | "
                     f"{row.get('measured', 'earlier (not recorded)')} |")
    lines += ["", f"Teacher client against a loopback stub with {int(TEACHER_LATENCY_S * 1000)} ms latency "
              f"(its own process; efficiency = req/s over concurrency / latency, after a warm-up; sustained = "
              f"{SUSTAINED_PER_SLOT} requests per slot, burst = {BURST_PER_SLOT} per slot, where ramp-up and the "
              "slowest last answer weigh more):", "",
              "| concurrency | efficiency (sustained) | req/s | burst efficiency |", "|---:|---:|---:|---:|"]
    for c, row in result.get("teacher_concurrency_detail", {}).items():
        burst = row.get("burst", {}).get("efficiency")
        lines.append(f"| {c} | {row['efficiency']:.2f} | {row['req_per_s']:.1f} | "
                     f"{'' if burst is None else f'{burst:.2f}'} |")
    lines += ["", *gpu_lines(result.get("gpu"))]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=None, help="comma-separated pool sizes (default 2000,5000)")
    parser.add_argument("--full", action="store_true", help="pools of 2k, 20k and 100k texts")
    parser.add_argument("--embedding-model", default=None, help="store.embedding_model (default: packaged MiniLM)")
    parser.add_argument("--no-teacher", action="store_true",
                        help="skip the teacher concurrency part (the figures already in --out are kept)")
    parser.add_argument("--merge", action="store_true",
                        help="keep the pool sizes already in --out that this run does not measure")
    parser.add_argument("--gpu", action="store_true", help="only the CUDA-vs-CPU check; prints JSON")
    parser.add_argument("--teacher-only", action="store_true", help="re-measure only the teacher part of --out")
    parser.add_argument("--stub-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--work", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(RESULTS / "scale.json"))
    args = parser.parse_args()
    if args.stub_server:
        from tests.stub_server import StubServer

        with StubServer(responder=slow_responder) as srv:
            print(srv.base_url, flush=True)
            while True:
                time.sleep(3600)
    if args.gpu:
        print(json.dumps(gpu_check()))
        return
    if args.child is not None:
        print("RESULT " + json.dumps(measure_pool(args.child, Path(args.work), args.embedding_model)))
        return
    if args.teacher_only:
        out = Path(args.out)
        result = json.loads(out.read_text())
        result["teacher_concurrency_detail"] = detail = teacher_concurrency()
        result["teacher_concurrency"] = {c: row["efficiency"] for c, row in detail.items()}
        result["teacher_load_average_1m"] = round(os.getloadavg()[0], 2)
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        out.with_suffix(".md").write_text(markdown(result), encoding="utf-8")
        print(json.dumps(result["teacher_concurrency_detail"]))
        return
    from bench.harness import cpu_model

    sizes = FULL_SIZES if args.full else tuple(int(s) for s in (args.sizes or "").split(",") if s) or DEFAULT_SIZES
    pools: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="dg-scale-") as tmp:
        for n in sizes:
            cmd = [sys.executable, "-m", "bench.scale", "--child", str(n), "--work", str(Path(tmp) / str(n))]
            if args.embedding_model:
                cmd += ["--embedding-model", args.embedding_model]
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if proc.returncode != 0 or line is None:
                sys.exit(f"bench.scale: pool {n} failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")
            pools[str(n)] = json.loads(line[len("RESULT "):])
            pools[str(n)]["measured"] = f"{time.strftime('%Y-%m-%d')}, {cpu_model()}"  # rows --merge keeps say when
            print(f"pool {n:,}: {json.dumps({k: v for k, v in pools[str(n)].items() if k != 'detail'})} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
    existing = Path(args.out)
    before = json.loads(existing.read_text()) if existing.exists() else {}
    detail = before.get("teacher_concurrency_detail", {}) if args.no_teacher else teacher_concurrency()
    if args.merge:
        pools = dict(sorted({**before.get("pools", {}), **pools}.items(), key=lambda kv: int(kv[0])))
    gpu = before.get("gpu")
    result = {
        "pools": pools,
        "teacher_concurrency": {c: row["efficiency"] for c, row in detail.items()},
        "gpu": gpu,
        "teacher_concurrency_detail": detail,
        "embedding_model": args.embedding_model or "packaged all-MiniLM-L6-v2",
        "machine": f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at the end",
    }
    existing.parent.mkdir(parents=True, exist_ok=True)
    existing.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    existing.with_suffix(".md").write_text(markdown(result), encoding="utf-8")
    print(f"wrote {existing}")


if __name__ == "__main__":
    main()
