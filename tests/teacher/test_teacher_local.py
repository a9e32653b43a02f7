"""The embedded local teacher (llama.cpp server + SmolLM2): command line, missing extra, end to end."""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import pytest

from distillgraph.agents import local_server
from distillgraph.agents.budget import BudgetLedger
from distillgraph.agents.cache import AnswerCache
from distillgraph.agents.config import BudgetConfig, LocalTeacherConfig, TeacherConfig
from distillgraph.agents.local_server import LocalServer
from distillgraph.agents.schemas import label_answer_schema
from distillgraph.agents.teacher import TeacherRequest, build_teacher
from distillgraph.prompts import PromptLibrary
from distillgraph.store.schema import UserError
from tests.teacher.teacher_rig import LABELS

HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None


def test_missing_llama_cpp_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(local_server.importlib.util, "find_spec",
                        lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    with pytest.raises(UserError, match=r"distillgraph\[local\]"):
        LocalServer(LocalTeacherConfig(model_path=__file__)).start()


def test_command_line(tmp_path: Path) -> None:
    gguf = tmp_path / "tiny.gguf"
    server = LocalServer(LocalTeacherConfig(model_path=str(gguf), n_ctx=1024, n_threads=2))
    cmd = server.command()
    assert cmd[1:3] == ["-m", "distillgraph.agents.local_server"]
    assert cmd[cmd.index("--model") + 1] == str(gguf) and cmd[cmd.index("--n_ctx") + 1] == "1024"
    assert "--no-extra-buffers" in cmd and "--chat_format" not in cmd
    assert server.model_alias == "tiny"


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.integration
@pytest.mark.skipif(not HAS_LLAMA, reason="llama_cpp not importable: pip install 'distillgraph[local]'")
def test_local_teacher_end_to_end(tmp_path: Path) -> None:
    """Start SmolLM2 behind llama.cpp's server, label one text by function calling, stop, process gone."""
    cfg = TeacherConfig(provider="local", max_tokens=96, timeout=300,
                        local=LocalTeacherConfig(model="smollm2-135m", n_threads=1))  # the tiny one: fast
    ledger = BudgetLedger(BudgetConfig(max_calls=10))
    request = TeacherRequest(
        node="annotator",
        messages=[{"role": "system", "content": "Classify the news text into one of: business, sport, tech."},
                  {"role": "user", "content": "Arsenal beat Chelsea 2-0 in the league."}],
        schema=label_answer_schema(LABELS),
    )
    with AnswerCache(tmp_path / "llm_cache.sqlite") as cache:
        teacher = build_teacher(cfg, ledger, cache, env={}, prompts=PromptLibrary())
        pid = teacher.server.process.pid
        try:
            assert teacher.base_url.startswith("http://127.0.0.1:")
            result = teacher.ask(request)
        finally:
            teacher.close()
    deadline = time.monotonic() + 10
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(pid), "llama.cpp server still running after close()"
    assert result.ok, result.error
    assert result.parsed.label in LABELS
    assert result.input_tokens > 0 and result.output_tokens > 0
    assert ledger.paid_calls >= 1
