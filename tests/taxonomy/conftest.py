from __future__ import annotations

from pathlib import Path

import pytest

from tests.taxonomy.cards import write_repository, zoo


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A model repository: transformer, gat, abcnn, seq2seq (no attention), plain, broken."""
    return write_repository(tmp_path / "repo", zoo())
