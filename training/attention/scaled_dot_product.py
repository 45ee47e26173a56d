"""Scaled dot-product attention (Vaswani et al. 2017): softmax(Q Kᵀ / sqrt(d)) V, multi-head.

Eagerly (training, evaluation) it is computed with plain tensor ops so autograd works; while
exporting it emits onnx::Attention (opset 23), the standard op that carries the attention. Its
fourth output gives the scaled scores Q Kᵀ / sqrt(E) (``qk_matmul_output_mode=0``), and the weights
are their masked softmax, computed beside the op exactly as in eager mode. Mode 3 would return the
softmax itself, but onnxruntime's CUDA kernel supports only modes 0 and none ("Only kNone and kQK
output modes are supported in unified unfused attention", onnxruntime-gpu 1.31.1 on an H200), so a
mode-3 graph runs on the CPU provider alone. Where the weights are not used (every layer but the
served one) onnxruntime drops the softmax beside the op as dead code.

Legend: B batch, H heads, L query length, S key length, E head dim, D model dim.
"""

from __future__ import annotations

import math

import torch
import torch.onnx.ops  # noqa: F401  (registers torch.ops.onnx.Attention)
from torch import Tensor, nn

from taxonomy.axes import Positions, Representations, Sequences
from taxonomy.card import Facets
from training.attention.base import (
    ONNX_STANDARD_ATTENTION,
    AttentionCore,
    AttentionLayer,
    Mechanism,
    exporting,
)
from training.attention.registry import register

# onnx Attention's qk_matmul_output_mode=0: the 4th output is the scaled Q Kᵀ, before masking.
_SCORES = 0


def scaled_dot_product(
    query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None, *, causal: bool = False
) -> tuple[Tensor, Tensor]:
    """q (B, H, L, E), k (B, H, S, E), v (B, H, S, E), mask bool broadcastable to (B, H, L, S),
    True = may attend. Returns out (B, H, L, E) and weights (B, H, L, S). A query row with no key
    to attend to gets zero output and zero weights (as PyTorch SDPA and onnxruntime do)."""
    if exporting():
        out, _, _, scores = torch.ops.onnx.Attention.opset23(
            query,
            keys,
            values,
            mask,
            None,
            None,
            is_causal=causal,
            qk_matmul_output_mode=_SCORES,
        )
        return out, _weights(scores, mask, causal)
    scores = query @ keys.transpose(-2, -1) / math.sqrt(query.shape[-1])  # (B, H, L, S)
    weights = _weights(scores, mask, causal)
    return weights @ values, weights


def _weights(scores: Tensor, mask: Tensor | None, causal: bool) -> Tensor:
    """Softmax over the keys each query may attend to; (B, H, L, S) in and out."""
    allowed = torch.ones_like(scores, dtype=torch.bool)
    if causal:  # top-left aligned, as onnx Attention and SDPA do without a cache
        L, S = scores.shape[-2:]
        allowed = allowed & torch.ones(L, S, dtype=torch.bool, device=scores.device).tril()
    if mask is not None:
        allowed = allowed & mask
    scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, dim=-1).nan_to_num(0.0)  # fully masked rows -> 0


SCALED_DOT_PRODUCT = register(
    Mechanism(
        name="scaled_dot_product",
        fn=scaled_dot_product,
        score="q·k / sqrt(d_k)",
        facets=Facets(
            positions=frozenset({Positions.SOFT}),
            representations=frozenset({Representations.SINGLE}),
        ),
        onnx=ONNX_STANDARD_ATTENTION,
    )
)


class MultiHeadAttention(AttentionLayer):
    """Projections around scaled dot-product attention (the thin module)."""

    def __init__(
        self,
        d_model: int,
        heads: int,
        sequences: Sequences,
        query_from: str,
        keys_from: str,
        causal: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(SCALED_DOT_PRODUCT, sequences, query_from, keys_from)
        if d_model % heads:
            raise ValueError(f"d_model={d_model} is not divisible by heads={heads}")
        self.heads = heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.core = AttentionCore(SCALED_DOT_PRODUCT, causal=causal)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: Tensor, memory: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """x (B, L, D) queries, memory (B, S, D) keys/values, mask (B, 1, L, S) or None.
        Returns (B, L, D) and weights (B, H, L, S)."""
        B, L, D = x.shape
        S = memory.shape[1]
        E = D // self.heads
        q = self.q_proj(x).view(B, L, self.heads, E).transpose(1, 2)  # (B, H, L, E)
        k = self.k_proj(memory).view(B, S, self.heads, E).transpose(1, 2)  # (B, H, S, E)
        v = self.v_proj(memory).view(B, S, self.heads, E).transpose(1, 2)  # (B, H, S, E)
        out, weights = self.core(q, k, v, mask)  # (B, H, L, E), (B, H, L, S)
        out = out.transpose(1, 2).reshape(B, L, D)  # (B, L, D)
        return self.dropout(self.out_proj(out)), weights
