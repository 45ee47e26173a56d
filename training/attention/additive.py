"""Additive attention (Bahdanau, Cho, Bengio 2015, RNNsearch): the decoder state s_{i-1} and
every source annotation h_j are scored by a one-hidden-layer network,

    e_ij = vᵀ tanh(W s_{i-1} + U h_j),   α_ij = softmax_j e_ij,   c_i = Σ_j α_ij h_j

The thin module owns the projections W and U (U h_j is computed once per sentence, outside the
decoding loop); the mechanism owns v, so the ONNX function ``AdditiveAttention`` computes the
whole score from the projected query and keys.

Legend: B batch, L queries (decoder steps), S source positions, A attention dim, E value dim.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from taxonomy.axes import Positions, Representations, Sequences
from taxonomy.card import Facets
from training.attention.base import AttentionLayer, Mechanism
from training.attention.owned import OwnedWeightsCore, masked_softmax
from training.attention.registry import register


def additive(
    query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None, *, v: Tensor
) -> tuple[Tensor, Tensor]:
    """query (B, L, A) = W s, keys (B, S, A) = U h, values (B, S, E), mask bool broadcastable to
    (B, L, S) (True = may attend), v (1, A). Returns out (B, L, E) and weights (B, L, S)."""
    hidden = torch.tanh(query.unsqueeze(2) + keys.unsqueeze(1))  # (B, L, S, A)
    scores = F.linear(hidden, v).squeeze(-1)  # (B, L, S)
    weights = masked_softmax(scores, mask)  # (B, L, S)
    return torch.bmm(weights, values), weights


ADDITIVE = register(
    Mechanism(
        name="additive",
        fn=additive,
        score="vᵀ tanh(W s_{i-1} + U h_j)",
        facets=Facets(
            positions=frozenset({Positions.SOFT}),
            representations=frozenset({Representations.SINGLE}),
        ),
        onnx="AdditiveAttention",
    )
)


class AdditiveAttention(AttentionLayer):
    """Bahdanau attention of a decoder state over the source annotations (the thin module)."""

    def __init__(
        self,
        query_dim: int,
        key_dim: int,
        attention_dim: int,
        query_from: str = "previous decoder state s_{i-1}",
        keys_from: str = "source annotations h_j (bidirectional encoder)",
    ) -> None:
        super().__init__(ADDITIVE, Sequences.DISTINCTIVE, query_from, keys_from)
        self.query_proj = nn.Linear(query_dim, attention_dim, bias=False)  # W
        self.key_proj = nn.Linear(key_dim, attention_dim)  # U (its bias is the network's bias)
        v = torch.empty(1, attention_dim).uniform_(-(attention_dim**-0.5), attention_dim**-0.5)
        self.core = OwnedWeightsCore(ADDITIVE, {"v": v})

    def prepare(self, annotations: Tensor) -> Tensor:
        """U h for every source position, once per sentence: (B, S, K) -> (B, S, A)."""
        return self.key_proj(annotations)

    def forward(
        self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """query (B, L, Q) decoder states, keys (B, S, A) from :meth:`prepare`, values (B, S, E).
        Returns (B, L, E) and weights (B, L, S)."""
        return self.core(self.query_proj(query), keys, values, mask)
