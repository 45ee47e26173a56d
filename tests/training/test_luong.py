"""Luong's four global scores against hand-computed numbers."""

from __future__ import annotations

import math

import pytest
import torch

from taxonomy.axes import Positions
from training.attention import get
from training.attention.luong import (
    GlobalAttention,
    luong_concat,
    luong_dot,
    luong_general,
    luong_location,
)

E = math.e
Q = torch.tensor([[[1.0, 2.0]]])  # h_t (1, 1, 2)
K = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # h̄_s (1, 2, 2)
V = torch.tensor([[[4.0, 0.0], [0.0, 4.0]]])  # values (1, 2, 2)
ONE_TWO = torch.tensor([[[1 / (1 + E), E / (1 + E)]]])  # softmax([1, 2])
TWO_ONE = ONE_TWO.flip(-1)  # softmax([2, 1])


def test_dot_score() -> None:
    out, weights = luong_dot(Q, K, V)  # scores h_tᵀ h̄_s = [1, 2]
    assert torch.allclose(weights, ONE_TWO, atol=1e-6)
    assert torch.allclose(out, 4 * ONE_TWO, atol=1e-5)


def test_general_score_uses_the_bilinear_matrix() -> None:
    swap = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # h_tᵀ W = [2, 1] -> scores [2, 1]
    _, weights = luong_general(Q, K, V, weight=swap)
    assert torch.allclose(weights, TWO_ONE, atol=1e-6)
    _, weights = luong_general(Q, K, V, weight=torch.eye(2))  # W = I is the dot score
    assert torch.allclose(weights, ONE_TWO, atol=1e-6)


def test_concat_score() -> None:
    # W_1 h_t = 0, W_2 h̄_s = atanh([0.5, 0]) and atanh([0, 0.5]); v = [2, 0] -> scores [1, 0]
    a = math.atanh(0.5)
    keys = torch.tensor([[[a, 0.0], [0.0, a]]])
    _, weights = luong_concat(torch.zeros(1, 1, 2), keys, V, v=torch.tensor([[2.0, 0.0]]))
    assert torch.allclose(weights, TWO_ONE, atol=1e-6)  # softmax([1, 0])
    assert torch.allclose(weights, torch.tensor([[[E / (1 + E), 1 / (1 + E)]]]), atol=1e-6)


def test_location_score_ignores_the_keys() -> None:
    weight = torch.tensor([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])  # P = 3 rows, S = 2 used
    _, weights = luong_location(Q, K, V, weight=weight)  # W h_t = [1, 2, (15)] -> [1, 2]
    assert torch.allclose(weights, ONE_TWO, atol=1e-6)
    _, same = luong_location(Q, torch.randn(1, 2, 2), V, weight=weight)
    assert torch.equal(weights, same)
    _, masked = luong_location(Q, K, V, torch.tensor([[[False, True]]]), weight=weight)
    assert masked.tolist() == [[[0.0, 1.0]]]


@pytest.mark.parametrize("score", ["dot", "general", "concat", "location"])
def test_layers_mask_padding_and_rows_sum_to_one(score: str) -> None:
    torch.manual_seed(0)
    layer = GlobalAttention(score, hidden=6, max_positions=10)
    h = torch.randn(2, 7, 6)
    mask = torch.tensor([[True] * 7, [True] * 3 + [False] * 4]).unsqueeze(1)  # (2, 1, 7)
    out, weights = layer(torch.randn(2, 1, 6), layer.prepare(h), h, mask)
    assert out.shape == (2, 1, 6) and weights.shape == (2, 1, 7)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 1), atol=1e-6)
    assert weights[1, 0, 3:].abs().sum() == 0
    mech = get(f"luong_{score}")
    assert mech.onnx == "Luong" + score.capitalize()
    assert mech.facets.positions == {Positions.SOFT}


def test_unknown_score_is_rejected() -> None:
    with pytest.raises(ValueError, match="valid: dot, general, concat, location"):
        GlobalAttention("cosine", hidden=4)
