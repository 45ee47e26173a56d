"""word2vec vectors are trained once per settings, even by parallel builds (`build --jobs`)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from training.data import vectors


def test_parallel_callers_train_word2vec_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    calls: list[Path] = []

    def fake_train(data_dir: Path, path: Path, settings: vectors.Word2VecSettings) -> None:
        calls.append(path)
        time.sleep(0.3)  # the other caller arrives while this one trains
        np.savez_compressed(path, words=np.array(["a"]), vectors=np.zeros((1, 2), np.float32))

    monkeypatch.setattr(vectors, "_train_word2vec", fake_train)
    settings = vectors.Word2VecSettings(dim=2)
    found: list[Path] = []
    threads = [
        threading.Thread(
            target=lambda: found.append(vectors.word2vec_file(tmp_path, tmp_path / "c", settings))
        )
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(set(found)) == 1 and found[0].is_file()
    # Other settings are other vectors.
    other = vectors.word2vec_file(tmp_path, tmp_path / "c", vectors.Word2VecSettings(dim=3))
    assert other != found[0] and len(calls) == 2
