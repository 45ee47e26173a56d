"""Multi-dimensional (feature-wise) self-attention in the style of DiSAN (Shen et al. 2018,
"DiSAN: Directional Self-Attention Network for RNN/CNN-Free Language Understanding").

Every feature dimension k gets its own softmax over the positions, so a position is weighted by
a *vector* of scores (one per feature) rather than one scalar: the survey's multi-dimensional
attention (sec. 4.4).

* Token2token, with directional masks (``MultiDimensionalAttention``): for query i and key j,

      f(h_i, h_j) = c tanh((W_1 h_i + W_2 h_j + b_1) / c) + M_ij        (a vector in R^D)
      P_ij^k = softmax_j f(h_i, h_j)_k,    s_i = Σ_j P_ij ⊙ h_j

  The forward mask lets i attend only to earlier positions (j < i), the backward mask only to
  later ones (j > i): the diagonal is disabled in both (DiSAN's M^fw / M^bw). A position with
  no allowed key (the first under the forward mask) gets s_i = 0.
* Source2token (``MultiDimensionalSource2Token``): one vector per position, scored alone,

      f(u_i) = Wᵀ elu(W_1 u_i + b_1) (+ b),   P_i^k = softmax_i f(u_i)_k,   s = Σ_i P_i ⊙ u_i

  (the paper's bias b is constant over positions, so it cancels in the softmax over i and is
  left out).

The thin modules own the projections (W_1, W_2, b_1); the pure functions hold the score's
non-linearity, the feature-wise masked softmax and the weighted sum; the source2token's W (D × A)
is passed in as its query — D learned queries, one per feature, like Lin et al.'s r hops.

Mask convention: True = may attend. Legend: B batch, L positions (queries i), N positions (keys j),
D features, A attention dim.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from taxonomy.axes import Positions, Representations, Sequences
from taxonomy.card import Facets
from training.attention.base import AttentionCore, AttentionLayer, Mechanism
from training.attention.owned import masked_softmax
from training.attention.registry import register

DIRECTIONS = ("forward", "backward")


def featurewise_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over the positions axis (-2) for every feature (-1) separately: scores
    (..., N, D), mask bool broadcastable to (..., N). Masked positions get exactly 0 in every
    feature; a row with no allowed position is all 0."""
    flipped = scores.transpose(-1, -2)  # (..., D, N)
    weights = masked_softmax(flipped, None if mask is None else mask.unsqueeze(-2))  # (..., D, N)
    return weights.transpose(-1, -2)  # (..., N, D)


def directional_mask(keep: Tensor, direction: str) -> Tensor:
    """keep (B, L) bool (real tokens) -> (B, L, L): query i may attend to key j iff both are
    real and j < i (forward) or j > i (backward); never j = i."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction={direction!r}; valid: {', '.join(DIRECTIONS)}")
    positions = torch.arange(keep.shape[1], device=keep.device)  # (L,)
    i, j = positions.view(-1, 1), positions.view(1, -1)  # (L, 1), (1, L)
    order = j < i if direction == "forward" else j > i  # (L, L)
    return order.unsqueeze(0) & keep.unsqueeze(1) & keep.unsqueeze(2)  # (B, L, L)


def multi_dimensional(
    query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None, *, c: float = 5.0
) -> tuple[Tensor, Tensor]:
    """Token2token: query (B, L, D) = W_1 h_i, keys (B, N, D) = W_2 h_j + b_1, values (B, N, D)
    = h_j, mask bool (B, L, N) or None. Returns s (B, L, D) and P (B, L, N, D), a distribution
    over the allowed keys j for every query i and feature k."""
    scores = c * torch.tanh((query.unsqueeze(2) + keys.unsqueeze(1)) / c)  # (B, L, N, D)
    weights = featurewise_softmax(scores, mask)  # (B, L, N, D)
    return (weights * values.unsqueeze(1)).sum(2), weights  # (B, L, D), (B, L, N, D)


def multi_dimensional_source2token(
    query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Source2token: query (D, A) = Wᵀ, keys (B, N, A) = W_1 u_i + b_1 (before elu), values
    (B, N, D) = u_i, mask bool (B, N) or None. Returns s (B, D) and P (B, N, D), for every
    feature a distribution over the allowed positions."""
    scores = torch.matmul(F.elu(keys), query.transpose(0, 1))  # (B, N, D)
    weights = featurewise_softmax(scores, mask)  # (B, N, D)
    return (weights * values).sum(1), weights  # (B, D), (B, N, D)


