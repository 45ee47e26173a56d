"""ABCNN's Euclidean match score against hand-computed numbers; padding gets zero attention."""

from __future__ import annotations

import math

import torch

from taxonomy.axes import Positions, Representations, Sequences
from training.attention import get
from training.attention.match import EuclideanMatch, euclidean_match, pair_mask


def test_match_score_is_one_over_one_plus_distance() -> None:
    # x1 = (0, 0), x2 = (3, 4); y1 = (0, 0), y2 = (0, 1)
    # ||x1-y1|| = 0 -> 1; ||x1-y2|| = 1 -> 1/2; ||x2-y1|| = 5 -> 1/6; ||x2-y2|| = sqrt(9+9) -> 1/(1+3√2)
    x = torch.tensor([[[0.0, 0.0], [3.0, 4.0]]])  # (1, 2, 2)
    y = torch.tensor([[[0.0, 0.0], [0.0, 1.0]]])  # (1, 2, 2)
    values = torch.tensor([[[1.0], [10.0]]])  # (1, 2, 1)
    out, weights = euclidean_match(x, y, values, None, eps=0.0)
    expected = torch.tensor([[[1.0, 0.5], [1 / 6, 1 / (1 + 3 * math.sqrt(2))]]])
    assert torch.allclose(weights, expected, atol=1e-6)
    assert torch.allclose(out, expected @ values, atol=1e-5)
    # the default ε moves A by under 1e-5 (identical columns: 1 / (1 + 1e-6))
    _, smoothed = euclidean_match(x, y, values, None)
    assert (smoothed - expected).abs().max() < 1e-5


def test_padding_rows_and_columns_get_zero() -> None:
    x = torch.tensor([[[0.0, 0.0], [3.0, 4.0]]])
    y = torch.tensor([[[0.0, 0.0], [0.0, 1.0]]])
    mask = pair_mask(torch.tensor([[True, False]]), torch.tensor([[False, True]]))  # (1, 2, 2)
    _, weights = euclidean_match(x, y, y, mask, eps=0.0)
    assert weights.tolist() == [[[0.0, 0.5], [0.0, 0.0]]]


def test_gradient_is_finite_for_identical_columns() -> None:
    x = torch.tensor([[[1.0, 2.0]]], requires_grad=True)
    y = torch.tensor([[[1.0, 2.0]]], requires_grad=True)
    _, weights = euclidean_match(x, y, y)
    weights.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_layer_masks_padding_and_declares_co_attention() -> None:
    torch.manual_seed(0)
    layer = EuclideanMatch()
    left, right = torch.randn(2, 4, 3), torch.randn(2, 5, 3)
    keep_l = torch.tensor([[True] * 4, [True] * 2 + [False] * 2])
    keep_r = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    a = layer(left, right, keep_l, keep_r)
    assert a.shape == (2, 4, 5)
    assert a[1, 2:].abs().sum() == 0 and a[1, :, 3:].abs().sum() == 0
    assert (a[0] > 0).all() and (a[0] <= 1).all()
    assert layer.facets().sequences == {Sequences.CO_ATTENTION}


def test_registered_with_its_facets() -> None:
    mech = get("euclidean_match")
    assert mech.onnx == "EuclideanMatchAttention"
    assert mech.facets.positions == {Positions.SOFT}
    assert mech.facets.representations == {Representations.SINGLE}
