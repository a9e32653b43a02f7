"""Fixtures of the reliability suite: the tiny-model world (built once per session) and a runs folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.harness import build_dataset, build_models


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, Path]:
    return build_models(tmp_path_factory.mktemp("rel-models"))


@pytest.fixture(scope="session")
def data(tmp_path_factory) -> dict[str, Path]:
    return build_dataset(tmp_path_factory.mktemp("rel-data"))
