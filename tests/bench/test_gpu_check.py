"""bench/gpu.sh on a machine without a CUDA GPU: one line, exit 0, nothing written (issue 17's GPU check)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU: bench/gpu.sh would measure it")
def test_gpu_sh_without_a_gpu_says_so_and_exits_0(tmp_path: Path) -> None:
    before = (ROOT / "bench" / "results" / "gpu.json").exists()
    proc = subprocess.run(["bash", str(ROOT / "bench" / "gpu.sh")], capture_output=True, text=True,
                          env=os.environ | {"PYTHON": sys.executable}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines() == [
        "bench/gpu.sh: no CUDA GPU visible (torch.cuda.is_available() is false); nothing to measure"]
    assert (ROOT / "bench" / "results" / "gpu.json").exists() == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_gpu_check_is_none_without_a_gpu() -> None:
    from bench.scale import gpu_check

    assert gpu_check() is None
