"""Reliability harness shared by tests/reliability and bench/reliability.py.

- `ControlledStub`: the loopback stub teacher on a chosen port, with a per-request hook (to SIGKILL the run
  at request N, or to stop answering), a `down` switch (every request is dropped without an answer) and
  `answered_keys`, the per-key count of answers actually served (what a provider bills).
- `build_models` / `build_dataset` / `write_config`: the tiny-model world of tests/graph, as plain functions
  so the bench can build it outside pytest.
- `start_cli` / `run_cli`: `python -m graph.cli ...` in a subprocess with an offline environment holding a
  secret key; `kill_when`: SIGKILL a process when a condition holds (trace step reached, delay passed).
- `distilled`, `tree_hashes`, `files_with`: what a run produced, what a directory holds, where a secret leaked.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.graph.conftest import LABELS, _texts, teacher_responder
from tests.stub_server import Faults, QuietHTTPServer, StubServer, _make_handler, request_key

REPO = Path(__file__).resolve().parents[2]
KEY_ENV = "DG_TEST_KEY"
SECRET = "sk-reliability-SECRET-4f1c2a9e7b"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "ANONYMIZED_TELEMETRY": "False", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "2"}
RequestHook = Callable[["ControlledStub", dict[str, Any]], None]


# ---------------------------------------------------------------- the stub teacher


def responder(body: dict[str, Any]) -> dict[str, Any]:
    """tests/graph's sensible teacher, also for repair requests (answered from the original conversation)."""
    messages = body.get("messages", [])
    if len(messages) > 2 and "could not be used" in str(messages[-1].get("content")):
        body = {**body, "messages": messages[:-1]}
    return teacher_responder(body)


