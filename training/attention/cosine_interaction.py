"""The attention-based input interaction layer of He, Wieting, Gimpel, Rao, Lin 2016 (the
attention MPCNN, SemEval-2016 Task 1, section 2.1): the two sentences' word vectors attend to
each other through cosine similarity, with no parameters of its own.

    D[a][b] = cos(x_a, y_b)                       the attention matrix (L, R)
    A_x[a]  = Σ_b D[a][b],   A_y[b] = Σ_a D[a][b]  each word's total similarity to the other
    E_x     = softmax_a A_x, E_y = softmax_b A_y   softmax over the word's *own* sentence
    x'_a    = [x_a; E_x[a] x_a],  y'_b = [y_b; E_y[b] y_b]

Padding: D is 0 wherever either word is padding, and a padded word gets weight E = 0 (the
softmax runs over the real words of its sentence only), so x'_a = 0 for padded a when x_a = 0.

The pure function keeps the zoo's ``(query, keys, values, mask) -> (out, weights)`` shape:
query = sentence 1 (B, L, D), keys = sentence 2 (B, R, D), ``values`` must be ``keys`` (the
layer re-weights the words of both sentences, not a separate value set), mask (B, L, R) = both
words real. ``out`` packs both sentences' attention-based embeddings along the position axis,
sentence 1 then sentence 2: (B, L + R, 2D); ``weights`` is D (B, L, R). The word weights E_x,
E_y come from :func:`interaction_weights` of D (one place for that arithmetic).

Legend: B batch, L sentence-1 words, R sentence-2 words, D word-vector dim.
"""

from __future__ import annotations

import torch
from torch import Tensor

from taxonomy.axes import Positions, Representations, Sequences
from taxonomy.card import Facets
from training.attention.base import AttentionCore, AttentionLayer, Mechanism
from training.attention.owned import masked_softmax
from training.attention.registry import register

EPS = 1e-8  # smallest norm a word vector divides by (an all-zero padding vector stays 0)


def cosine_matrix(left: Tensor, right: Tensor, mask: Tensor | None) -> Tensor:
    """D = cos(x_a, y_b): left (B, L, D), right (B, R, D), mask (B, L, R) or None -> (B, L, R),
    0 where the mask is False."""
    x = left / left.norm(dim=-1, keepdim=True).clamp_min(EPS)  # (B, L, D) unit rows
    y = right / right.norm(dim=-1, keepdim=True).clamp_min(EPS)  # (B, R, D)
    similarity = torch.bmm(x, y.transpose(1, 2))  # (B, L, R)
    return similarity if mask is None else similarity * mask.to(similarity.dtype)


def interaction_weights(similarity: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """E_x (B, L) and E_y (B, R) from D (B, L, R): softmax over each sentence's own real words of
    the row (column) sums. A word is real when any pair it is in is allowed by the mask."""
    left_keep = None if mask is None else mask.any(dim=2)  # (B, L)
    right_keep = None if mask is None else mask.any(dim=1)  # (B, R)
    left = masked_softmax(similarity.sum(dim=2), left_keep)  # (B, L)
    right = masked_softmax(similarity.sum(dim=1), right_keep)  # (B, R)
    return left, right


def cosine_interaction(
    query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """query (B, L, D) sentence 1, keys = values (B, R, D) sentence 2, mask (B, L, R).
    Returns out (B, L + R, 2D) = [x'; y'] (sentence 1's positions then sentence 2's) and the
    attention matrix D (B, L, R)."""
    similarity = cosine_matrix(query, keys, mask)  # (B, L, R)
    left_weights, right_weights = interaction_weights(similarity, mask)  # (B, L), (B, R)
    left = torch.cat([query, left_weights.unsqueeze(-1) * query], dim=-1)  # (B, L, 2D)
    right = torch.cat([values, right_weights.unsqueeze(-1) * values], dim=-1)  # (B, R, 2D)
    return torch.cat([left, right], dim=1), similarity  # (B, L + R, 2D), (B, L, R)


COSINE_INTERACTION = register(
    Mechanism(
        name="cosine_interaction",
        fn=cosine_interaction,
        score="D_ab = cos(x_a, y_b); E_x = softmax_a Σ_b D_ab, E_y = softmax_b Σ_a D_ab",
        facets=Facets(
            positions=frozenset({Positions.SOFT}),
            representations=frozenset({Representations.SINGLE}),
        ),
        onnx="CosineInteractionAttention",
    )
)


class CosineInteraction(AttentionLayer):
    """The layer (no parameters): forward(left (B, L, D), right (B, R, D), left_keep (B, L),
    right_keep (B, R)) -> left' (B, L, 2D), right' (B, R, 2D), D (B, L, R), E_x (B, L),
    E_y (B, R). (E_x, E_y are recomputed from D by :func:`interaction_weights`, outside the
    ONNX function, so that a model can serve the word weights it applied.)"""

    def __init__(self) -> None:
        super().__init__(
            COSINE_INTERACTION,
            Sequences.CO_ATTENTION,
            "words of sentence 1",
            "words of sentence 2 (and back)",
        )
        self.core = AttentionCore(COSINE_INTERACTION)

    def forward(
        self, left: Tensor, right: Tensor, left_keep: Tensor, right_keep: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        mask = left_keep.unsqueeze(2) & right_keep.unsqueeze(1)  # (B, L, R)
        out, similarity = self.core(left, right, right, mask)  # (B, L + R, 2D), (B, L, R)
        left_out, right_out = torch.split(out, [left.shape[1], right.shape[1]], dim=1)
        left_weights, right_weights = interaction_weights(similarity, mask)  # (B, L), (B, R)
        return left_out, right_out, similarity, left_weights, right_weights
