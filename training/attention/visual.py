"""Visual attention of Show, Attend and Tell (Xu et al. 2015): a caption decoder attends over the L
annotation vectors a_i of a CNN, one per image region, with the score of their eq. (4)

    e_ti = wᵀ tanh(W_a a_i + W_h h_{t-1}),     α_t = softmax_i e_ti

* soft ("deterministic") attention: the context is the expectation ẑ_t = Σ_i α_ti a_i;
* hard ("stochastic") attention: one location s̃_t is drawn from Multinoulli(α_t) and the context
  is that region's vector, ẑ_t = a_{s̃_t}. Sampling happens in training only; at inference and in
  the exported graph the location is the argmax of α_t (the first one on ties).

The thin modules own W_a and W_h (the projections); the score vector w belongs to the mechanism
and lives in its core (an :class:`OwnedWeightsCore`, which also marks the core's boundary while
exporting, so that it is outlined inside the greedy-decoding Loop body too), so the exported ONNX
local functions (``SoftVisualAttention``, ``HardVisualAttention``) carry the whole score. Both return the weights actually applied: α_t for
soft, the one-hot selection for hard.

Mask convention: True = may attend (regions), as everywhere in training.attention.

Legend: B batch, L regions, D annotation features, A attention dim.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from taxonomy.axes import Positions, Representations, Sequences
from taxonomy.card import Facets
from training.attention.base import AttentionLayer, Mechanism
from training.attention.owned import OwnedWeightsCore, masked_softmax
from training.attention.registry import register

SCORE = "wᵀ tanh(W_a a_i + W_h h_{t-1}), softmax over the L image regions"


def visual_distribution(
    query: Tensor, keys: Tensor, mask: Tensor | None, score_weight: Tensor
) -> Tensor:
    """α: query (B, A) = W_h h_{t-1}, keys (B, L, A) = W_a a_i, mask bool (B, L) or None,
    score_weight (1, A) = wᵀ. Returns α (B, L), each row a distribution over allowed regions."""
    energy = torch.tanh(keys + query.unsqueeze(1))  # (B, L, A)
    scores = (energy * score_weight).sum(-1)  # (B, L)
    return masked_softmax(scores, mask)  # (B, L)


def soft_visual_attention(
    query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None, *, score_weight: Tensor
) -> tuple[Tensor, Tensor]:
    """Soft attention: values (B, L, D) = a. Returns ẑ = Σ_i α_i a_i (B, D) and α (B, L)."""
    weights = visual_distribution(query, keys, mask, score_weight)  # (B, L)
    out = (weights.unsqueeze(-1) * values).sum(1)  # (B, D)
    return out, weights


def sample_location(probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One location per row drawn from Multinoulli(probs) by inverse CDF: u ~ U[0, 1) (one
    ``torch.rand`` draw per row, from ``generator`` or torch's global RNG) picks the first index
    whose cumulative probability exceeds u. probs (B, L) -> int64 (B,)."""
    u = torch.rand(probs.shape[0], 1, generator=generator, device=probs.device)  # (B, 1)
    below = (probs.detach().cumsum(-1) <= u).sum(-1)  # (B,): how many cumulative sums are <= u
    return below.clamp(max=probs.shape[-1] - 1)


def hard_visual_attention(
    query: Tensor,
    keys: Tensor,
    values: Tensor,
    mask: Tensor | None,
    *,
    score_weight: Tensor,
    sample: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Hard attention: one region. ``sample`` (training): s̃ ~ Multinoulli(α) (see
    :func:`sample_location`); otherwise s̃ = argmax α. Returns ẑ = a_s̃ (B, D) and the one-hot
    selection (B, L) — the weights actually applied."""
    probs = visual_distribution(query, keys, mask, score_weight)  # (B, L)
    location = sample_location(probs, generator) if sample else probs.argmax(-1)  # (B,)
    one_hot = torch.zeros_like(probs).scatter(-1, location.unsqueeze(-1), 1.0)  # (B, L)
    out = (one_hot.unsqueeze(-1) * values).sum(1)  # (B, D): exactly a_s̃
    return out, one_hot


_SINGLE = frozenset({Representations.SINGLE})

SOFT_VISUAL = register(
    Mechanism(
        name="soft_visual",
        fn=soft_visual_attention,
        score=SCORE,
        facets=Facets(positions=frozenset({Positions.SOFT}), representations=_SINGLE),
        onnx="SoftVisualAttention",
    )
)

HARD_VISUAL = register(
    Mechanism(
        name="hard_visual",
        fn=hard_visual_attention,
        score=SCORE + "; one region sampled (training) or the argmax (inference)",
        facets=Facets(positions=frozenset({Positions.HARD}), representations=_SINGLE),
        onnx="HardVisualAttention",
    )
)


class VisualAttention(AttentionLayer):
    """The thin module: W_a (annotations -> keys, computed once per image) and W_h (decoder
    state -> query, every step) around a soft or hard visual attention core.

    ``hard``: in training the location is sampled (``generator`` or torch's global RNG), in eval
    it is the argmax. :meth:`distribution` gives α itself (REINFORCE needs log α_s̃ and H(α))."""

    def __init__(
        self,
        features: int,
        hidden: int,
        attention_dim: int,
        *,
        hard: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        mechanism = HARD_VISUAL if hard else SOFT_VISUAL
        super().__init__(mechanism, Sequences.DISTINCTIVE, "caption word", "image regions")
        self.hard = hard
        self.generator = generator
        self.key_proj = nn.Linear(features, attention_dim)  # W_a
        self.query_proj = nn.Linear(hidden, attention_dim, bias=False)  # W_h
        options: dict[str, Any] = {"sample": True, "generator": generator} if hard else {}
        bound = attention_dim**-0.5
        w = torch.empty(1, attention_dim).uniform_(-bound, bound)  # wᵀ, (1, A)
        self.core = OwnedWeightsCore(mechanism, {"score_weight": w}, **options)

    def train(self, mode: bool = True) -> VisualAttention:
        # Sampling is an option of the hard core, on only while training: eval and the exported
        # graph take the argmax.
        super().train(mode)
        if self.hard:
            self.core.options["sample"] = mode
        return self

    def keys(self, annotations: Tensor) -> Tensor:
        """annotations (B, L, D) -> keys W_a a_i (B, L, A); once per image."""
        return self.key_proj(annotations)

    def distribution(self, hidden: Tensor, keys: Tensor, mask: Tensor | None = None) -> Tensor:
        """α (B, L) for decoder state hidden (B, H_dec) and keys (B, L, A)."""
        score_weight = self.core.get_parameter("score_weight")  # (1, A)
        return visual_distribution(self.query_proj(hidden), keys, mask, score_weight)

    def forward(
        self, hidden: Tensor, keys: Tensor, annotations: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """hidden (B, H_dec) = h_{t-1}, keys (B, L, A) from :meth:`keys`, annotations (B, L, D).
        Returns the context ẑ_t (B, D) and the weights applied (B, L)."""
        return self.core(self.query_proj(hidden), keys, annotations, mask)
