"""The attention MPCNN: the multi-perspective pieces against their definitions (per-dimension
filters = a grouped convolution, masked pooling, the similarity layer's feature count), the
model's shapes, and padding (a padded word gets zero attention; a sentence's outputs do not
depend on how much its batch pads it)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from training.config import with_overrides
from training.models.mpcnn import PRESETS, AttentionMPCNN, MPCNNConfig, keep_mask
from training.models.multi_perspective import (
    MultiPerspectiveCNN,
    PerDimensionConv,
    StructuredSimilarity,
    compare_full,
    masked_pool,
)


def _model(**overrides: object) -> AttentionMPCNN:
    torch.manual_seed(0)
    cfg = with_overrides(MPCNNConfig(), PRESETS["tiny"])
    cfg = with_overrides(cfg, dict(overrides))
    return AttentionMPCNN(cfg).eval()


def test_per_dimension_filters_equal_a_grouped_convolution() -> None:
    torch.manual_seed(0)
    B, C, L, F, ws = 2, 3, 5, 4, 3
    conv = PerDimensionConv(C, F, ws)
    grouped = nn.Conv1d(C, C * F, ws, groups=C)
    with torch.no_grad():  # grouped weight (C F, 1, ws): output channel c F + k
        grouped.weight.copy_(conv.weight.permute(0, 2, 1).reshape(C * F, 1, ws))
        grouped.bias.copy_(conv.bias.reshape(C * F))
    padded = torch.randn(B, C, L + ws - 1)
    want = grouped(padded).reshape(B, C, F, L)  # (B, C, F, L)
    got = conv(padded, L).permute(2, 0, 1, 3)  # (C, F, B, L) -> (B, C, F, L)
    assert torch.allclose(got, want, atol=1e-6)


def test_masked_pool_ignores_padded_positions() -> None:
    values = torch.tensor([[[1.0, -2.0, 9.0, -9.0]]])  # (1, 1, 4), the last two padded
    mask = torch.tensor([[[1.0, 1.0, 0.0, 0.0]]])
    assert masked_pool(values, mask, "max").item() == 1.0
    assert masked_pool(values, mask, "min").item() == -2.0
    assert masked_pool(values, mask, "mean").item() == pytest.approx(-0.5)


def test_similarity_layer_size_matches_its_features() -> None:
    torch.manual_seed(0)
    C, Fa, Fb, windows = 6, 5, 2, (1, 2, 3)
    cnn = MultiPerspectiveCNN(C, Fa, Fb, windows)
    sim = StructuredSimilarity(C, Fa, Fb, windows)
    x, y = torch.randn(2, 4, C), torch.randn(2, 7, C)
    keep_x, keep_y = torch.ones(2, 4, dtype=torch.bool), torch.ones(2, 7, dtype=torch.bool)
    one, two = cnn(x, keep_x), cnn(y, keep_y)
    assert one.a.shape == (2, 3, 3, Fa) and one.a_inf.shape == (2, 3, 1)
    assert one.b.shape == (2, 2, 3, C, Fb)
    # ∞ pools the sentence matrix itself (max, min, mean)
    assert one.a_inf[:, 0, 0].tolist() == pytest.approx(x.amax(dim=(1, 2)).tolist())
    assert one.a_inf[:, 1, 0].tolist() == pytest.approx(x.amin(dim=(1, 2)).tolist())
    assert one.a_inf[:, 2, 0].tolist() == pytest.approx(x.mean(dim=(1, 2)).tolist(), abs=1e-6)
    # block A, window 2, max pooling: tanh of the convolution's max over positions
    conv = torch.tanh(cnn.holistic[1](nn.functional.pad(x.transpose(1, 2), (0, 1))))
    assert torch.allclose(one.a[:, 0, 1], conv.amax(-1), atol=1e-6)
    features = sim(one, two)
    assert features.shape == (2, sim.size())
    # comU1 = [cos, L2, |x - y|]
    a, b = torch.tensor([[3.0, 4.0]]), torch.tensor([[3.0, 0.0]])
    assert compare_full(a, b)[0].tolist() == pytest.approx([0.6, 4.0, 0.0, 4.0], abs=1e-5)


def test_model_shapes_and_zero_attention_on_padding() -> None:
    model = _model()
    left = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 10, 11, 12]])  # (2, 5): row 0 padded
    right = torch.tensor([[13, 14, 0], [15, 16, 17]])  # (2, 3)
    logits, attention, left_w, right_w = model(left, right)
    assert logits.shape == (2, 5)  # SICK: the integer scores 1..5
    assert attention.shape == (2, 5, 3) and left_w.shape == (2, 5) and right_w.shape == (2, 3)
    assert torch.all(attention[0, 3:] == 0) and torch.all(attention[0, :, 2:] == 0)
    assert torch.all(left_w[0, 3:] == 0) and torch.all(right_w[0, 2:] == 0)
    assert left_w.sum(1).tolist() == pytest.approx([1.0, 1.0])
    assert right_w.sum(1).tolist() == pytest.approx([1.0, 1.0])
    assert attention.abs().max() <= 1 + 1e-6  # cosines


def test_outputs_do_not_depend_on_batch_padding() -> None:
    model = _model()
    left = torch.tensor([[5, 6, 7, 0, 0, 0], [8, 9, 10, 11, 12, 13]])
    right = torch.tensor([[13, 14, 0, 0], [15, 16, 17, 18]])
    batched = model(left, right)
    alone = model(left[:1, :3], right[:1, :2])
    assert torch.allclose(batched[0][0], alone[0][0], atol=1e-5)
    assert torch.allclose(batched[1][0, :3, :2], alone[1][0], atol=1e-6)
    assert torch.allclose(batched[2][0, :3], alone[2][0], atol=1e-6)


def test_without_attention_the_2015_mpcnn_returns_zero_attention() -> None:
    model = _model(attention=False)
    assert model.interaction is None
    logits, attention, left_w, right_w = model(torch.tensor([[3, 4]]), torch.tensor([[5, 6, 7]]))
    assert logits.shape == (1, 5) and torch.all(attention == 0) and attention.shape == (1, 2, 3)


def test_keep_mask_counts_the_first_position_of_an_empty_sentence() -> None:
    assert keep_mask(torch.tensor([[0, 0], [4, 0]])).tolist() == [[True, False], [True, False]]
