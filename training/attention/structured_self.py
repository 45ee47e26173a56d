"""Structured self-attention (Lin et al. 2017, "A Structured Self-attentive Sentence Embedding"):
r hops of attention over the n hidden states H (n × 2u) of a BiLSTM,

    A = softmax(W_s2 tanh(W_s1 Hᵀ))   (r × n, a softmax over the n positions in every row)
    M = A H                            (r × 2u: the sentence embedding, one row per hop)

with the penalty P = ‖A Aᵀ − I‖²_F added to the loss, which pushes the hops towards different
positions (each row as focused as possible, rows disjoint).

The thin module owns W_s1 (a projection, outside the mechanism, as in every thin module of the
zoo); W_s2 (r × d_a) — r learned queries, one per hop — is the query the module passes in, so
the ONNX function ``StructuredSelfAttention`` computes tanh, the scores and the softmax. HAN's
attention (training/attention/hierarchical.py) is the r = 1 case with a bias in the projection.

Is it multi-dimensional? The survey (sec. 4.4; taxonomy/axes.py) calls attention
multi-dimensional when every candidate gets "a vector of attention scores" rather than one
scalar, and names Lin et al. 2017 among its examples. With r > 1 hops every position j gets the
vector (A_1j, ..., A_rj): multi-dimensional by that definition, though the vector has one entry
per hop, not per feature dimension as in DiSAN (training/attention/multi_dimensional.py). With
r = 1 it is ordinary single-representation attention. :class:`StructuredSelfAttention` tags
itself accordingly (``representations``: multi-dimensional when hops > 1, else single).

Mask convention: True = may attend. Legend: B batch, N positions, R hops, A = d_a, E = 2u.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from taxonomy.axes import Positions, Representations, Sequences
from taxonomy.card import Facets
from training.attention.base import AttentionCore, AttentionLayer, Mechanism
from training.attention.owned import masked_softmax
from training.attention.registry import register


def structured_self_attention(
    query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """query (R, A) = W_s2, keys (B, N, A) = W_s1 h_j (before tanh), values (B, N, E) = H, mask
    bool (B, N) or None. Returns M = A H (B, R, E) and A (B, R, N), each row a distribution
    over the unmasked positions (masked positions get exactly 0)."""
    scores = torch.matmul(torch.tanh(keys), query.transpose(0, 1))  # (B, N, R)
    scores = scores.transpose(1, 2)  # (B, R, N)
    weights = masked_softmax(scores, None if mask is None else mask.unsqueeze(1))  # (B, R, N)
    return torch.bmm(weights, values), weights  # (B, R, E), (B, R, N)


def penalty(weights: Tensor) -> Tensor:
    """‖A Aᵀ − I‖²_F per example: weights A (B, R, N) -> (B,)."""
    gram = torch.bmm(weights, weights.transpose(1, 2))  # (B, R, R)
    eye = torch.eye(weights.shape[1], dtype=weights.dtype, device=weights.device)  # (R, R)
    return ((gram - eye) ** 2).sum((1, 2))


STRUCTURED_SELF = register(
    Mechanism(
        name="structured_self",
        fn=structured_self_attention,
        score="W_s2 tanh(W_s1 Hᵀ), softmax over positions in each of the r rows (hops)",
        # representations are the layer's to say: multi-dimensional when r > 1 (see above)
        facets=Facets(positions=frozenset({Positions.SOFT})),
        onnx="StructuredSelfAttention",
    )
)


class StructuredSelfAttention(AttentionLayer):
    """The thin module: W_s1 (E -> d_a, no bias) and W_s2 (r × d_a), r hops of self-attention
    of a sentence over its own hidden states."""

    def __init__(self, features: int, attention_dim: int, hops: int) -> None:
        super().__init__(
            STRUCTURED_SELF,
            Sequences.SELF,
            query_from=f"{hops} learned hop queries (rows of W_s2)",
            keys_from="BiLSTM hidden states h_j of the same text",
        )
        self.hops = hops
        self.ws1 = nn.Linear(features, attention_dim, bias=False)  # W_s1
        bound = attention_dim**-0.5
        self.ws2 = nn.Parameter(torch.empty(hops, attention_dim).uniform_(-bound, bound))  # W_s2
        self.core = AttentionCore(STRUCTURED_SELF)

    def facets(self) -> Facets:
        kind = Representations.MULTI_DIMENSIONAL if self.hops > 1 else Representations.SINGLE
        return super().facets().union(Facets(representations=frozenset({kind})))

    def forward(self, states: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """states H (B, N, E), mask (B, N). Returns M (B, R, E) and A (B, R, N)."""
        return self.core(self.ws2, self.ws1(states), states, mask)
