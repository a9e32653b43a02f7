"""The embedded local teacher: llama-cpp-python's OpenAI-compatible server as a child process.

`LocalServer(cfg).start()` launches ``python -m agents.local_server`` (this file) on a free loopback port,
waits until ``/v1/models`` answers and exposes `base_url`; the rest of the code treats it like any remote
endpoint. It never outlives the run: `stop()` kills the whole process group (context manager, atexit and
the teacher's close() all call it), and the child exits by itself if its parent dies (even on SIGKILL).

Run as a module, this file is the launcher: it optionally switches off llama.cpp's extra weight buffers
(their AMX kernel crashed with SIGSEGV on a VM that advertises AMX) and hands over to llama_cpp.server.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from distillgraph.agents.config import LocalTeacherConfig
from distillgraph.agents.weights import teacher_gguf
from distillgraph.store.schema import UserError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
INSTALL_HINT = "pip install 'distillgraph[local]'"
_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")


def require_llama_cpp() -> None:
    """UserError naming the extra to install when llama-cpp-python's server is missing."""
    missing = [m for m in _SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(
            f"teacher.provider 'local' needs llama-cpp-python's server ({', '.join(missing)} missing): "
            f"{INSTALL_HINT}"
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalServer:
    """One llama.cpp server child process serving one GGUF model on 127.0.0.1."""

    def __init__(self, cfg: LocalTeacherConfig):
        self.cfg = cfg
        self.model_path = str(teacher_gguf(cfg.model, model_path=cfg.model_path, cache=cfg.cache_dir))
        self.model_alias = Path(self.model_path).stem
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: tempfile._TemporaryFileWrapper[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        """The child's command line (llama_cpp.server's flags, plus our --no-extra-buffers)."""
        threads = self.cfg.n_threads or os.cpu_count() or 1
        cmd = [
            sys.executable, "-m", "distillgraph.agents.local_server",
            "--model", self.model_path, "--model_alias", self.model_alias,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--n_ctx", str(self.cfg.n_ctx), "--n_threads", str(threads), "--n_threads_batch", str(threads),
            "--verbose", "False",
        ]  # fmt: skip
        if self.cfg.chat_format:
            cmd += ["--chat_format", self.cfg.chat_format]
        if not self.cfg.extra_buffers:
            cmd.append("--no-extra-buffers")
        return cmd

    def start(self) -> LocalServer:
        require_llama_cpp()
        if not Path(self.model_path).is_file():
            raise UserError(f"teacher.local.model_path: {self.model_path} not found")
        self.port = free_port()
        self._log = tempfile.NamedTemporaryFile(prefix="distillgraph-llama-", suffix=".log")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            env=env, start_new_session=True,
        )  # fmt: skip
        atexit.register(self.stop)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.cfg.startup_timeout
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise UserError(f"local teacher exited with code {self.process.returncode} while starting: "
                                f"{self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise UserError(f"local teacher did not answer on {self.base_url} within "
                        f"{self.cfg.startup_timeout:.0f} s (teacher.local.startup_timeout): {self._log_tail()}")

    def _log_tail(self) -> str:
        if self._log is None:
            return ""
        lines = Path(self._log.name).read_text(errors="replace").strip().splitlines()
        return lines[-1][:300] if lines else "(no output)"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Terminate the process group (SIGTERM, then SIGKILL after 5 s); safe to call twice."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
            except ProcessLookupError:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None
        atexit.unregister(self.stop)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the launcher (child process) ---------------------------------------------------------------------------


def _disable_extra_buffers() -> None:
    """Make llama.cpp load weights into plain CPU buffers (no AMX / repacked copies)."""
    import llama_cpp.llama_cpp as native

    default = native.llama_model_default_params

    def params():  # type: ignore[no-untyped-def]
        p = default()
        p.use_extra_bufts = False
        return p

    native.llama_model_default_params = params


def _exit_with_parent() -> None:
    """Exit when the parent goes away, so even a killed run leaves no orphan server."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serve(argv: list[str]) -> None:
    _exit_with_parent()
    if "--no-extra-buffers" in argv:
        argv = [a for a in argv if a != "--no-extra-buffers"]
        _disable_extra_buffers()
    from llama_cpp.server.__main__ import main

    sys.argv = ["llama_cpp.server", *argv]
    main()


if __name__ == "__main__":
    serve(sys.argv[1:])
