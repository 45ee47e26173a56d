"""ABCNN's match score (Yin, Schütze, Xiang, Zhou 2016): co-attention between the two sentences
of a pair, every position of one against every position of the other,

    A_ij = 1 / (1 + ||x_i - y_j||)          (Euclidean distance of the two columns)

no softmax: A is the attention matrix itself (ABCNN-1 turns it into attention feature maps,
ABCNN-2 pools by its row and column sums). Padding: A_ij = 0 wherever position i of sentence 1
or position j of sentence 2 is padding (``mask`` False), so padded tokens receive no attention.
``out`` = A y (B, L, E) is returned for the mechanism signature; ABCNN reads ``weights`` only.

||x_i - y_j|| is computed as sqrt(max(|x_i|² + |y_j|² - 2 x_i·y_j, 0) + ε) in float64 (a
matrix product, cast back to float32): in float32 the expansion cancels badly where two columns
are (nearly) identical — the same word in both sentences — and the sqrt amplified that rounding
to 4e-4 between PyTorch and onnxruntime; the exact (B, L, R, D) difference tensor was ~10x
slower to train. ε = 1e-12 keeps the sqrt differentiable at identical columns.

Export: one ONNX local function ``ai.attentive::EuclideanMatchAttention`` per call.

Legend: B batch, L sentence-1 positions, R sentence-2 positions, D feature dim, E value dim.
"""

from __future__ import annotations

import torch
from torch import Tensor

from taxonomy.axes import Positions, Representations, Sequences
from taxonomy.card import Facets
from training.attention.base import AttentionCore, AttentionLayer, Mechanism
from training.attention.registry import register


def euclidean_match(
    query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None, *, eps: float = 1e-12
) -> tuple[Tensor, Tensor]:
    """query (B, L, D) sentence-1 columns, keys (B, R, D) sentence-2 columns, values (B, R, E),
    mask bool broadcastable to (B, L, R) (True = both positions are real). Returns out (B, L, E)
    and the match matrix A (B, L, R), 0 where masked."""
    x, y = query.to(torch.float64), keys.to(torch.float64)
    squared = (
        x.pow(2).sum(-1, keepdim=True)  # (B, L, 1)
        + y.pow(2).sum(-1).unsqueeze(1)  # (B, 1, R)
        - 2 * torch.bmm(x, y.transpose(1, 2))  # (B, L, R)
    )
    distance = torch.sqrt(squared.clamp(min=0) + eps).to(query.dtype)  # (B, L, R)
    weights = 1.0 / (1.0 + distance)  # (B, L, R)
    if mask is not None:
        weights = weights * mask.to(weights.dtype)
    return torch.bmm(weights, values), weights


EUCLIDEAN_MATCH = register(
    Mechanism(
        name="euclidean_match",
        fn=euclidean_match,
        score="A_ij = 1 / (1 + ||x_i - y_j||)",
        facets=Facets(
            positions=frozenset({Positions.SOFT}),
            representations=frozenset({Representations.SINGLE}),
        ),
        onnx="EuclideanMatchAttention",
    )
)


def pair_mask(left_keep: Tensor, right_keep: Tensor) -> Tensor:
    """(B, L) and (B, R) bool (True = real token) -> (B, L, R): both positions real."""
    return left_keep.unsqueeze(2) & right_keep.unsqueeze(1)


class EuclideanMatch(AttentionLayer):
    """The thin module: no parameters of its own (the score has none)."""

    def __init__(
        self,
        query_from: str = "sentence-1 feature map columns",
        keys_from: str = "sentence-2 feature map columns",
        eps: float = 1e-12,
    ) -> None:
        super().__init__(EUCLIDEAN_MATCH, Sequences.CO_ATTENTION, query_from, keys_from)
        self.core = AttentionCore(EUCLIDEAN_MATCH, eps=eps)

    def forward(self, left: Tensor, right: Tensor, left_keep: Tensor, right_keep: Tensor) -> Tensor:
        """left (B, L, D), right (B, R, D), keep masks (B, L), (B, R) -> A (B, L, R)."""
        _, weights = self.core(left, right, right, pair_mask(left_keep, right_keep))
        return weights
