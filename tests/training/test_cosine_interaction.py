"""The attention-based input interaction of He et al. 2016 against a hand-computed example:
the cosine attention matrix, the word weights (softmax over a word's own sentence of its summed
similarity to the other), the re-weighted vectors concatenated to the inputs, and padding (a
padded word gets zero attention and a zero column/row in the matrix)."""

from __future__ import annotations

import math

import pytest
import torch

from taxonomy.axes import Positions, Representations, Sequences
from training.attention import get
from training.attention.cosine_interaction import (
    COSINE_INTERACTION,
    CosineInteraction,
    cosine_interaction,
    interaction_weights,
)

X = [[1.0, 0.0], [0.0, 2.0]]  # sentence 1, L = 2, D = 2
Y = [[1.0, 1.0], [3.0, 0.0]]  # sentence 2, R = 2
PAD_VECTOR = [5.0, -5.0]  # a padded position's vector: must change nothing


def _softmax(values: list[float]) -> list[float]:
    exp = [math.exp(v) for v in values]
    return [e / sum(exp) for e in exp]


def _hand() -> tuple[list[list[float]], list[float], list[float]]:
    r = 1 / math.sqrt(2)
    d = [[r, 1.0], [r, 0.0]]  # cos(x_a, y_b)
    e_x = _softmax([sum(row) for row in d])  # [1 + r, r]
    e_y = _softmax([d[0][b] + d[1][b] for b in range(2)])  # [2r, 1]
    return d, e_x, e_y


def test_registered_with_its_facets_and_onnx_name() -> None:
    assert get("cosine_interaction") is COSINE_INTERACTION
    assert COSINE_INTERACTION.onnx == "CosineInteractionAttention"
    assert COSINE_INTERACTION.facets.positions == {Positions.SOFT}
    assert COSINE_INTERACTION.facets.representations == {Representations.SINGLE}
    assert CosineInteraction().facets().sequences == {Sequences.CO_ATTENTION}
    assert not list(CosineInteraction().parameters()), "the layer has no parameters"


def test_matches_hand_computed_example() -> None:
    d, e_x, e_y = _hand()
    x, y = torch.tensor([X]), torch.tensor([Y])
    out, similarity = cosine_interaction(x, y, y)
    assert similarity[0].tolist() == [pytest.approx(row, abs=1e-6) for row in d]
    assert e_x == pytest.approx([1 / (1 + math.exp(-1)), 1 / (1 + math.exp(1))])
    expected_left = [[*X[a], *(e_x[a] * v for v in X[a])] for a in range(2)]
    expected_right = [[*Y[b], *(e_y[b] * v for v in Y[b])] for b in range(2)]
    assert out.shape == (1, 4, 4)
    got = out[0].tolist()
    assert got == [pytest.approx(row, abs=1e-6) for row in expected_left + expected_right]


def test_padded_words_get_zero_attention_and_change_nothing() -> None:
    d, e_x, e_y = _hand()
    x = torch.tensor([X + [PAD_VECTOR]])  # (1, 3, 2): sentence 1 padded to 3
    y = torch.tensor([Y + [PAD_VECTOR, PAD_VECTOR]])  # (1, 4, 2)
    left_keep = torch.tensor([[True, True, False]])
    right_keep = torch.tensor([[True, True, False, False]])
    layer = CosineInteraction()
    left, right, similarity, layer_x, layer_y = layer(x, y, left_keep, right_keep)
    assert left.shape == (1, 3, 4) and right.shape == (1, 4, 4) and similarity.shape == (1, 3, 4)
    assert similarity[0, :2, :2].tolist() == [pytest.approx(row, abs=1e-6) for row in d]
    assert torch.all(similarity[0, 2, :] == 0) and torch.all(similarity[0, :, 2:] == 0)
    mask = left_keep.unsqueeze(2) & right_keep.unsqueeze(1)
    w_x, w_y = interaction_weights(similarity, mask)
    assert w_x[0].tolist() == pytest.approx([*e_x, 0.0], abs=1e-6)
    assert w_y[0].tolist() == pytest.approx([*e_y, 0.0, 0.0], abs=1e-6)
    assert w_x[0, 2] == 0.0 and torch.all(w_y[0, 2:] == 0.0)
    assert torch.equal(layer_x, w_x) and torch.equal(layer_y, w_y)
    # the re-weighted half of a padded word is exactly zero, whatever its vector
    assert torch.all(left[0, 2, 2:] == 0) and torch.all(right[0, 2:, 2:] == 0)
    assert left[0, :2, 2:].tolist() == [
        pytest.approx([e_x[a] * v for v in X[a]], abs=1e-6) for a in range(2)
    ]


def test_batch_rows_do_not_interact() -> None:
    x = torch.randn(3, 5, 4)
    y = torch.randn(3, 6, 4)
    out, similarity = cosine_interaction(x, y, y)
    one, one_similarity = cosine_interaction(x[1:2], y[1:2], y[1:2])
    assert torch.allclose(out[1:2], one, atol=1e-6)
    assert torch.allclose(similarity[1:2], one_similarity, atol=1e-6)
