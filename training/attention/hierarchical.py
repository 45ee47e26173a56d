"""Hierarchical attention (Yang et al. 2016, HAN): a learned context vector u picks the
informative elements of a sequence, at the word level and again at the sentence level,

    u_i = tanh(W h_i + b),   α_i = softmax_i(u_iᵀ u),   v = Σ_i α_i h_i

Word level: h_it are a sentence's word annotations and u = u_w (``WordAttention``); sentence
level: h_i are the document's sentence annotations and u = u_s (``SentenceAttention``). The two
are one formula with different parameters, so they share one pure function but register as two
mechanisms: each becomes its own named ONNX local function, and the card lists both levels.
What makes the model multi-level is the stacking (the word level's output is the sentence
level's input); the model declares it (CardInfo.structure), each layer is one level.

The formula is the structured self-attention of Lin et al. (training/attention/structured_self.py)
with one hop: the thin module owns W, b (the projection) and u (the query).

Mask convention: True = may attend (padding words and sentences get weight 0; a row with
nothing to attend gives a zero vector). Legend: B batch, N positions, A attention dim, E features.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from taxonomy.axes import Positions, Representations, Sequences
from taxonomy.card import Facets
from training.attention.base import AttentionCore, AttentionLayer, Mechanism
from training.attention.registry import register
from training.attention.structured_self import structured_self_attention


def hierarchical_attention(
    query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """query (A,) = the context vector u, keys (B, N, A) = W h_i + b (before tanh), values
    (B, N, E) = h_i, mask bool (B, N) or None. Returns v (B, E) and α (B, N)."""
    out, weights = structured_self_attention(query.unsqueeze(0), keys, values, mask)
    return out.squeeze(1), weights.squeeze(1)  # (B, E), (B, N)


_FACETS = Facets(
    positions=frozenset({Positions.SOFT}), representations=frozenset({Representations.SINGLE})
)
SCORE = "tanh(W h_i + b)ᵀ u, softmax over the {}"

WORD = register(
    Mechanism(
        name="han_word",
        fn=hierarchical_attention,
        score=SCORE.format("words of a sentence (u = u_w)"),
        facets=_FACETS,
        onnx="WordAttention",
    )
)
SENTENCE = register(
    Mechanism(
        name="han_sentence",
        fn=hierarchical_attention,
        score=SCORE.format("sentences of a document (u = u_s)"),
        facets=_FACETS,
        onnx="SentenceAttention",
    )
)


class ContextAttention(AttentionLayer):
    """The thin module of one level: W, b (E -> A) and the context vector u (A,)."""

    def __init__(self, mechanism: Mechanism, features: int, attention_dim: int, level: str) -> None:
        super().__init__(
            mechanism,
            Sequences.SELF,
            query_from=f"learned {level} context vector",
            keys_from=f"{level} annotations of the same document",
        )
        self.proj = nn.Linear(features, attention_dim)  # W, b
        bound = attention_dim**-0.5
        self.context = nn.Parameter(torch.empty(attention_dim).uniform_(-bound, bound))  # u
        self.core = AttentionCore(mechanism)

    def forward(self, states: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """states (B, N, E), mask (B, N). Returns v (B, E) and α (B, N)."""
        return self.core(self.context, self.proj(states), states, mask)
