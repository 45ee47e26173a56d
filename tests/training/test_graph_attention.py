"""Graph attention: the pure function against hand-computed numbers, the neighbourhood softmax,
the layer against the paper's dense formula, and dropout only while training."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from taxonomy.axes import Positions, Representations, Sequences
from training.attention import get
from training.attention.graph_attention import (
    GRAPH_ATTENTION,
    GraphAttentionLayer,
    _project,
    graph_attention,
)

SLOPE = 0.2


def _leaky(x: float) -> float:
    return x if x > 0 else SLOPE * x


def _random_graph(n: int, p: float, seed: int) -> torch.Tensor:
    """Directed edges (2, E): row 0 source, row 1 target; self-loops on every node."""
    g = torch.Generator().manual_seed(seed)
    adjacency = torch.rand(n, n, generator=g) < p
    adjacency |= torch.eye(n, dtype=torch.bool)
    target, source = adjacency.nonzero(as_tuple=True)  # adjacency[i, j]: i attends to j
    return torch.stack([source, target])


def test_matches_hand_computed_example() -> None:
    # 3 nodes, 1 head; edges (source -> target): self-loops, 0 <-> 1 and 1 -> 2.
    edges = torch.tensor([[0, 1, 2, 1, 0, 1], [0, 1, 2, 0, 1, 2]])
    q = [0.5, -1.0, 2.0]  # a_dstᵀ W h_i
    k = [1.0, 0.3, -0.5]  # a_srcᵀ W h_j
    v = [[1.0, 2.0], [3.0, -1.0], [0.0, 4.0]]  # W h_j
    out, weights = graph_attention(
        torch.tensor(q).view(3, 1),
        torch.tensor(k).view(3, 1),
        torch.tensor(v).view(3, 1, 2),
        edges,
        negative_slope=SLOPE,
    )
    assert out.shape == (3, 1, 2) and weights.shape == (1, 6)
    sources, targets = edges.tolist()
    for i in range(3):
        incoming = [e for e, t in enumerate(targets) if t == i]
        scores = [_leaky(q[i] + k[sources[e]]) for e in incoming]
        total = sum(math.exp(s) for s in scores)
        alpha = [math.exp(s) / total for s in scores]
        assert weights[0, incoming].tolist() == pytest.approx(alpha, abs=1e-6)
        expected = [
            sum(a * v[sources[e]][f] for a, e in zip(alpha, incoming, strict=True))
            for f in range(2)
        ]
        assert out[i, 0].tolist() == pytest.approx(expected, abs=1e-6)


def test_weights_of_each_target_sum_to_one_per_head() -> None:
    edges = _random_graph(30, 0.15, seed=0)
    N, H, Fh = 30, 4, 5
    out, weights = graph_attention(
        torch.randn(N, H) * 5, torch.randn(N, H) * 5, torch.randn(N, H, Fh), edges
    )
    sums = torch.zeros(H, N).index_add(1, edges[1], weights)  # (H, N)
    assert torch.allclose(sums, torch.ones(H, N), atol=1e-5)
    assert torch.all(weights >= 0) and out.shape == (N, H, Fh)


def test_a_node_never_attends_to_a_non_neighbour() -> None:
    edges = _random_graph(12, 0.2, seed=1)
    q, k, v = torch.randn(12, 2), torch.randn(12, 2), torch.randn(12, 2, 3)
    out, _ = graph_attention(q, k, v, edges)
    for i in range(12):
        neighbours = set(edges[0, edges[1] == i].tolist())
        outsider = next(j for j in range(12) if j not in neighbours)
        k2, v2 = k.clone(), v.clone()
        k2[outsider] += 100.0
        v2[outsider] += 100.0
        out2, _ = graph_attention(q, k2, v2, edges)
        assert torch.allclose(out[i], out2[i]), f"node {i} saw non-neighbour {outsider}"


def test_a_node_without_incoming_edges_gets_zero_output() -> None:
    edges = torch.tensor([[0, 1], [1, 1]])  # nobody attends from node 0 or 2's side
    out, weights = graph_attention(
        torch.randn(3, 1), torch.randn(3, 1), torch.randn(3, 1, 2), edges
    )
    assert torch.all(out[0] == 0) and torch.all(out[2] == 0)
    assert weights.sum().item() == pytest.approx(1.0)


def test_layer_equals_the_papers_dense_formula() -> None:
    torch.manual_seed(0)
    N, F_in, H, Fh = 9, 6, 3, 4
    layer = GraphAttentionLayer(F_in, Fh, H, negative_slope=SLOPE).eval()
    edges = _random_graph(N, 0.3, seed=2)
    x = torch.randn(N, F_in)
    out, weights = layer(x, edges)  # (N, H, Fh), (H, E)
    adjacency = torch.zeros(N, N, dtype=torch.bool)  # [i, j]: True = i may attend to j
    adjacency[edges[1], edges[0]] = True
    wh = (x @ layer.weight.t()).view(N, H, Fh)  # (N, H, Fh)
    a = torch.cat([layer.att_dst, layer.att_src], dim=-1)  # (H, 2 Fh): a = [a_dst ‖ a_src]
    for h in range(H):
        pairs = torch.cat(  # (N, N, 2 Fh): [W h_i ‖ W h_j]
            [wh[:, None, h].expand(N, N, Fh), wh[None, :, h].expand(N, N, Fh)], dim=-1
        )
        e = F.leaky_relu(pairs @ a[h], SLOPE)  # (N, N)
        alpha = torch.softmax(e.masked_fill(~adjacency, float("-inf")), dim=-1)  # (N, N)
        assert torch.allclose(out[:, h], alpha @ wh[:, h] + layer.bias[h], atol=1e-5)
        assert torch.allclose(weights[h], alpha[edges[1], edges[0]], atol=1e-6)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_sparse_and_dense_inputs_agree() -> None:
    torch.manual_seed(0)
    layer = GraphAttentionLayer(20, 4, 2).eval()
    x = torch.rand(15, 20) * (torch.rand(15, 20) < 0.2)
    edges = _random_graph(15, 0.2, seed=3)
    dense, wd = layer(x, edges)
    for sparse_x in (x.to_sparse_csr(), x.to_sparse_coo()):
        sparse, ws = layer(sparse_x, edges)
        assert torch.allclose(dense, sparse, atol=1e-6) and torch.allclose(wd, ws, atol=1e-6)


def test_dropout_acts_only_in_training() -> None:
    torch.manual_seed(0)
    layer = GraphAttentionLayer(
        8, 4, 2, dropout=0.5, attention_dropout=0.5, value_dropout=0.5, dropout_per_head=True
    )
    x, edges = torch.randn(10, 8), _random_graph(10, 0.3, seed=4)
    assert layer.training and layer.core.options["dropout"] == 0.5
    a, _ = layer(x, edges)
    b, _ = layer(x, edges)
    assert not torch.allclose(a, b)
    layer.eval()
    assert layer.core.options["dropout"] == 0.0
    a, wa = layer(x, edges)
    b, wb = layer(x, edges)
    assert torch.equal(a, b) and torch.equal(wa, wb)
    layer.train()
    assert layer.core.options["dropout"] == 0.5


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_sparse_projection_gradient_matches_dense() -> None:
    torch.manual_seed(0)
    x = torch.rand(40, 25) * (torch.rand(40, 25) < 0.2)  # (N, F_in)
    grad = torch.randn(40, 12)  # (N, D)
    weight = torch.randn(12, 25, requires_grad=True)  # (D, F_in)
    for _ in range(2):  # the second call reuses the cached transpose pattern
        (_project(x.to_sparse_csr(), weight, 0.0) * grad).sum().backward()
        sparse, weight.grad = weight.grad, None
        ((x @ weight.t()) * grad).sum().backward()
        dense, weight.grad = weight.grad, None
        assert sparse is not None and dense is not None
        assert torch.allclose(sparse, dense, atol=1e-5)


def test_registered_mechanism_and_layer_facets() -> None:
    mechanism = get("graph_attention")
    assert mechanism is GRAPH_ATTENTION and mechanism.onnx == "GraphAttention"
    assert mechanism.facets.positions == {Positions.SOFT}
    assert mechanism.facets.representations == {Representations.SINGLE}
    layer = GraphAttentionLayer(4, 2, 1)
    assert layer.facets().sequences == {Sequences.SELF}
    assert (layer.query_from, layer.keys_from) == ("node", "neighbour node")