_FACETS = Facets(
    positions=frozenset({Positions.SOFT}),
    representations=frozenset({Representations.MULTI_DIMENSIONAL}),
)

MULTI_DIMENSIONAL = register(
    Mechanism(
        name="multi_dimensional",
        fn=multi_dimensional,
        score="c tanh((W_1 h_i + W_2 h_j + b_1) / c) + M_ij, a softmax over j per feature",
        facets=_FACETS,
        onnx="MultiDimensionalAttention",
    )
)
MULTI_DIMENSIONAL_SOURCE2TOKEN = register(
    Mechanism(
        name="multi_dimensional_source2token",
        fn=multi_dimensional_source2token,
        score="Wᵀ elu(W_1 u_i + b_1), a softmax over positions i per feature",
        facets=_FACETS,
        onnx="MultiDimensionalSource2Token",
    )
)


class DirectionalSelfAttention(AttentionLayer):
    """One DiSA block (the thin module): h = elu(W_h x + b_h), token2token multi-dimensional
    self-attention under the ``direction`` mask, and the fusion gate
    F = σ(W_f1 s + W_f2 h + b_f), u = F ⊙ h + (1 − F) ⊙ s."""

    def __init__(self, features: int, dim: int, direction: str, c: float = 5.0) -> None:
        super().__init__(
            MULTI_DIMENSIONAL,
            Sequences.SELF,
            query_from="token i",
            keys_from=f"{'earlier' if direction == 'forward' else 'later'} tokens j of the text",
        )
        if direction not in DIRECTIONS:
            raise ValueError(f"direction={direction!r}; valid: {', '.join(DIRECTIONS)}")
        self.direction = direction
        self.fc = nn.Linear(features, dim)  # W_h, b_h
        self.w1 = nn.Linear(dim, dim, bias=False)  # W_1
        self.w2 = nn.Linear(dim, dim)  # W_2, b_1
        self.gate_s = nn.Linear(dim, dim)  # W_f1, b_f
        self.gate_h = nn.Linear(dim, dim, bias=False)  # W_f2
        self.core = AttentionCore(MULTI_DIMENSIONAL, c=c)

    def forward(self, x: Tensor, keep: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, L, F), keep (B, L) bool. Returns u (B, L, D) and P (B, L, L, D)."""
        h = F.elu(self.fc(x))  # (B, L, D)
        mask = directional_mask(keep, self.direction)  # (B, L, L)
        s, weights = self.core(self.w1(h), self.w2(h), h, mask)  # (B, L, D), (B, L, L, D)
        gate = torch.sigmoid(self.gate_s(s) + self.gate_h(h))  # (B, L, D)
        return gate * h + (1 - gate) * s, weights


class Source2Token(AttentionLayer):
    """The thin module of multi-dimensional source2token attention: W_1, b_1 (D -> A) and the
    score matrix Wᵀ (D × A), which compress a sequence into one vector."""

    def __init__(self, dim: int, attention_dim: int) -> None:
        super().__init__(
            MULTI_DIMENSIONAL_SOURCE2TOKEN,
            Sequences.SELF,
            query_from="learned per-feature queries (rows of Wᵀ)",
            keys_from="every token of the same text",
        )
        self.w1 = nn.Linear(dim, attention_dim)  # W_1, b_1
        bound = attention_dim**-0.5
        self.score = nn.Parameter(torch.empty(dim, attention_dim).uniform_(-bound, bound))  # Wᵀ
        self.core = AttentionCore(MULTI_DIMENSIONAL_SOURCE2TOKEN)

    def forward(self, u: Tensor, keep: Tensor) -> tuple[Tensor, Tensor]:
        """u (B, L, D), keep (B, L). Returns s (B, D) and P (B, L, D)."""
        return self.core(self.score, self.w1(u), u, keep)
