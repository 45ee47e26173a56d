"""Shape legends (a card TensorSpec's ``legend``) parsed into named axes.

A legend names each axis of a tensor in parentheses, optionally followed by ``: prose``:
``(B, L)``, ``(B, L + 3, R + 3): convolution columns``, ``(B, T, S): ...``, ``(B,)``. An axis is

* ``B``: the batch axis;
* a name (``L``, ``T``, ``n``): a size that varies from request to request;
* ``name + k`` / ``name - k``: that size shifted by a constant;
* an integer (``2``) or an integer times a name (``2D``): fixed by the model.

The dynamic batcher (server/merging.py) reads an input's named axes as the ones it may pad and
an output's axes as the sizes to crop it back to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

BATCH = "B"
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_NAMED = re.compile(rf"({_NAME})(?:\s*([+-])\s*(\d+))?")
_INTEGER = re.compile(r"\d+")
_MULTIPLE = re.compile(rf"\d+\s*\*?\s*{_NAME}")


@dataclass(frozen=True)
class Axis:
    kind: Literal["batch", "named", "fixed"]
    name: str = ""  # named: the size's name
    offset: int = 0  # named: the axis is name + offset
    size: int | None = None  # fixed: the size when the legend states it (2), else None (2D)

    def __str__(self) -> str:
        if self.kind == "batch":
            return BATCH
        if self.kind == "fixed":
            return str(self.size) if self.size is not None else "fixed"
        if self.offset:
            return f"{self.name} {'+' if self.offset > 0 else '-'} {abs(self.offset)}"
        return self.name


def parse_axis(text: str) -> Axis | None:
    """One axis of a legend, or None when it is not one of the forms above."""
    text = text.strip()
    if text == BATCH:
        return Axis("batch")
    if _INTEGER.fullmatch(text):
        return Axis("fixed", size=int(text))
    if _MULTIPLE.fullmatch(text):
        return Axis("fixed")
    named = _NAMED.fullmatch(text)
    if named is None:
        return None
    name, sign, amount = named.groups()
    offset = int(amount) * (-1 if sign == "-" else 1) if amount else 0
    return Axis("named", name=name, offset=offset)


def parse_legend(legend: str | None, rank: int | None = None) -> list[Axis] | None:
    """The axes of ``legend`` (the parenthesised part before any ':'), or None when it is
    missing, malformed, holds an axis of an unknown form, or does not have ``rank`` axes."""
    if not legend:
        return None
    head = legend.split(":", 1)[0].strip()
    if not (head.startswith("(") and head.endswith(")")):
        return None
    parts = [p.strip() for p in head[1:-1].split(",")]
    if parts and parts[-1] == "":  # "(B,)": a one-axis tuple
        parts.pop()
    if not parts or any(not p for p in parts):
        return None
    axes = [parse_axis(p) for p in parts]
    if any(a is None for a in axes):
        return None
    if rank is not None and len(axes) != rank:
        return None
    return axes  # type: ignore[return-value]