class ControlledStub(StubServer):
    """StubServer on a fixed (or free) port with a request hook, a `down` switch and answered-per-key counts."""

    def __init__(self, responder: Any = responder, faults: Faults | None = None, seed: int = 0,
                 port: int = 0, on_request: RequestHook | None = None):
        super().__init__(responder=responder, faults=faults, seed=seed)
        self.fixed_port = port
        self.on_request = on_request
        self.down = False
        self.answered_keys: Counter[str] = Counter()
        # set by a crash trial just before its SIGKILL: answers produced from then on go to a dead process
        self._client_dead = False
        self.killed_at: float | None = None  # time.monotonic() when client_dead was last set
        self.answered_after_kill: Counter[str] = Counter()
        self.served_at: dict[str, list[float]] = {}  # key -> time.monotonic() of each answer produced
        self._request = threading.local()  # per handler thread: drop the request being handled?

    @property
    def client_dead(self) -> bool:
        return self._client_dead

    @client_dead.setter
    def client_dead(self, dead: bool) -> None:
        if dead and not self._client_dead:
            self.killed_at = time.monotonic()
        self._client_dead = dead

    def start(self) -> ControlledStub:
        """Like StubServer.start, on `fixed_port` (so a replacement stub can take over a stopped one's URL)."""
        self._httpd = QuietHTTPServer(("127.0.0.1", self.fixed_port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def reset_counts(self) -> None:
        with self._lock:
            self.requests = self.answered = self.prompt_tokens = self.completion_tokens = 0
            self.faults_served.clear()
            self.key_counts.clear()
            self.answered_keys.clear()
            self.answered_after_kill.clear()
            self.served_at.clear()
            self.client_dead = False
            self.killed_at = None
            self.bodies.clear()
            self.auth_headers.clear()

    def _register(self, body: dict[str, Any], auth: str) -> None:
        super()._register(body, auth)
        if self.on_request is not None and not self.down:
            self.on_request(self, body)
        # decided here, so that a hook that went down stays down for its own request even if `down` is reset
        self._request.drop = self.down

    def _draw_fault(self) -> str:
        return "drop" if self.down or getattr(self._request, "drop", False) else super()._draw_fault()

    def completion(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        with self._lock:
            self.answered_keys[request_key(body)] += 1
            self.served_at.setdefault(request_key(body), []).append(time.monotonic())
            if self.client_dead:
                self.answered_after_kill[request_key(body)] += 1
        return super().completion(body, text)


# ---------------------------------------------------------------- tiny models, data, configs


def build_models(root: Path) -> dict[str, Path]:
    """A tiny BERT classifier and a tiny sentence-transformer (random weights), saved like real checkpoints."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertModel

    from distillgraph.store.assets import minilm_path

    tok = AutoTokenizer.from_pretrained(minilm_path())
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128, num_labels=len(LABELS))
    out = {"classifier": root / "clf", "embedder": root / "emb"}
    BertForSequenceClassification(cfg).save_pretrained(out["classifier"])
    tok.save_pretrained(out["classifier"])
    BertModel(cfg).save_pretrained(root / "enc-base")
    tok.save_pretrained(root / "enc-base")
    word = models.Transformer(str(root / "enc-base"), max_seq_length=64)
    SentenceTransformer(modules=[word, models.Pooling(word.get_embedding_dimension(), "mean")]).save(
        str(out["embedder"]))
    return out


def build_dataset(root: Path, extra_pool: list[str] | None = None) -> dict[str, Path]:
    """The long-tailed 3-topic dataset of tests/graph (pool 42, dev 12, test 12), plus optional pool texts."""
    rows: dict[str, list[dict[str, str]]] = {"pool": [], "dev": [], "test": []}
    for label, n in {"sport": 24, "business": 12, "tech": 6}.items():
        rows["pool"] += [{"text": t} for t in _texts(label, n, 0)]
        rows["dev"] += [{"text": t, "label": label} for t in _texts(label, 4, 100)]
        rows["test"] += [{"text": t, "label": label} for t in _texts(label, 4, 200)]
    rows["pool"] += [{"text": t} for t in extra_pool or []]
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, items in rows.items():
        out[name] = root / f"{name}.jsonl"
        out[name].write_text("".join(json.dumps(r) + "\n" for r in items), encoding="utf-8")
    return out


def config_dict(base_url: str, models: dict[str, Path], data: dict[str, Path], runs: Path,
                **over: Any) -> dict[str, Any]:
    """The tests/graph run config; `section__key=value` overrides."""
    cfg: dict[str, Any] = {
        "task": {"type": "classification", "name": "rel", "instruction": "Classify the topic.", "labels": LABELS},
        "data": {k: str(v) for k, v in data.items()},
        "teacher": {"provider": "openai", "model": "stub", "base_url": base_url, "api_key_env": KEY_ENV,
                    "max_concurrency": 4, "demonstrations": 2, "max_retries": 2, "timeout": 30,
                    "backoff_base": 0.01, "backoff_max": 0.2},
        "student": {"kind": "classifier", "base_model": str(models["classifier"]), "num_train_epochs": 2,
                    "learning_rate": 5e-3, "per_device_train_batch_size": 8, "max_length": 32,
                    "target_modules": ["query", "value"], "bf16": "off",
                        "min_train_steps": 0},
        "store": {"embedding_model": str(models["embedder"]), "embedding_dtype": "float32", "n_clusters": 3},
        "loop": {"rounds": 2, "max_rounds": 3, "patience": 5, "bootstrap_per_cluster": 2},
        "budget": {"max_calls": 30},
        "run": {"dir": str(runs), "seed": 0},
    }
    for key, value in over.items():
        section, field = key.split("__")
        cfg.setdefault(section, {})[field] = value
    return cfg


def write_config(path: Path, cfg: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


# ---------------------------------------------------------------- the CLI in a subprocess


def cli_env(secret: str = SECRET) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env.update(OFFLINE)
    env[KEY_ENV] = secret
    env["PYTHONPATH"] = str(REPO)
    return env


@dataclass
class Proc:
    """A CLI subprocess whose stdout/stderr go to files (scanned for secrets afterwards)."""

    popen: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def wait(self, timeout: float = 300) -> int:
        return self.popen.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL this process (only the one this harness started, by its pid)."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)

    def err(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")

    def out(self) -> str:
        return self.stdout.read_text(encoding="utf-8", errors="replace")


def start_cli(args: list[str], logs: Path, tag: str, env: dict[str, str] | None = None) -> Proc:
    logs.mkdir(parents=True, exist_ok=True)
    out, err = logs / f"{tag}.out", logs / f"{tag}.err"
    popen = subprocess.Popen([sys.executable, "-m", "distillgraph.graph.cli", *args], cwd=REPO, env=env or cli_env(),
                             stdout=out.open("wb"), stderr=err.open("wb"))
    return Proc(popen, out, err)


def run_cli(args: list[str], logs: Path, tag: str, env: dict[str, str] | None = None, timeout: float = 300) -> Proc:
    proc = start_cli(args, logs, tag, env)
    proc.wait(timeout)
    return proc


def trace_steps(run_dir: Path) -> int:
    """Complete lines in trace.jsonl (a node writes its line when it ends)."""
    path = run_dir / "trace.jsonl"
    if not path.exists():
        return 0
    return sum(1 for line in path.read_bytes().split(b"\n") if line.strip().endswith(b"}"))


def kill_when(proc: Proc, condition: Callable[[], bool], delay: float = 0.0, timeout: float = 300,
              before_kill: Callable[[], None] | None = None) -> bool:
    """Poll `condition`; when it holds, wait `delay` s, call `before_kill` and SIGKILL. False if the process
    ended first."""
    end = time.time() + timeout
    while time.time() < end:
        if proc.popen.poll() is not None:
            return False
        if condition():
            time.sleep(delay)
            if proc.popen.poll() is not None:
                return False
            if before_kill is not None:
                before_kill()
            proc.kill()
            proc.wait(30)
            return True
        time.sleep(0.02)
    raise TimeoutError("kill condition never held")


# ---------------------------------------------------------------- what a run produced


def distilled(run_dir: Path) -> list[tuple[str, str]]:
    """The distilled dataset of a finished run: sorted (id, label)."""
    from distillgraph.graph.runner import final_state

    return sorted((a.id, a.target) for a in final_state(run_dir)["dataset"])


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under root (relative path -> digest)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def files_with(secret: str, *roots: Path) -> list[str]:
    """Files under the roots whose bytes contain the secret (raw, or as it would appear JSON-escaped)."""
    needles = {secret.encode(), json.dumps(secret).strip('"').encode()}
    hits = []
    for root in roots:
        paths = [root] if root.is_file() else sorted(root.rglob("*"))
        for p in paths:
            if p.is_file() and any(n in p.read_bytes() for n in needles):
                hits.append(str(p))
    return hits


def paid_twice(trial: Counter[str], reference: Counter[str], after_kill: Counter[str] | None = None) -> int:
    """Answers served for a key beyond what the uninterrupted run was served for it, not counting answers
    served after the SIGKILL (`after_kill`): those were in flight, and no client keeps an answer it never read."""
    return sum(paid_twice_by_key(trial, reference, after_kill).values())


def paid_twice_by_key(trial: Counter[str], reference: Counter[str],
                      after_kill: Counter[str] | None = None) -> dict[str, int]:
    """`paid_twice` per key (keys with none left out)."""
    after_kill = after_kill or Counter()
    extra = {k: n - after_kill.get(k, 0) - reference.get(k, 0) for k, n in trial.items()}
    return {k: n for k, n in extra.items() if n > 0}
