"""Pieces shared by the attention mechanisms of the recurrent encoder-decoders (additive, Luong,
local): a masked softmax that exports cleanly, and an :class:`AttentionCore` that owns the
mechanism's own weights.

Projections of the decoder state and of the source annotations (W s, U h) stay in the thin
modules, as everywhere in the zoo; what belongs to the *score itself* — Bahdanau's vector v,
Luong's bilinear matrix W, the location matrix W_a, local-p's position predictor (W_p, v_p) —
is owned by :class:`OwnedWeightsCore`, so the ONNX local function of the mechanism takes those
weights as inputs and computes the whole score.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
import torch.onnx.ops
from torch import Tensor, nn

from training.attention.base import AttentionCore, Mechanism, exporting

# export/outline.py reads these marker nodes (same names there).
BOUNDARY_DOMAIN = "ai.attentive.boundary"
_CALLS = itertools.count()


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """softmax over the last axis, restricted to ``mask`` (True = may attend; broadcastable to
    scores). Masked positions get weight exactly 0; a row with no allowed position is all 0.

    No -inf and no NaN clean-up (both awkward in ONNX): masked scores become the dtype's
    minimum, and the softmax is multiplied by the mask, which zeroes a fully masked row (its
    softmax is uniform) and changes nothing else (exp(min - max) is exactly 0 in float32)."""
    if mask is None:
        return torch.softmax(scores, dim=-1)
    low = torch.finfo(scores.dtype).min
    weights = torch.softmax(scores.masked_fill(~mask, low), dim=-1)
    return weights * mask.to(weights.dtype)


# ONNX TensorProto data types of the tensors a core reads and returns.
_ONNX_TYPES = {torch.float32: 1, torch.int64: 7, torch.bool: 9, torch.float64: 11}


def _boundary(op: str, tensors: list[Tensor], function: str, call: int) -> list[Tensor]:
    """One marker node over ``tensors`` (export only): each output stands for its input.

    Calls the custom op behind ``torch.onnx.ops.symbolic_multi_out`` directly: dynamo refuses
    to trace that wrapper inside a while_loop body, but traces the op itself."""
    return list(
        torch.ops.onnx_symbolic._symbolic_multi_out(
            tensors,
            op,
            [_ONNX_TYPES[t.dtype] for t in tensors],
            shapes=[list(t.shape) for t in tensors],
            attr_keys=["function", "call"],
            attr_types=["s", "i"],
            attr_pos=[[0, 1], [0, 1]],
            attr_ints=[call],
            attr_floats=[],
            attr_strs=[function],
            metadata_props_keys=[],
            metadata_props_values=[],
            domain=BOUNDARY_DOMAIN,
            version=1,
        )
    )


class OwnedWeightsCore(AttentionCore):
    """An :class:`AttentionCore` whose mechanism has weights of its own, passed to the pure
    function as keyword arguments (by parameter name) together with any per-call inputs
    (``position`` for local-m).

    While exporting it marks its boundary (Enter over its tensor inputs, owned weights
    included; Exit over its outputs) so that export/outline.py finds its nodes even inside a
    greedy-decoding loop body, where the exporter records no module path."""

    def __init__(self, mechanism: Mechanism, weights: dict[str, Tensor], **options: Any) -> None:
        super().__init__(mechanism, **options)
        self.weight_names = tuple(weights)
        self.call_id = next(_CALLS)  # names this core's markers (a plain int: traceable)
        for name, value in weights.items():
            self.register_parameter(name, nn.Parameter(value))

    def forward(  # type: ignore[override]
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor,
        mask: Tensor | None = None,
        **inputs: Tensor,
    ) -> tuple[Tensor, Tensor]:
        owned: dict[str, Tensor] = {name: getattr(self, name) for name in self.weight_names}
        if not exporting():
            return self.mechanism.fn(query, keys, values, mask, **owned, **inputs, **self.options)
        call = self.call_id
        named = {"query": query, "keys": keys, "values": values, **owned, **inputs}
        if mask is not None:
            named["mask"] = mask
        entered = dict(
            zip(
                named,
                _boundary("Enter", list(named.values()), self.mechanism.onnx, call),
                strict=True,
            )
        )
        query, keys, values = entered.pop("query"), entered.pop("keys"), entered.pop("values")
        mask = entered.pop("mask", None)
        out, weights = self.mechanism.fn(query, keys, values, mask, **entered, **self.options)
        out, weights = _boundary("Exit", [out, weights], self.mechanism.onnx, call)
        return out, weights
