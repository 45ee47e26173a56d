"""Dynamic meta-embeddings (Kiela et al. 2018) against a hand-computed example: the weights over
embedding sets are softmax_j(a · P_j w_ij + b), the meta-embedding their weighted sum of the
projected vectors, a padded token gets zero weight on every set."""

from __future__ import annotations

import math

import pytest
import torch

from taxonomy.axes import Positions, Representations
from training.attention import get
from training.attention.meta_embedding import META_EMBEDDING, MetaEmbedding, meta_embedding

# One sentence of two tokens, n = 2 sets already projected to d' = 2.
SETS = [
    [[1.0, 2.0], [0.0, -1.0]],  # token 1: set 1, set 2
    [[3.0, 0.0], [1.0, 1.0]],  # token 2
]
A = [0.5, -1.0]
B = 0.25


def _hand(token: int) -> tuple[list[float], list[float]]:
    scores = [sum(a * w for a, w in zip(A, SETS[token][j], strict=True)) + B for j in range(2)]
    exp = [math.exp(s) for s in scores]
    alpha = [e / sum(exp) for e in exp]
    out = [sum(alpha[j] * SETS[token][j][k] for j in range(2)) for k in range(2)]
    return alpha, out


def test_registered_with_its_facets_and_onnx_name() -> None:
    assert get("meta_embedding") is META_EMBEDDING
    assert META_EMBEDDING.onnx == "MetaEmbeddingAttention"
    assert META_EMBEDDING.facets.representations == {Representations.MULTI_REPRESENTATIONAL}
    assert META_EMBEDDING.facets.positions == {Positions.SOFT}


def test_matches_hand_computed_example() -> None:
    keys = torch.tensor([SETS])  # (1, L, n, d')
    out, weights = meta_embedding(
        keys, keys, keys, None, weight=torch.tensor([A]), bias=torch.tensor([B])
    )
    for token in range(2):
        alpha, expected = _hand(token)
        assert weights[0, token].tolist() == pytest.approx(alpha, abs=1e-6)
        assert out[0, token].tolist() == pytest.approx(expected, abs=1e-6)


def test_thin_module_projects_then_attends_and_masks_padding() -> None:
    layer = MetaEmbedding([3, 2], dim=2)
    with torch.no_grad():  # P_1 takes the first two features, P_2 is the identity
        layer.projections[0].weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
        layer.projections[1].weight.copy_(torch.eye(2))
        for p in layer.projections:
            p.bias.zero_()
        layer.core.get_parameter("weight").copy_(torch.tensor([A]))
        layer.core.get_parameter("bias").copy_(torch.tensor([B]))
    first = torch.tensor([[[1.0, 2.0, 9.0], [3.0, 0.0, 9.0], [7.0, 7.0, 7.0]]])  # (1, 3, 3)
    second = torch.tensor([[[0.0, -1.0], [1.0, 1.0], [4.0, 4.0]]])  # (1, 3, 2)
    keep = torch.tensor([[True, True, False]])  # the third token is padding
    out, weights = layer([first, second], keep)
    assert out.shape == (1, 3, 2) and weights.shape == (1, 3, 2)
    for token in range(2):
        alpha, expected = _hand(token)
        assert weights[0, token].tolist() == pytest.approx(alpha, abs=1e-6)
        assert out[0, token].tolist() == pytest.approx(expected, abs=1e-6)
    assert torch.all(weights[0, 2] == 0) and torch.all(out[0, 2] == 0)


def test_needs_two_sets() -> None:
    with pytest.raises(ValueError, match="two embedding sets"):
        MetaEmbedding([4], dim=2)
