"""Multi-dimensional (feature-wise) attention in the style of DiSAN: a softmax over positions for
every feature, DiSAN's forward / backward masks (diagonal disabled), padding gets zero weight,
and the source2token compression — all against hand-computed examples."""

from __future__ import annotations

import math

import pytest
import torch

from taxonomy.axes import Representations
from training.attention.multi_dimensional import (
    DirectionalSelfAttention,
    Source2Token,
    directional_mask,
    featurewise_softmax,
    multi_dimensional,
    multi_dimensional_source2token,
)


def _softmax(*xs: float) -> list[float]:
    z = sum(math.exp(x) for x in xs)
    return [math.exp(x) / z for x in xs]


def test_directional_masks_by_hand() -> None:
    keep = torch.tensor([[True, True, True, False]])
    forward = torch.tensor(
        [[0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.bool
    )  # i attends to earlier j only; the padded position neither attends nor is attended
    backward = torch.tensor(
        [[0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=torch.bool
    )
    assert torch.equal(directional_mask(keep, "forward")[0], forward)
    assert torch.equal(directional_mask(keep, "backward")[0], backward)
    with pytest.raises(ValueError, match="direction"):
        directional_mask(keep, "sideways")


def test_featurewise_softmax_is_one_softmax_per_feature() -> None:
    scores = torch.tensor([[[0.0, 1.0], [1.0, 1.0], [2.0, 0.0]]])  # (1, N=3, D=2)
    weights = featurewise_softmax(scores, torch.tensor([[True, True, False]]))
    assert torch.allclose(weights[0, :, 0], torch.tensor([*_softmax(0.0, 1.0), 0.0]), atol=1e-6)
    assert torch.allclose(weights[0, :, 1], torch.tensor([0.5, 0.5, 0.0]), atol=1e-6)


def test_token2token_by_hand_under_both_masks() -> None:
    c = 5.0
    query = torch.zeros(1, 3, 2)
    keys = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]])  # (1, N=3, D=2)
    values = torch.tensor([[[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]]])
    keep = torch.ones(1, 3, dtype=torch.bool)
    f1, f2 = c * math.tanh(1 / c), c * math.tanh(2 / c)  # the scores of keys 1 (feature 0), 2 (1)

    out, w = multi_dimensional(query, keys, values, directional_mask(keep, "forward"), c=c)
    assert w.shape == (1, 3, 3, 2)
    assert not w[0, 0].any() and not out[0, 0].any()  # the first token has no earlier token
    assert torch.allclose(w[0, 1, :, 0], torch.tensor([1.0, 0.0, 0.0]))  # only j = 0
    a0 = _softmax(0.0, f1)  # i = 2, feature 0 over j = 0, 1
    assert torch.allclose(w[0, 2, :, 0], torch.tensor([*a0, 0.0]), atol=1e-6)
    assert torch.allclose(w[0, 2, :, 1], torch.tensor([0.5, 0.5, 0.0]), atol=1e-6)
    assert torch.allclose(out[0, 2], torch.tensor([a0[0] + 2 * a0[1], 15.0]), atol=1e-5)

    out, w = multi_dimensional(query, keys, values, directional_mask(keep, "backward"), c=c)
    b0, b1 = _softmax(f1, 0.0), _softmax(0.0, f2)  # i = 0 over j = 1, 2
    assert torch.allclose(w[0, 0, :, 0], torch.tensor([0.0, *b0]), atol=1e-6)
    assert torch.allclose(w[0, 0, :, 1], torch.tensor([0.0, *b1]), atol=1e-6)
    assert torch.allclose(out[0, 0], torch.tensor([2 * b0[0] + 3 * b0[1], 20 * b1[0] + 30 * b1[1]]))
    assert not w[0, 2].any()  # the last token has no later token


def test_source2token_by_hand() -> None:
    query = torch.tensor([[1.0], [-1.0]])  # Wᵀ (D=2, A=1)
    keys = torch.tensor([[[0.0], [1.0], [-1.0]]])  # elu: 0, 1, e^-1 - 1
    values = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
    mask = torch.tensor([[True, True, False]])
    out, w = multi_dimensional_source2token(query, keys, values, mask)
    a, b = _softmax(0.0, 1.0), _softmax(0.0, -1.0)
    assert torch.allclose(w[0], torch.tensor([[a[0], b[0]], [a[1], b[1]], [0.0, 0.0]]), atol=1e-6)
    assert torch.allclose(out[0], torch.tensor([a[0] + 3 * a[1], 2 * b[0] + 4 * b[1]]), atol=1e-6)


def test_modules_shapes_padding_and_tags() -> None:
    keep = torch.arange(6).unsqueeze(0) < torch.tensor([[6], [3]])  # (2, 6)
    block = DirectionalSelfAttention(5, 4, "backward")
    u, w = block(torch.randn(2, 6, 5), keep)
    assert u.shape == (2, 6, 4) and w.shape == (2, 6, 6, 4)
    assert not w[1, :, 3:].any() and not w[1, 3:].any()  # padding neither attended nor attending
    assert torch.allclose(w[0, 0].sum(0), torch.ones(4), atol=1e-6)  # row i=0 sums to 1 per k
    pool = Source2Token(4, 3)
    s, p = pool(u, keep)
    assert s.shape == (2, 4) and p.shape == (2, 6, 4)
    assert torch.allclose(p.sum(1), torch.ones(2, 4), atol=1e-6) and not p[1, 3:].any()
    for layer in (block, pool):
        assert layer.facets().representations == {Representations.MULTI_DIMENSIONAL}
