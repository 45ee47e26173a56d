"""Local attention (Luong, Pham, Manning 2015): each decoder step attends only to a window
[p_t - D, p_t + D] of source positions around an aligned position p_t, with the general score
h_tᵀ W_a h̄_s and a softmax over the window.

    local-m  (LocalMonotonic)   p_t = t, the decoder step (monotonic alignment)
    local-p  (LocalPredictive)  p_t = S · sigmoid(v_pᵀ tanh(W_p h_t)), S the source length;
                                a_t(s) = align(h_t, h̄_s) · exp(-(s - p_t)² / (2σ²)), σ = D / 2

local-m's weights sum to 1 over the window; local-p's sum to at most 1 (the Gaussian shrinks
them toward p_t). Positions count from 0 (the [BOS] of the source). local-m clamps p_t to the
last real source position, so a decoder step past the source end still attends to its last
tokens (an empty window would attend to nothing). Both mechanisms own W_a, local-p also its
position predictor W_p, v_p: all are inputs of the ONNX function.

Legend: B batch, L queries (decoder steps), S source positions, D hidden dim, P predictor dim.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from taxonomy.axes import Positions, Representations, Sequences
from taxonomy.card import Facets
from training.attention.base import AttentionLayer, Mechanism
from training.attention.luong import bilinear_init
from training.attention.owned import OwnedWeightsCore, masked_softmax
from training.attention.registry import register


def _source_lengths(mask: Tensor | None, query: Tensor, S: int) -> Tensor:
    """Real source length per row, float (B, L or 1): the count of attendable positions."""
    if mask is None:
        return torch.full(query.shape[:2], S, dtype=query.dtype)
    return mask.sum(-1).to(query.dtype)


def _window(centre: Tensor, S: int, window: int, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """Distance s - p_t (B, L, S) and the allowed positions: |s - p_t| <= D and mask."""
    positions = torch.arange(S, dtype=centre.dtype)  # (S,)
    distance = positions - centre.unsqueeze(-1)  # (B, L, S)
    allowed = distance.abs() <= window  # (B, L, S)
    if mask is not None:
        allowed = allowed & mask
    return distance, allowed


def _general_scores(query: Tensor, keys: Tensor, weight: Tensor) -> Tensor:
    return torch.bmm(torch.matmul(query, weight), keys.transpose(1, 2))  # (B, L, S)


def local_monotonic(
    query: Tensor,
    keys: Tensor,
    values: Tensor,
    mask: Tensor | None = None,
    *,
    weight: Tensor,
    position: Tensor,
    window: int,
) -> tuple[Tensor, Tensor]:
    """query (B, L, D), keys (B, S, D), values (B, S, E), mask broadcastable to (B, L, S),
    weight W_a (D, D), position t (float, broadcastable to (B, L)), window D.
    Returns out (B, L, E) and weights (B, L, S), each row summing to 1 over its window."""
    S = keys.shape[1]
    lengths = _source_lengths(mask, query, S)  # (B, L or 1)
    centre = torch.minimum(position, lengths - 1)  # (B, L): p_t = t, within the source
    _, allowed = _window(centre, S, window, mask)
    weights = masked_softmax(_general_scores(query, keys, weight), allowed)  # (B, L, S)
    return torch.bmm(weights, values), weights


def local_predictive(
    query: Tensor,
    keys: Tensor,
    values: Tensor,
    mask: Tensor | None = None,
    *,
    weight: Tensor,
    predictor: Tensor,
    v_p: Tensor,
    window: int,
) -> tuple[Tensor, Tensor]:
    """As :func:`local_monotonic`, with p_t predicted: predictor W_p (P, D), v_p (1, P).
    Weights are the window's softmax times the Gaussian exp(-(s - p_t)² / (2σ²)), σ = D / 2:
    each row sums to at most 1."""
    S = keys.shape[1]
    lengths = _source_lengths(mask, query, S)  # (B, L or 1)
    hidden = torch.tanh(F.linear(query, predictor))  # (B, L, P)
    centre = lengths * torch.sigmoid(F.linear(hidden, v_p)).squeeze(-1)  # (B, L): p_t in [0, S]
    distance, allowed = _window(centre, S, window, mask)
    align = masked_softmax(_general_scores(query, keys, weight), allowed)  # (B, L, S)
    sigma = window / 2.0
    weights = align * torch.exp(-(distance**2) / (2.0 * sigma**2))  # (B, L, S)
    return torch.bmm(weights, values), weights


_LOCAL_SINGLE = Facets(
    positions=frozenset({Positions.LOCAL}),
    representations=frozenset({Representations.SINGLE}),
)
LOCAL_MONOTONIC = register(
    Mechanism(
        name="local_monotonic",
        fn=local_monotonic,
        score="h_tᵀ W_a h̄_s over [p_t - D, p_t + D], p_t = t",
        facets=_LOCAL_SINGLE,
        onnx="LocalMonotonic",
    )
)
LOCAL_PREDICTIVE = register(
    Mechanism(
        name="local_predictive",
        fn=local_predictive,
        score="h_tᵀ W_a h̄_s over [p_t - D, p_t + D] × exp(-(s - p_t)²/(2σ²)), "
        "p_t = S·sigmoid(v_pᵀ tanh(W_p h_t)), σ = D/2",
        facets=_LOCAL_SINGLE,
        onnx="LocalPredictive",
    )
)
KINDS = {"monotonic": LOCAL_MONOTONIC, "predictive": LOCAL_PREDICTIVE}


class LocalAttention(AttentionLayer):
    """Luong local attention, local-m (``kind="monotonic"``) or local-p (``"predictive"``),
    with the general score (the thin module: no projections of its own)."""

    def __init__(
        self,
        kind: str,
        hidden: int,
        window: int,
        *,
        predictor_dim: int | None = None,
        query_from: str = "decoder state h_t",
        keys_from: str = "source states h̄_s in a window around p_t",
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown local attention {kind!r}; valid: {', '.join(KINDS)}")
        super().__init__(KINDS[kind], Sequences.DISTINCTIVE, query_from, keys_from)
        self.kind = kind
        owned = {"weight": bilinear_init(hidden, hidden)}
        if kind == "predictive":
            P = predictor_dim or hidden
            owned["predictor"] = torch.empty(P, hidden).uniform_(-(hidden**-0.5), hidden**-0.5)
            owned["v_p"] = torch.empty(1, P).uniform_(-(P**-0.5), P**-0.5)
        self.core = OwnedWeightsCore(KINDS[kind], owned, window=window)

    def prepare(self, states: Tensor) -> Tensor:
        return states

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor,
        mask: Tensor | None = None,
        position: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """query (B, L, D), keys = values (B, S, D), position: the decoder step t (local-m;
        float, broadcastable to (B, L)). Returns (B, L, D) and weights (B, L, S)."""
        if self.kind == "monotonic":
            if position is None:
                raise ValueError("local-m needs the decoder step as position")
            return self.core(query, keys, values, mask, position=position)
        return self.core(query, keys, values, mask)
