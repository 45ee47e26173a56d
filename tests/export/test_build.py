"""`attentive build` with several jobs: models build in worker processes, results keep order."""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import torch

from attentive.settings import Settings
from export import repository
from export.build import _init_worker, build, worker_context, worker_threads


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


def _worker_state() -> tuple[bool, int]:
    return "export.warm" in sys.modules, torch.get_num_threads()


def test_workers_start_warm_and_take_their_own_thread_count() -> None:
    # The forkserver drops a preload that fails to import without a word: a broken
    # export.warm would only show as slower builds.
    context = worker_context()
    with ProcessPoolExecutor(
        2, mp_context=context, initializer=_init_worker, initargs=(2,), max_tasks_per_child=1
    ) as pool:
        first, second = pool.submit(_worker_state).result(), pool.submit(_worker_state).result()
    if context.get_start_method() == "forkserver":
        assert first[0] and second[0]
    assert first[1] == second[1] == 2  # the warm-up's single thread is not inherited
