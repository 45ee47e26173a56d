"""The DME sentence-pair classifier: shapes, the weights over embedding sets (rows sum to 1, a
padded token gets zero weight), outputs independent of batch padding, and every set's table
filled by the task with pretrained tables frozen."""

from __future__ import annotations

import pytest
import torch

from training.config import with_overrides
from training.models.dme import PRESETS, BiLSTMMax, DMEClassifier, DMEConfig


def _model() -> DMEClassifier:
    torch.manual_seed(0)
    cfg = with_overrides(DMEConfig(), PRESETS["tiny"])
    cfg = with_overrides(cfg, {"data": {"vectors": "random+word2vec"}})  # both 12-d, unloaded
    return DMEClassifier(cfg).eval()


def test_shapes_and_zero_weight_on_padding() -> None:
    model = _model()
    left = torch.tensor([[5, 6, 7, 0], [8, 9, 10, 11]])  # (2, 4)
    right = torch.tensor([[12, 0, 0], [13, 14, 15]])  # (2, 3)
    logits, left_w, right_w = model(left, right)
    assert logits.shape == (2, 3)  # SICK entailment: three classes
    assert left_w.shape == (2, 4, 2) and right_w.shape == (2, 3, 2)
    assert torch.all(left_w[0, 3] == 0) and torch.all(right_w[0, 1:] == 0)
    real_left, real_right = left_w[left != 0], right_w[right != 0]  # (n_real, n)
    assert real_left.sum(-1).tolist() == pytest.approx([1.0] * len(real_left))
    assert real_right.sum(-1).tolist() == pytest.approx([1.0] * len(real_right))


def test_outputs_do_not_depend_on_batch_padding() -> None:
    model = _model()
    left = torch.tensor([[5, 6, 0, 0, 0], [8, 9, 10, 11, 12]])
    right = torch.tensor([[13, 14, 15, 0], [16, 17, 18, 19]])
    batched = model(left, right)
    alone = model(left[:1, :2], right[:1, :3])
    assert torch.allclose(batched[0][0], alone[0][0], atol=1e-5)
    assert torch.allclose(batched[1][0, :2], alone[1][0], atol=1e-6)
    assert torch.allclose(batched[2][0, :3], alone[2][0], atol=1e-6)


def test_bilstm_max_pools_only_real_positions() -> None:
    torch.manual_seed(0)
    encoder = BiLSTMMax(3, 4)
    x = torch.randn(1, 5, 3)
    keep = torch.tensor([[True, True, True, False, False]])
    noisy = x.clone()
    noisy[0, 3:] = 100.0  # whatever sits on padding changes nothing
    assert torch.allclose(encoder(x, keep), encoder(noisy, keep), atol=1e-6)
    assert torch.allclose(encoder(x, keep), encoder(x[:, :3], keep[:, :3]), atol=1e-6)


class _Task:
    def __init__(self) -> None:
        self.filled: list[tuple[str, bool | None]] = []

    def fill(self, embedding: torch.nn.Embedding, name: str, train: bool | None = None) -> None:
        self.filled.append((name, train))


def test_every_set_is_filled_by_the_task() -> None:
    model = _model()
    task = _Task()
    model.load_vectors(task)  # type: ignore[arg-type]
    assert task.filled == [("random", None), ("word2vec", None)]
    assert len(model.embeddings) == 2
