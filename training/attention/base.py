"""What every attention mechanism is: a pure function plus what it declares about itself.

A mechanism's function has the signature ``(query, keys, values, mask, **options) -> (output,
weights)``; mask convention everywhere: ``True`` = may attend. Thin modules (in the mechanism's
file) own the projections and call the function through :class:`AttentionCore`, the module that
export outlines into one ONNX local function named ``Mechanism.onnx`` (or leaves as the standard
``Attention`` op for scaled dot-product attention).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from taxonomy.axes import Sequences
from taxonomy.card import Facets

AttentionFn = Callable[..., tuple[Tensor, Tensor]]

ONNX_STANDARD_ATTENTION = "Attention"
ONNX_FUNCTION_DOMAIN = "ai.attentive"


@dataclass(frozen=True)
class Mechanism:
    """A registered attention mechanism.

    ``facets`` holds what the mechanism itself is (positions, representations); where query and
    keys come from (self / distinctive / co-attention) is declared by each layer that uses it.
    ``onnx`` is ``"Attention"`` for the standard op, else the ONNX local function's name.
    """

    name: str
    fn: AttentionFn
    score: str
    facets: Facets
    onnx: str
    options: dict[str, Any] = field(default_factory=dict)


class AttentionCore(nn.Module):
    """Calls a mechanism's pure function. Export outlines exactly this module's nodes into an
    ONNX local function (for non-standard mechanisms), so projections stay outside it."""

    def __init__(self, mechanism: Mechanism, **options: Any) -> None:
        super().__init__()
        self.mechanism = mechanism
        self.options = options

    def forward(
        self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        return self.mechanism.fn(query, keys, values, mask, **self.options)


class AttentionLayer(nn.Module):
    """Base of every module that attends: it names its mechanism and where query/keys come from.

    Subclasses hold an :class:`AttentionCore` as ``self.core``. Export walks the model for these
    modules to write the card's ``layers`` and derive its tags.
    """

    core: AttentionCore

    def __init__(
        self, mechanism: Mechanism, sequences: Sequences, query_from: str, keys_from: str
    ) -> None:
        super().__init__()
        self.sequences = sequences
        self.query_from = query_from
        self.keys_from = keys_from
        self._mechanism = mechanism

    @property
    def mechanism(self) -> Mechanism:
        return self._mechanism

    def facets(self) -> Facets:
        return self._mechanism.facets.union(Facets(sequences=frozenset({self.sequences})))


_EXPORTING = False


def exporting() -> bool:
    """True while export traces the model: mechanisms then emit ONNX-native ops.

    A module-level flag (set by :func:`onnx_export_mode`) rather than only
    ``torch.onnx.is_in_onnx_export()``, because dynamo traces the bodies of control-flow
    operators (the greedy-decoding ``while_loop``) with that function reporting False.
    """
    return _EXPORTING or bool(torch.onnx.is_in_onnx_export())


@contextmanager
def onnx_export_mode() -> Iterator[None]:
    global _EXPORTING
    previous, _EXPORTING = _EXPORTING, True
    try:
        yield
    finally:
        _EXPORTING = previous
