"""One memory-network hop against hand-computed numbers: p = softmax(uᵀ m_i), o = Σ p_i c_i,
padding slots at exactly 0, and linear start (no softmax)."""

from __future__ import annotations

import math

import torch

from taxonomy.axes import Positions, Representations, Sequences
from training.attention import get
from training.attention.memory_hop import MemoryHop, memory_hop


def _example() -> tuple[torch.Tensor, ...]:
    # u = [1, 0]; m_1 = [ln 3, 0] scores ln 3, m_2 = [0, 5] scores 0, m_3 (padding) scores 100.
    query = torch.tensor([[1.0, 0.0]])  # (1, 2)
    keys = torch.tensor([[[math.log(3.0), 0.0], [0.0, 5.0], [100.0, 0.0]]])  # (1, 3, 2)
    values = torch.tensor([[[4.0, 0.0], [0.0, 8.0], [50.0, 50.0]]])  # (1, 3, 2)
    mask = torch.tensor([[True, True, False]])  # (1, 3)
    return query, keys, values, mask


def test_hop_reads_the_softmax_weighted_memory() -> None:
    query, keys, values, mask = _example()
    out, weights = memory_hop(query, keys, values, mask)
    # softmax(ln 3, 0) = (3/4, 1/4); o = 3/4 [4, 0] + 1/4 [0, 8] = [3, 2]
    assert torch.allclose(weights, torch.tensor([[0.75, 0.25, 0.0]]), atol=1e-6)
    assert torch.allclose(out, torch.tensor([[3.0, 2.0]]), atol=1e-5)
    assert weights[0, 2].item() == 0.0  # the padding slot, whatever its score


def test_without_mask_every_slot_counts() -> None:
    query, keys, values, _ = _example()
    _, weights = memory_hop(query, keys, values, None)
    assert weights[0, 2] > 0.99


def test_linear_start_drops_the_softmax_but_keeps_padding_at_zero() -> None:
    query, keys, values, mask = _example()
    out, weights = memory_hop(query, keys, values, mask, linear=True)
    assert torch.allclose(weights, torch.tensor([[math.log(3.0), 0.0, 0.0]]), atol=1e-6)
    assert torch.allclose(out, torch.tensor([[4 * math.log(3.0), 0.0]]), atol=1e-5)


def test_layer_switches_linear_start_and_declares_its_facets() -> None:
    query, keys, values, mask = _example()
    hop = MemoryHop()
    assert hop.linear is False
    hop.linear = True
    assert hop(query, keys, values, mask)[1].sum() > 1.0  # no softmax: not a distribution
    hop.linear = False
    assert torch.allclose(hop(query, keys, values, mask)[1].sum(), torch.tensor(1.0))
    facets = hop.facets()
    assert facets.sequences == {Sequences.DISTINCTIVE}
    assert facets.positions == {Positions.SOFT}
    assert facets.representations == {Representations.SINGLE}


def test_registered_as_the_memory_hop_function() -> None:
    mech = get("memory_hop")
    assert mech.onnx == "MemoryHop"
