"""Installed, distillgraph claims one top-level name: `distillgraph` (its folders map to distillgraph.*).

A fresh venv gets the project wheel next to a dummy distribution that owns a top-level `trainer`
module (as Coqui's trainer does); both must import, each its own.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FOLDERS = ("graph", "agents", "trainer", "store", "prompts")


def _wheel(src: Path, out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(src)], check=True, capture_output=True, text=True)
    return next(out.glob("*.whl"))


def _dummy_trainer(root: Path) -> Path:
    (root / "trainer").mkdir(parents=True)
    (root / "trainer" / "__init__.py").write_text('WHO = "dummy trainer"\n')
    (root / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "trainer-dummy"
        version = "1.0"
        [tool.setuptools]
        packages = ["trainer"]
    """))
    return root


@pytest.mark.integration
def test_installs_under_one_namespace_next_to_a_top_level_trainer(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    ours = _wheel(REPO, wheels / "ours")
    theirs = _wheel(_dummy_trainer(tmp_path / "dummy"), wheels / "theirs")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(ours), str(theirs)],
                   check=True, capture_output=True, text=True)
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # nothing of ours at the top level of site-packages: only distillgraph/ (and the dummy's trainer/)
    assert (site / "distillgraph" / "graph" / "cli.py").is_file()
    assert (site / "distillgraph" / "prompts" / "annotator.yaml").is_file()
    for name in ("graph", "agents", "store", "prompts"):
        assert not (site / name).exists(), f"the wheel claims the top-level name {name!r}"
    assert (site / "trainer" / "__init__.py").read_text().startswith('WHO = "dummy')
    # the project's dependencies come from the test venv, after the fresh venv's own site-packages
    (site / "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    probe = textwrap.dedent("""
        import trainer
        import distillgraph.trainer.student as student
        import distillgraph.graph.cli as cli
        import distillgraph.prompts as prompts
        assert trainer.WHO == "dummy trainer", trainer.__file__
        print(student.__file__)
        print(cli.__file__)
        print(len(prompts.PromptLibrary().names()))
    """)
    out = subprocess.run([str(py), "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                         env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.split()
    assert lines[0].startswith(str(site / "distillgraph" / "trainer"))
    assert lines[1].startswith(str(site / "distillgraph" / "graph"))
    assert int(lines[2]) >= 5
