"""Dynamic meta-embeddings (Kiela, Wang, Cho 2018, section 3): each token attends over its own
n embeddings from different embedding sets, after projecting them to one size d':

    w'_{i,j}  = P_j w_{i,j} + c_j                  projection of set j (the thin module)
    α_{i,j}   = softmax_j (a · w'_{i,j} + b)        the paper's linear self-attention (φ = softmax)
    w^DME_i   = Σ_j α_{i,j} w'_{i,j}

(b is the paper's; it is the same for every j, so it cannot change α — kept for fidelity.) The
mechanism owns the score (a, b); the projections P_j belong to the thin module. The survey's
multi-representational attention: weights over several representations of one input.

Pure function shape: query = keys = values = the projected sets (B, L, n, d'), mask (B, L, n)
or broadcastable (B, L, 1) (True = may attend; a padded token's row is all False, so it gets
weight 0 on every set and a zero meta-embedding). Returns out (B, L, d') and weights (B, L, n).

Legend: B batch, L tokens, n embedding sets, d' projected dim, d_j set j's dim.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from taxonomy.axes import Positions, Representations, Sequences
from taxonomy.card import Facets
from training.attention.base import AttentionLayer, Mechanism
from training.attention.owned import OwnedWeightsCore, masked_softmax
from training.attention.registry import register


def meta_embedding(
    query: Tensor,
    keys: Tensor,
    values: Tensor,
    mask: Tensor | None = None,
    *,
    weight: Tensor,
    bias: Tensor,
) -> tuple[Tensor, Tensor]:
    """keys (B, L, n, d') projected embeddings (query is not read: the score vector ``weight``
    a (1, d') is the query), values (B, L, n, d'), bias b (1,), mask broadcastable to (B, L, n).
    Returns Σ_j α_j values_j (B, L, d') and α (B, L, n)."""
    scores = (keys * weight).sum(-1) + bias  # (B, L, n)
    weights = masked_softmax(scores, mask)  # (B, L, n)
    out = (weights.unsqueeze(-1) * values).sum(2)  # (B, L, d')
    return out, weights


META_EMBEDDING = register(
    Mechanism(
        name="meta_embedding",
        fn=meta_embedding,
        score="α_ij = softmax_j(a · P_j w_ij + b), over the n embedding sets of token i",
        facets=Facets(
            positions=frozenset({Positions.SOFT}),
            representations=frozenset({Representations.MULTI_REPRESENTATIONAL}),
        ),
        onnx="MetaEmbeddingAttention",
    )
)


class MetaEmbedding(AttentionLayer):
    """The thin module: projections P_j (set j's dim -> ``dim``) around the DME core.

    forward(embedded: list of (B, L, d_j), keep (B, L) bool) -> meta-embeddings (B, L, d') and
    the weights over sets (B, L, n), all 0 for padded tokens. A sentence-pair model calls it
    once over both sentences concatenated along L (one ONNX call; export/outline.py's marker
    pass keeps stale node references when one core runs twice in the same graph)."""

    def __init__(self, set_dims: list[int], dim: int) -> None:
        # Tagged self-attention: query and keys are the same token's representations.
        super().__init__(
            META_EMBEDDING,
            Sequences.SELF,
            "each token (score vector a)",
            "the token's embeddings from every set",
        )
        if len(set_dims) < 2:
            raise ValueError("meta-embeddings need at least two embedding sets")
        self.projections = nn.ModuleList(nn.Linear(d, dim) for d in set_dims)  # P_j, c_j
        bound = dim**-0.5
        a = torch.empty(1, dim).uniform_(-bound, bound)  # (1, d')
        self.core = OwnedWeightsCore(META_EMBEDDING, {"weight": a, "bias": torch.zeros(1)})

    def forward(self, embedded: list[Tensor], keep: Tensor) -> tuple[Tensor, Tensor]:
        projected = torch.stack(
            [proj(e) for proj, e in zip(self.projections, embedded, strict=True)], dim=2
        )  # (B, L, n, d')
        mask = keep.unsqueeze(-1)  # (B, L, 1): a padded token attends to no set
        return self.core(projected, projected, projected, mask)
