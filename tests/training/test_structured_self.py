"""Structured self-attention (Lin et al. 2017) and HAN's context attention (Yang et al. 2016):
hand-computed weights and outputs, padding gets zero weight, the penalty ‖AAᵀ − I‖²_F, and the
tags (multi-dimensional only with more than one hop)."""

from __future__ import annotations

import math

import pytest
import torch

from taxonomy.axes import Representations, Sequences
from training.attention.hierarchical import SENTENCE, WORD, ContextAttention, hierarchical_attention
from training.attention.structured_self import (
    StructuredSelfAttention,
    penalty,
    structured_self_attention,
)

E = math.e


def test_two_hops_by_hand() -> None:
    query = torch.tensor([[1.0], [-1.0]])  # W_s2 (R=2, A=1)
    keys = torch.atanh(torch.tensor([[[0.0], [0.5], [-0.5]]]))  # tanh(keys) = 0, .5, -.5
    values = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])  # (1, 3, 2)
    out, weights = structured_self_attention(query, keys, values)
    z = 1 + math.exp(0.5) + math.exp(-0.5)
    hop1 = [1 / z, math.exp(0.5) / z, math.exp(-0.5) / z]
    hop2 = [1 / z, math.exp(-0.5) / z, math.exp(0.5) / z]
    assert weights.shape == (1, 2, 3)
    assert torch.allclose(weights[0], torch.tensor([hop1, hop2]), atol=1e-6)
    expected = [[hop1[0] + hop1[2], hop1[1] + hop1[2]], [hop2[0] + hop2[2], hop2[1] + hop2[2]]]
    assert torch.allclose(out[0], torch.tensor(expected), atol=1e-6)


def test_padding_gets_zero_weight() -> None:
    query = torch.tensor([[1.0]])
    keys = torch.atanh(torch.tensor([[[0.0], [0.5], [0.9]]]))
    values = torch.randn(1, 3, 4)
    mask = torch.tensor([[True, True, False]])
    out, weights = structured_self_attention(query, keys, values, mask)
    a = 1 / (1 + math.exp(0.5))
    assert torch.allclose(weights[0, 0], torch.tensor([a, 1 - a, 0.0]), atol=1e-6)
    assert weights[0, 0, 2] == 0.0
    assert torch.allclose(out[0, 0], a * values[0, 0] + (1 - a) * values[0, 1], atol=1e-6)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([[1.0, 0.0], [0.0, 1.0]], 0.0),  # disjoint one-hot hops: AAᵀ = I
        ([[1.0, 0.0], [1.0, 0.0]], 2.0),  # both hops on one position: off-diagonal 1s
        ([[0.5, 0.5], [0.5, 0.5]], 1.0),  # spread hops: four entries of ±0.5
    ],
)
def test_penalty_by_hand(rows: list[list[float]], expected: float) -> None:
    assert penalty(torch.tensor([rows])).item() == pytest.approx(expected)


def test_hops_make_it_multi_dimensional() -> None:
    assert StructuredSelfAttention(8, 4, hops=1).facets().representations == {
        Representations.SINGLE
    }
    many = StructuredSelfAttention(8, 4, hops=3).facets()
    assert many.representations == {Representations.MULTI_DIMENSIONAL}
    assert many.sequences == {Sequences.SELF}


def test_module_shapes_and_rows_are_distributions() -> None:
    layer = StructuredSelfAttention(6, 5, hops=3)
    states = torch.randn(2, 7, 6)
    mask = torch.arange(7).unsqueeze(0) < torch.tensor([[7], [4]])
    out, weights = layer(states, mask)
    assert out.shape == (2, 3, 6) and weights.shape == (2, 3, 7)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3), atol=1e-6)
    assert not weights[1, :, 4:].any()


def test_context_attention_by_hand() -> None:
    u = torch.tensor([2.0])  # the context vector
    keys = torch.atanh(torch.tensor([[[0.0], [0.5]]]))  # tanh = 0, .5 -> scores 0, 1
    values = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    out, weights = hierarchical_attention(u, keys, values)
    a = 1 / (1 + E)
    assert torch.allclose(weights, torch.tensor([[a, 1 - a]]), atol=1e-6)
    assert torch.allclose(out, torch.tensor([[a + 3 * (1 - a), 2 * a + 4 * (1 - a)]]), atol=1e-6)


def test_context_attention_levels_and_padding() -> None:
    assert (WORD.onnx, SENTENCE.onnx) == ("WordAttention", "SentenceAttention")
    layer = ContextAttention(WORD, 4, 3, "word")
    states = torch.randn(3, 5, 4)
    mask = torch.arange(5).unsqueeze(0) < torch.tensor([[5], [2], [0]])
    out, weights = layer(states, mask)
    assert out.shape == (3, 4) and weights.shape == (3, 5)
    assert torch.allclose(weights[:2].sum(-1), torch.ones(2), atol=1e-6)
    assert not weights[1, 2:].any()
    assert not weights[2].any() and not out[2].any()  # nothing to attend: a zero vector
