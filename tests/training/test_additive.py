"""Additive (Bahdanau) attention against hand-computed numbers."""

from __future__ import annotations

import math

import pytest
import torch

from taxonomy.axes import Positions, Sequences
from training.attention import get
from training.attention.additive import AdditiveAttention, additive

ATANH_HALF = math.atanh(0.5)


def _example() -> tuple[torch.Tensor, ...]:
    # q = W s = 0; keys U h: k1 = 0, k2 = atanh(0.5)·[1, -1]  ->  tanh(q + k2) = [0.5, -0.5]
    query = torch.zeros(1, 1, 2)
    keys = torch.tensor([[[0.0, 0.0], [ATANH_HALF, -ATANH_HALF]]])  # (1, 2, 2)
    values = torch.tensor([[[10.0, 0.0], [0.0, 10.0]]])  # (1, 2, 2)
    v = torch.tensor([[2.0, 1.0]])  # e1 = 0, e2 = 2·0.5 + 1·(-0.5) = 0.5
    return query, keys, values, v


def test_score_is_v_tanh_of_projected_sum() -> None:
    query, keys, values, v = _example()
    out, weights = additive(query, keys, values, None, v=v)
    e = math.exp(0.5)
    expected = torch.tensor([[[1 / (1 + e), e / (1 + e)]]])
    assert torch.allclose(weights, expected, atol=1e-6)
    assert torch.allclose(out, 10 * expected, atol=1e-5)  # values are 10·identity


def test_mask_excludes_positions_and_empty_rows_are_zero() -> None:
    query, keys, values, v = _example()
    _, weights = additive(query, keys, values, torch.tensor([[[True, False]]]), v=v)
    assert weights.tolist() == [[[1.0, 0.0]]]
    out, weights = additive(query, keys, values, torch.tensor([[[False, False]]]), v=v)
    assert weights.abs().sum() == 0 and out.abs().sum() == 0


def test_layer_projects_query_and_keys_then_scores() -> None:
    torch.manual_seed(0)
    layer = AdditiveAttention(query_dim=3, key_dim=4, attention_dim=5)
    s = torch.randn(2, 1, 3)  # decoder states
    h = torch.randn(2, 6, 4)  # annotations
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2]).unsqueeze(1)  # (2, 1, 6)
    out, weights = layer(s, layer.prepare(h), h, mask)
    W, U, v = layer.query_proj.weight, layer.key_proj, layer.core.v
    e = (torch.tanh((s @ W.T).unsqueeze(2) + U(h).unsqueeze(1)) * v).sum(-1)  # (2, 1, 6)
    e = e.masked_fill(~mask, -math.inf)
    assert torch.allclose(weights, torch.softmax(e, -1), atol=1e-6)
    assert torch.allclose(out, torch.softmax(e, -1) @ h, atol=1e-6)
    assert weights[1, 0, 4:].abs().sum() == 0


def test_registered_with_its_facets() -> None:
    mech = get("additive")
    assert mech.onnx == "AdditiveAttention"
    assert mech.facets.positions == {Positions.SOFT}
    layer = AdditiveAttention(2, 2, 2)
    assert Sequences.DISTINCTIVE in layer.facets().sequences


@pytest.mark.parametrize("L", [1, 3])
def test_several_queries_at_once(L: int) -> None:
    torch.manual_seed(1)
    q, k, val = torch.randn(2, L, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 3)
    out, weights = additive(q, k, val, None, v=torch.randn(1, 4))
    assert out.shape == (2, L, 3) and weights.shape == (2, L, 5)
    assert torch.allclose(weights.sum(-1), torch.ones(2, L))
