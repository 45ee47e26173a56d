"""`attentive build` with several jobs: models build in worker processes, results keep order."""

from __future__ import annotations

from pathlib import Path

import pytest

from attentive.settings import Settings
from export import repository
from export.build import build, worker_threads


def test_parallel_build_writes_every_entry_in_order(tmp_path: Path) -> None:
    models = ["luong-dot", "gat"]  # the slower one first: results still come back in order
    built = build(models, "tiny", tmp_path / "repo", Settings().data, tmp_path / "runs", jobs=2)
    assert [b.name for b in built] == models
    for b in built:
        card = repository.read_card(b.entry)
        assert card is not None and card.name == b.name
        assert (b.entry / repository.VERSION / repository.MODEL_FILE).is_file()
    # A second build finds both up to date (the workers' checkpoints are reused).
    again = build(models, "tiny", tmp_path / "repo", Settings().data, tmp_path / "runs", jobs=2)
    assert [(b.trained, b.exported) for b in again] == [(False, False)] * 2


def test_a_failing_model_fails_the_parallel_build(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="unknown preset"):
        build(["gat", "luong-dot"], "nope", tmp_path / "repo", Settings().data, tmp_path, jobs=2)


def test_worker_threads_share_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATTENTIVE_TORCH_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert [worker_threads(j) for j in (1, 2, 3, 16)] == [8, 4, 2, 1]
    monkeypatch.setenv("ATTENTIVE_TORCH_THREADS", "3")
    assert worker_threads(2) == 3
