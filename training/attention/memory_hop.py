"""One hop of an end-to-end memory network (Sukhbaatar, Szlam, Weston, Fergus 2015, MemN2N):
the controller state u (the question, then u + o after each hop) reads a memory of sentences,

    p_i = softmax_i(uᵀ m_i),   o = Σ_i p_i c_i

with m_i the input (key) and c_i the output (value) representation of memory slot i. Slots that
hold no sentence (padding) get weight exactly 0. *Linear start* (the paper's LS) trains the first
epochs with the softmax removed, p_i = uᵀ m_i (padding still 0); ``linear`` is False whenever the
model is exported or served.

The memory embeddings (position encoding, temporal encoding) belong to the model; the hop only
scores and reads, so the ONNX function ``MemoryHop`` is the attention and nothing else.

Legend: B batch, M memory slots, D embedding dim.
"""

from __future__ import annotations

import torch
from torch import Tensor

from taxonomy.axes import Positions, Representations, Sequences
from taxonomy.card import Facets
from training.attention.base import AttentionLayer, Mechanism
from training.attention.owned import OwnedWeightsCore, masked_softmax
from training.attention.registry import register


def memory_hop(
    query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None, *, linear: bool = False
) -> tuple[Tensor, Tensor]:
    """query (B, D) = u, keys (B, M, D) = m, values (B, M, D) = c, mask bool (B, M) (True = slot
    holds a sentence). Returns o (B, D) and p (B, M); ``linear``: p = uᵀ m without the softmax."""
    scores = torch.bmm(keys, query.unsqueeze(-1)).squeeze(-1)  # (B, M): uᵀ m_i
    if linear:
        weights = scores if mask is None else scores * mask.to(scores.dtype)  # (B, M)
    else:
        weights = masked_softmax(scores, mask)  # (B, M)
    out = torch.bmm(weights.unsqueeze(1), values).squeeze(1)  # (B, D)
    return out, weights


MEMORY_HOP = register(
    Mechanism(
        name="memory_hop",
        fn=memory_hop,
        score="uᵀ m_i, softmax over the memory slots i",
        facets=Facets(
            positions=frozenset({Positions.SOFT}),
            representations=frozenset({Representations.SINGLE}),
        ),
        onnx="MemoryHop",
    )
)


class MemoryHop(AttentionLayer):
    """The question state attending over the story's memory (the thin module: the memory
    network's embeddings are the model's, shared between hops by adjacent weight tying)."""

    def __init__(
        self,
        query_from: str = "controller state u (question embedding, plus each earlier hop's o)",
        keys_from: str = "the story's sentences (memory slots m_i, read out as c_i)",
    ) -> None:
        super().__init__(MEMORY_HOP, Sequences.DISTINCTIVE, query_from, keys_from)
        # No weights of its own; the boundary markers keep every hop's nodes its own (without
        # them the exporter shares the mask's Not/Cast between hops and the bodies differ).
        self.core = OwnedWeightsCore(MEMORY_HOP, {}, linear=False)

    @property
    def linear(self) -> bool:
        """Linear start: the softmax is left out while this is True (training only)."""
        return bool(self.core.options["linear"])

    @linear.setter
    def linear(self, value: bool) -> None:
        self.core.options["linear"] = bool(value)

    def forward(  # type: ignore[override]
        self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """query (B, D), keys / values (B, M, D), mask (B, M) -> o (B, D), p (B, M)."""
        return self.core(query, keys, values, mask)
