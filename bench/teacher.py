"""Teacher benchmark: client overhead and concurrency against the loopback stub, cache replay speed, and
the embedded local teacher (llama.cpp server + SmolLM2-135M): start-up time and one labelling call.

The stub answers after a fixed simulated latency, so the requests/s show whether `max_concurrency`
really overlaps calls (ideal: concurrency / latency) and what the client itself costs per call.

    .venv/bin/python -m bench.teacher [--quick] [--no-local]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from distillgraph.agents.budget import BudgetLedger  # noqa: E402
from distillgraph.agents.cache import AnswerCache  # noqa: E402
from distillgraph.agents.config import BudgetConfig, LocalTeacherConfig, TeacherConfig  # noqa: E402
from distillgraph.agents.schemas import label_answer_schema  # noqa: E402
from distillgraph.agents.teacher import TeacherRequest, build_teacher  # noqa: E402
from distillgraph.prompts import PromptLibrary  # noqa: E402
from tests.stub_server import StubServer, schema_responder  # noqa: E402

RESULTS = Path(__file__).parent / "results"
LABELS = ("business", "entertainment", "politics", "sport", "tech")
LATENCY_S = 0.05


def requests(n: int, tag: str) -> list[TeacherRequest]:
    schema = label_answer_schema(LABELS)
    system = "Classify the news text into one of: " + ", ".join(LABELS) + "."
    return [
        TeacherRequest(node="annotator", schema=schema, example_id=f"{tag}{i}",
                       messages=[{"role": "system", "content": system},
                                 {"role": "user", "content": f"Article {tag}{i}: " + "words " * 60}])
        for i in range(n)
    ]


def slow_responder(body: dict[str, Any]) -> dict[str, Any]:
    time.sleep(LATENCY_S)
    return schema_responder(body)


def bench_stub(n: int, concurrency: int, workdir: Path) -> dict[str, Any]:
    """Fresh calls (paid) then the same calls again from the cache, at one concurrency."""
    with StubServer(responder=slow_responder) as srv:
        cfg = TeacherConfig(base_url=srv.base_url, model="stub", max_concurrency=concurrency)
        ledger = BudgetLedger(BudgetConfig(max_calls=10 * n))
        with AnswerCache(workdir / f"cache-{concurrency}.sqlite") as cache:
            teacher = build_teacher(cfg, ledger, cache, env={}, prompts=PromptLibrary())
            reqs = requests(n, f"c{concurrency}-")
            start = time.perf_counter()
            fresh = teacher.ask_many(reqs)
            fresh_s = time.perf_counter() - start
            start = time.perf_counter()
            replay = teacher.ask_many(reqs)
            replay_s = time.perf_counter() - start
            teacher.close()
    assert all(r.ok for r in fresh) and all(r.cached for r in replay) and srv.requests == n
    return {
        "concurrency": concurrency,
        "requests": n,
        "fresh_req_per_s": n / fresh_s,
        "ideal_req_per_s": concurrency / LATENCY_S,
        "client_overhead_ms": 1000 * (fresh_s / n * concurrency - LATENCY_S),
        "cached_req_per_s": n / replay_s,
    }


def bench_local(workdir: Path) -> dict[str, Any]:
    """Start the embedded teacher, label three texts by function calling, stop it."""
    cfg = TeacherConfig(provider="local", max_tokens=96, timeout=600, local=LocalTeacherConfig(model="smollm2-135m"))
    ledger = BudgetLedger(BudgetConfig(max_calls=100))
    texts = ["Arsenal beat Chelsea 2-0 in the league.", "Shares of the bank fell 4% after the results.",
             "The new phone chip doubles battery life."]
    reqs = [TeacherRequest(node="annotator", schema=label_answer_schema(LABELS),
                           messages=[{"role": "system", "content": "Classify the news text into one of: "
                                      + ", ".join(LABELS) + "."}, {"role": "user", "content": t}])
            for t in texts]
    with AnswerCache(workdir / "local.sqlite") as cache:
        start = time.perf_counter()
        teacher = build_teacher(cfg, ledger, cache, env={}, prompts=PromptLibrary())
        startup_s = time.perf_counter() - start
        start = time.perf_counter()
        results = teacher.ask_many(reqs)
        ask_s = time.perf_counter() - start
        start = time.perf_counter()
        teacher.close()
        stop_s = time.perf_counter() - start
    out_tokens = sum(r.output_tokens for r in results)
    return {
        "startup_s": startup_s,
        "calls": ledger.paid_calls,
        "parsed_ok": sum(r.ok for r in results),
        "items": len(results),
        "seconds_per_item": ask_s / len(results),
        "output_tokens_per_s": out_tokens / ask_s,
        "stop_s": stop_s,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "## Teacher client",
        "",
        f"Loopback stub with {int(LATENCY_S * 1000)} ms simulated latency per call, BBC-like label requests "
        f"(function calling). {result['machine']}.",
        "",
        "| max_concurrency | requests | fresh req/s | ideal req/s | client overhead ms/call | cached req/s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["stub"]:
        lines.append(f"| {row['concurrency']} | {row['requests']} | {row['fresh_req_per_s']:.1f} | "
                     f"{row['ideal_req_per_s']:.0f} | {row['client_overhead_ms']:.1f} | "
                     f"{row['cached_req_per_s']:.0f} |")
    local = result.get("local")
    if local:
        lines += [
            "",
            "Embedded local teacher (llama.cpp server, SmolLM2-135M-Instruct Q4_1, function calling):",
            "",
            "| start-up s | items | parsed ok | calls (with repairs) | s/item | output tok/s | stop s |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            f"| {local['startup_s']:.1f} | {local['items']} | {local['parsed_ok']} | {local['calls']} | "
            f"{local['seconds_per_item']:.1f} | {local['output_tokens_per_s']:.1f} | {local['stop_s']:.2f} |",
        ]
    elif "local_skipped" in result:
        lines += ["", f"Embedded local teacher: skipped ({result['local_skipped']})."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    parser.add_argument("--no-local", action="store_true", help="skip the embedded llama.cpp teacher")
    args = parser.parse_args()
    n = 40 if args.quick else 200
    load = os.getloadavg()[0]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, load average {load:.1f} at start"
    result: dict[str, Any] = {"machine": machine, "stub": []}
    with tempfile.TemporaryDirectory() as tmp:
        for concurrency in (1, 4, 16):
            result["stub"].append(bench_stub(n, concurrency, Path(tmp)))
        if args.no_local:
            result["local_skipped"] = "--no-local"
        elif importlib.util.find_spec("llama_cpp") is None:
            result["local_skipped"] = "llama_cpp not installed"
        else:
            result["local"] = bench_local(Path(tmp))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "teacher.json").write_text(json.dumps(result, indent=2))
    (RESULTS / "teacher.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
