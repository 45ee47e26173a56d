import math

import pytest
import torch

from taxonomy.axes import Positions, Sequences
from training.attention import MECHANISMS, get
from training.attention.scaled_dot_product import MultiHeadAttention, scaled_dot_product
from training.registry_base import Registry


def _softmax(xs: list[float]) -> list[float]:
    m = max(xs)
    e = [math.exp(x - m) for x in xs]
    return [x / sum(e) for x in e]


def test_matches_hand_computed_example() -> None:
    q = torch.tensor([[[[1.0, 0.0]]]])  # (B=1, H=1, L=1, E=2)
    k = torch.tensor([[[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]]])  # (1, 1, S=3, 2)
    v = torch.tensor([[[[1.0], [2.0], [4.0]]]])
    out, w = scaled_dot_product(q, k, v)
    scores = [1 / math.sqrt(2), 0.0, 1 / math.sqrt(2)]
    expected_w = _softmax(scores)
    assert w[0, 0, 0].tolist() == pytest.approx(expected_w, abs=1e-6)
    assert out.item() == pytest.approx(
        sum(a * b for a, b in zip(expected_w, [1, 2, 4], strict=True)), abs=1e-6
    )


def test_mask_true_means_attend() -> None:
    q = torch.randn(1, 1, 1, 4)
    k, v = torch.randn(1, 1, 3, 4), torch.randn(1, 1, 3, 4)
    mask = torch.tensor([True, False, True]).view(1, 1, 1, 3)
    out, w = scaled_dot_product(q, k, v, mask)
    assert w[0, 0, 0, 1] == 0
    assert w.sum().item() == pytest.approx(1.0)
    out2, _ = scaled_dot_product(q, k[:, :, [0, 2]], v[:, :, [0, 2]])
    assert torch.allclose(out, out2, atol=1e-6)


def test_causal_is_top_left_and_fully_masked_rows_are_zero() -> None:
    q, k, v = torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 4)
    _, w = scaled_dot_product(q, k, v, causal=True)
    assert torch.all(w.triu(1) == 0)
    assert torch.allclose(w.sum(-1), torch.ones(1, 2, 3))
    nothing = torch.zeros(1, 1, 3, 3, dtype=torch.bool)
    out, w = scaled_dot_product(q, k, v, nothing)
    assert torch.all(out == 0) and torch.all(w == 0)


def test_matches_pytorch_sdpa() -> None:
    q, k, v = torch.randn(2, 4, 5, 8), torch.randn(2, 4, 7, 8), torch.randn(2, 4, 7, 8)
    mask = torch.rand(2, 1, 5, 7) > 0.3
    mask[..., 0] = True
    out, _ = scaled_dot_product(q, k, v, mask)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.allclose(out, ref, atol=1e-5)


def test_module_declares_its_facets() -> None:
    layer = MultiHeadAttention(8, 2, Sequences.DISTINCTIVE, "target", "source")
    facets = layer.facets()
    assert facets.sequences == {Sequences.DISTINCTIVE}
    assert facets.positions == {Positions.SOFT}
    out, w = layer(torch.randn(2, 3, 8), torch.randn(2, 5, 8))
    assert out.shape == (2, 3, 8) and w.shape == (2, 2, 3, 5)


def test_registry_rejects_duplicates_and_lists_choices() -> None:
    assert "scaled_dot_product" in MECHANISMS
    with pytest.raises(ValueError, match="already registered"):
        MECHANISMS.register("scaled_dot_product", get("scaled_dot_product"))
    with pytest.raises(KeyError, match="valid choices: .*scaled_dot_product"):
        get("no-such-mechanism")
    reg: Registry[int] = Registry("thing")
    reg.register("a", 1)
    assert reg.names() == ["a"]
