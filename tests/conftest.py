from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model repository holding every model of the zoo, trained with its `tiny` preset.

    ATTENTIVE_TINY_ZOO=<repository> uses one built beforehand (copied), e.g. on a machine where
    the tests run without training, such as a GPU machine with another torch."""
    base = tmp_path_factory.mktemp("zoo")
    prebuilt = os.environ.get("ATTENTIVE_TINY_ZOO")
    if prebuilt:
        return Path(shutil.copytree(prebuilt, base / "repository"))
    from tests.zoo import build_tiny_zoo

    return build_tiny_zoo(base / "repository", base / "runs")
