"""Shared plumbing of the graph benchmarks: configs, a shared embedding cache, one graph run, result files.

Every graph run of a benchmark goes through `graph.runner.new_run_dir` + `graph.runner.execute`, the
same code path as `distillgraph run`. Two things keep a sweep of a hundred runs affordable on 2 CPU
cores without changing what is measured:

- all runs read one embedding cache per model and dtype (`runs/bench-cache/embeddings/<key>`): the run directory's
  `data/embeddings` is a symlink to it, so the 1,650 BBC texts of a split are embedded once, not per run;
- the embedding-probe student looks its texts up in that cache by content id (the BBC ids ARE content
  ids, so it gets exactly the vectors the index step stored).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import yaml  # noqa: E402
from rich.console import Console  # noqa: E402

from distillgraph.graph.config import RunConfig, apply_overrides, config_from_dict  # noqa: E402
from distillgraph.graph.runner import execute, new_run_dir  # noqa: E402
from distillgraph.store.schema import StoreConfig, content_id  # noqa: E402

if TYPE_CHECKING:
    from distillgraph.store.embed import Embedder

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CACHE = ROOT / "runs" / "bench-cache"
EXAMPLE = ROOT / "examples" / "bbc-topic.yaml"


def code_version() -> dict[str, Any]:
    """The commit the runs used and the files that differed from it (a shared working tree moves)."""
    import subprocess

    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, timeout=20).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"head": git("rev-parse", "--short", "HEAD"),
            "modified": [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()],
            "packages": package_versions()}


# installed versions that may move results: on 2026-12-03, runs made from an empty cache in a rebuilt environment
# did not equal the published margin, TypiClust and distillgraph runs on bbc (random and uncertainty did)
RESULT_PACKAGES = ("numpy", "scipy", "scikit-learn", "torch", "transformers", "sentence-transformers", "peft",
                   "chromadb")


def package_versions(names: tuple[str, ...] = RESULT_PACKAGES) -> dict[str, str]:
    """name -> installed version of `names` ('-' where one is missing)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "-"
    return out


def quiet_logs() -> None:
    """The BBC loader warns about one latin-1 file on every load; a sweep would print it hundreds of times."""
    logging.getLogger("distillgraph.store.datasets").setLevel(logging.ERROR)
    for name in ("transformers", "sentence_transformers", "chromadb", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)


def bbc_task() -> dict[str, Any]:
    """The task section of the shipped BBC example (labels with descriptions, instruction)."""
    return dict(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))["task"])


def bbc_config(overrides: list[str]) -> RunConfig:
    """A BBC topic run: defaults of every section except the BBC data source, plus `key=value` overrides."""
    data: dict[str, Any] = {"task": bbc_task(), "data": {"source": "bbc"}, "budget": {"max_calls": 40}}
    return config_from_dict(apply_overrides(data, overrides))


def embeddings_dir(store: StoreConfig | None = None) -> Path:
    """The shared cache of one embedding model, sequence length and dtype (`auto` resolved on this machine):
    `runs/bench-cache/embeddings/<key>`, so a float32 suite and a bf16 bench never open each other's vectors."""
    from distillgraph.store.embed import build_embedder

    key = build_embedder(store or StoreConfig(), None).model_key  # lazy: no model is loaded
    slug = re.sub(r"[^A-Za-z0-9.=-]+", "_", key)[-60:]
    return CACHE / "embeddings" / f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def shared_embedder(store: StoreConfig | None = None) -> Embedder:
    """The embedder of `store` (default: the config's defaults) on the shared cache of its model and dtype."""
    from distillgraph.store.embed import build_embedder

    return build_embedder(store or StoreConfig(), embeddings_dir(store))


def link_shared_embeddings(run_dir: Path, store: StoreConfig) -> None:
    """Make the run directory's `data/embeddings` the shared cache of its store config."""
    shared = embeddings_dir(store)
    shared.mkdir(parents=True, exist_ok=True)
    (run_dir / "data" / "embeddings").symlink_to(shared, target_is_directory=True)


def prewarm_bbc_embeddings(store: StoreConfig | None = None) -> int:
    """Embed every BBC article (topic-task text) into the shared cache once; returns how many were new."""
    from distillgraph.store.datasets import bbc_articles

    embedder = shared_embedder(store)
    texts = list(dict.fromkeys(f"{head}\n\n{body}" for _, head, body in bbc_articles()))
    ids = [content_id(t) for t in texts]
    assert embedder.cache is not None
    new = len(embedder.cache.missing(ids))
    embedder.encode(texts, ids)
    return new


def run_graph(cfg: RunConfig, *, keep_dir: Path | None = None, env: dict[str, str] | None = None,
              **execute_kw: Any) -> tuple[dict[str, Any], Path]:
    """One real graph run in a fresh run directory whose embeddings are the shared cache.

    The run directory is deleted afterwards unless `keep_dir` (its parent) is given.
    """
    parent = keep_dir or Path(tempfile.mkdtemp(prefix="dg-bench-"))
    cfg = cfg.model_copy(deep=True)
    cfg.run.dir = str(parent)
    run_dir = new_run_dir(cfg)
    link_shared_embeddings(run_dir, cfg.store)
    try:
        state = execute(cfg, run_dir, env=env or {}, console=Console(quiet=True), progress=False, **execute_kw)
    finally:
        if keep_dir is None:
            shutil.rmtree(parent, ignore_errors=True)
    return state, run_dir


def prediction_seconds(cfg: RunConfig, adapter: Path, warm_up: int = 16) -> float:
    """The distilled student's prediction time per test example, loaded from `adapter` (after a warm-up)."""
    import time

    from distillgraph.store.datasets import load_data
    from distillgraph.trainer.student import build_student

    test = load_data(cfg.data, cfg.task)["test"]
    student = build_student(cfg.student, cfg.task, progress=False)
    student.load(adapter)
    student.predict([e.id for e in test[:warm_up]], [e.text for e in test[:warm_up]])
    t0 = time.perf_counter()
    student.predict([e.id for e in test], [e.text for e in test])
    return (time.perf_counter() - t0) / len(test)


def machine() -> dict[str, Any]:
    """What the numbers were measured on (the BENCHMARKS.md header reads the same)."""
    return {"machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU",
            "load_average_1m": round(os.getloadavg()[0], 2)}


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The host CPU's name and its bf16 instructions, as Linux reports them: the same '2 cores' run the embedder
    at 185 texts/s on one host and 92 on another (2026-12-04), so timings need it ('' where not readable)."""
    try:
        info = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    name = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")), "")
    flags = next((set(ln.split(":", 1)[1].split()) for ln in info.splitlines() if ln.startswith("flags")), set())
    bf16 = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
    return f"{name} ({', '.join(bf16) or 'no bf16 instructions'})" if name else ""


def write_results(name: str, result: dict[str, Any], markdown: str) -> None:
    """bench/results/NAME.json and NAME.md (a fragment with a `## Title` heading)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (RESULTS / f"{name}.md").write_text(markdown.rstrip() + "\n", encoding="utf-8")


def mean_std(values: list[float]) -> dict[str, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    arr = np.asarray(values, dtype=np.float64)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    return {"mean": round(float(arr.mean()), 4), "std": round(std, 4)}
