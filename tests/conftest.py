from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model repository holding every model of the zoo, trained with its `tiny` preset."""
    from tests.zoo import build_tiny_zoo

    base = tmp_path_factory.mktemp("zoo")
    return build_tiny_zoo(base / "repository", base / "runs")
