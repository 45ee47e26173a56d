"""Graph attention (Veličković et al. 2018, GAT): every node attends over its neighbours.

    e_ij = LeakyReLU(aᵀ [W h_i ‖ W h_j]),   α_ij = softmax_{j ∈ N(i)} e_ij,   h'_i = Σ_j α_ij W h_j

Splitting a = [a_dst ‖ a_src] gives e_ij = LeakyReLU(a_dstᵀ W h_i + a_srcᵀ W h_j): the layer
projects each node once to a per-head *query* score q_i = a_dstᵀ W h_i and *key* score
k_j = a_srcᵀ W h_j (projections, like SDPA's q/k/v projections, stay outside the mechanism), and
the pure function does the rest on the edge list: combine, LeakyReLU, a softmax over each node's
incoming edges (scatter max / scatter sum, exported as ONNX ScatterElements), and the weighted sum.

Masking: the edge list *is* the mask. Edge ``(j, i)`` (source j in row 0, target i in row 1) means
"i may attend to j" — the sparse form of the dense convention True = may attend. A node with no
incoming edge gets zero output (GAT adds self-loops, so every node has one).

Legend: N nodes, E directed edges, H heads, F features per head.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from taxonomy.axes import Positions, Representations, Sequences
from taxonomy.card import Facets
from training.attention.base import AttentionCore, AttentionLayer, Mechanism, exporting
from training.attention.registry import register


def graph_attention(
    query: Tensor,
    keys: Tensor,
    values: Tensor,
    edges: Tensor,
    *,
    negative_slope: float = 0.2,
    dropout: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """Attention of every node over its in-neighbours, computed on the edge list.

    query (N, H): per-node target score a_dstᵀ W h_i; keys (N, H): per-node source score
    a_srcᵀ W h_j; values (N, H, F): W h; edges int64 (2, E): row 0 source j, row 1 target i
    (i attends to j). ``dropout`` (training only: 0 at export) drops normalised coefficients.
    Returns out (N, H, F) = Σ_j α_ij values_j and weights α (H, E), one per edge and head; the
    weights of each target node's incoming edges sum to 1.
    """
    source, target = edges[0], edges[1]  # (E,), (E,)
    N, H = query.shape
    scores = query.index_select(0, target) + keys.index_select(0, source)  # (E, H)
    scores = F.leaky_relu(scores, negative_slope)  # (E, H)
    # Softmax over each target's incoming edges; the per-target max only stabilises exp().
    index = target.unsqueeze(1).expand_as(scores)  # (E, H)
    floor = torch.full((N, H), float("-inf"), dtype=scores.dtype, device=scores.device)
    peak = floor.scatter_reduce(0, index, scores.detach(), reduce="amax")  # (N, H)
    exp = torch.exp(scores - peak.index_select(0, target))  # (E, H)
    total = torch.zeros_like(query).scatter_add(0, index, exp)  # (N, H)
    weights = exp / total.index_select(0, target)  # (E, H)
    coefficients = dropout_mask(weights, dropout) if dropout > 0 else weights  # (E, H)
    messages = coefficients.unsqueeze(-1) * values.index_select(0, source)  # (E, H, F)
    if exporting():
        # ScatterElements(add). Not index_add: it exports to ScatterND(add), which
        # onnxruntime 1.31 CPU sums racily over duplicate indices with > 1 thread.
        spread = index.unsqueeze(-1).expand_as(messages)  # (E, H, F)
        out = torch.zeros_like(values).scatter_add(0, spread, messages)  # (N, H, F)
    else:
        out = torch.zeros_like(values).index_add(0, target, messages)  # (N, H, F), faster
    return out, weights.transpose(0, 1)  # (N, H, F), (H, E)


GRAPH_ATTENTION = register(
    Mechanism(
        name="graph_attention",
        fn=graph_attention,
        score="LeakyReLU(aᵀ[W h_i ‖ W h_j]), softmax over the neighbours j of i",
        facets=Facets(
            positions=frozenset({Positions.SOFT}),
            representations=frozenset({Representations.SINGLE}),
        ),
        onnx="GraphAttention",
    )
)


class GraphAttentionLayer(AttentionLayer):
    """One GAT layer (the thin module): W, a = [a_dst ‖ a_src] and the output bias, around the
    mechanism. Input dropout (``dropout``), attention dropout (``attention_dropout``) and value
    dropout (``value_dropout``: on W h as aggregated, not as scored — what the authors' code does
    beside the paper's two) act in training only; heads are returned separately, (N, H, F) — the
    model concatenates or averages.

    The first layer may receive sparse features (torch sparse CSR or COO): ``x @ W`` is then a sparse
    matmul and input dropout drops stored values, the same as dropping a dense input's entries.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        heads: int,
        *,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        value_dropout: float = 0.0,
        dropout_per_head: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__(
            GRAPH_ATTENTION, Sequences.SELF, query_from="node", keys_from="neighbour node"
        )
        self.heads = heads
        self.out_features = out_features
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.value_dropout = value_dropout
        self.dropout_per_head = dropout_per_head
        self.weight = nn.Parameter(torch.empty(heads * out_features, in_features))  # W, (H F, F_in)
        self.att_dst = nn.Parameter(torch.empty(heads, out_features))  # a_dst, (H, F)
        self.att_src = nn.Parameter(torch.empty(heads, out_features))  # a_src, (H, F)
        self.bias = nn.Parameter(torch.zeros(heads, out_features)) if bias else None  # (H, F)
        # Modules start in training mode; train()/eval() switch the dropout option (see train()).
        self.core = AttentionCore(
            GRAPH_ATTENTION, negative_slope=negative_slope, dropout=attention_dropout
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight)
        # Glorot over a's fan-in 2F (the paper's single vector a = [a_dst ‖ a_src]).
        bound = (6.0 / (2 * self.out_features + 1)) ** 0.5
        nn.init.uniform_(self.att_dst, -bound, bound)
        nn.init.uniform_(self.att_src, -bound, bound)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def train(self, mode: bool = True) -> GraphAttentionLayer:
        # The pure function is stateless: attention dropout is an option of the core, on only
        # while training, so the exported (eval) graph carries no dropout at all.
        super().train(mode)
        self.core.options["dropout"] = self.attention_dropout if mode else 0.0
        return self

    def forward(self, x: Tensor, edge_index: Tensor) -> tuple[Tensor, Tensor]:
        """x (N, F_in) dense or sparse, edge_index int64 (2, E) (row 0 source, row 1 target).
        Returns (N, H, F) and the attention weights (H, E)."""
        p = self.dropout if self.training else 0.0
        groups = self.heads if self.dropout_per_head and p > 0 else 1
        # One input dropout mask per group of heads: per head, as the authors' code draws them.
        blocks = self.weight.view(groups, -1, self.weight.shape[1])  # (G, H F / G, F_in)
        projected = torch.cat([_project(x, w, p) for w in blocks], dim=1)  # (N, H F)
        values = projected.view(-1, self.heads, self.out_features)  # (N, H, F)
        query = (values * self.att_dst).sum(-1)  # (N, H)
        keys = (values * self.att_src).sum(-1)  # (N, H)
        values = _dropout(values, self.value_dropout, self.training)  # (N, H, F)
        out, weights = self.core(query, keys, values, edge_index)  # (N, H, F), (H, E)
        if self.bias is not None:
            out = out + self.bias  # (N, H, F)
        return out, weights

    def extra_repr(self) -> str:
        options: dict[str, Any] = {
            "in": self.weight.shape[1],
            "out": self.out_features,
            "heads": self.heads,
            "dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
            "value_dropout": self.value_dropout,
        }
        return ", ".join(f"{k}={v}" for k, v in options.items())


def dropout_mask(x: Tensor, p: float) -> Tensor:
    """Inverted dropout (training only) with a uniform-noise mask: same distribution as
    F.dropout, about twice as fast on CPU for these sizes."""
    return x * (torch.rand_like(x) >= p) / (1.0 - p)


def _project(x: Tensor, weight: Tensor, p: float) -> Tensor:
    """dropout(x, p) @ weightᵀ: x (N, F_in) dense, sparse COO or CSR, weight (D, F_in) ->
    (N, D). A sparse CSR x takes :class:`_CsrProjection` (no re-sorting in backward)."""
    if x.layout == torch.sparse_csr and torch.is_grad_enabled() and weight.requires_grad:
        values = dropout_mask(x.values(), p) if p > 0 else x.values()  # (nnz,)
        plan = _transpose_plan(x)
        return _CsrProjection.apply(values, weight.t(), x, plan)  # type: ignore[no-any-return]
    return _dropout(x, p, p > 0) @ weight.t()


class _CsrProjection(torch.autograd.Function):
    """x @ Wᵀ for a CSR x with new values each step (dropout) and a fixed sparsity pattern. The
    weight gradient needs xᵀ @ grad; torch re-sorts xᵀ every step, here its pattern is cached."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, values: Tensor, weight_t: Tensor, x: Tensor, plan: _Transpose
    ) -> Tensor:
        ctx.save_for_backward(values)
        ctx.plan = plan
        return _csr(x.crow_indices(), x.col_indices(), values, x.shape) @ weight_t  # (N, D)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, Tensor, None, None]:  # type: ignore[override]
        (values,) = ctx.saved_tensors
        plan: _Transpose = ctx.plan
        x_t = _csr(plan.crow, plan.col, values[plan.order], plan.shape)  # (F_in, N)
        return None, x_t @ grad, None, None  # grad of Wᵀ: (F_in, D)


class _Transpose:
    """The CSR pattern of xᵀ and where each of its values sits in x.values()."""

    def __init__(self, x: Tensor) -> None:
        crow, col = x.crow_indices(), x.col_indices()
        rows, columns = x.shape
        row = torch.repeat_interleave(torch.arange(rows), crow.diff())  # (nnz,)
        self.order = torch.argsort(col * rows + row)  # (nnz,): xᵀ's values = values[order]
        counts = torch.bincount(col, minlength=columns)  # (F_in,)
        self.crow = torch.cat([counts.new_zeros(1), counts.cumsum(0)])  # (F_in + 1,)
        self.col = row[self.order]  # (nnz,)
        self.shape = (columns, rows)
        self.source = (crow, col)  # kept alive, so their data pointers stay theirs


_PLANS: dict[tuple[int, int, int], _Transpose] = {}


def _transpose_plan(x: Tensor) -> _Transpose:
    crow, col = x.crow_indices(), x.col_indices()
    key = (crow.data_ptr(), col.data_ptr(), col.numel())
    if key not in _PLANS:
        if len(_PLANS) >= 4:
            _PLANS.pop(next(iter(_PLANS)))
        _PLANS[key] = _Transpose(x)
    return _PLANS[key]


def _csr(crow: Tensor, col: Tensor, values: Tensor, shape: Any) -> Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, tuple(shape), check_invariants=False)


def _dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Dropout of a dense or sparse (COO / CSR) input; a sparse input's stored values are
    dropped, which is exactly dropout of the dense matrix (zeros stay zero)."""
    if not training or p == 0.0:
        return x
    if x.layout == torch.sparse_csr:
        kept = dropout_mask(x.values(), p)  # (nnz,)
        return _csr(x.crow_indices(), x.col_indices(), kept, x.shape)
    if x.layout == torch.sparse_coo:
        x = x.coalesce()
        kept = dropout_mask(x.values(), p)  # (nnz,)
        return torch.sparse_coo_tensor(x.indices(), kept, x.shape, is_coalesced=True)
    return dropout_mask(x, p)
