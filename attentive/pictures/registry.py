"""Which renderer draws a model's attention: chosen by what its card says, never by its name.

A renderer family declares the attention outputs it understands as :class:`Key` s: the output's
name (a trailing layer number ``_1``, ``_2`` ... dropped, so every layer of a model shares one key)
and the axes of its shape legend (``(B, T, S): ...`` -> ``B,T,S``; an offset such as ``L + 2`` counts
as ``L``). A card is matched by keying
each of its outputs; the one family that owns the matched keys draws the picture. Registering a key
twice fails at import; a card no family understands fails with the keys that are understood.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from taxonomy.card import ModelCard, TensorSpec

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_LEGEND = re.compile(r"^\s*\(([^)]*)\)")
_LAYER = re.compile(r"_\d+$")
_OFFSET = re.compile(r"\s*[+-]\s*\d+$")  # "L + 2" (a wide convolution's columns) -> "L"


@dataclass(frozen=True)
class Key:
    output: str  # output name without a trailing layer number: edge_attention_2 -> edge_attention
    axes: tuple[str, ...]  # the legend's axes: "(B, T, S): ..." -> ("B", "T", "S")

    def __str__(self) -> str:
        return f"{self.output} ({', '.join(self.axes)})"


def key_of(spec: TensorSpec) -> Key | None:
    """The key of one card output, or None when its legend does not start with ``(axes)``."""
    found = _LEGEND.match(spec.legend or "")
    if found is None:
        return None
    axes = tuple(_OFFSET.sub("", a.strip()) for a in found.group(1).split(",") if a.strip())
    return Key(_LAYER.sub("", spec.name), axes)


@dataclass(frozen=True)
class Query:
    """What the user asked for: ``attentive show MODEL INPUT`` and its options."""

    model: str
    input: str | None = None  # text, node id, or image file, as the family reads it
    second: str | None = None  # the second text of a pair (also: INPUT with a tab)
    example: str | None = None  # use the card's example of this name ("" = the first)
    inputs_file: Path | None = None  # .npz of graph inputs named as the card names them
    repository: Path | None = None  # where the model's tokenizer.json can be read
    top: int = 3  # how many attended items the text rendering lists per row


class View(ABC):
    """What one request attended to, ready to draw: a figure or a few lines of text."""

    @abstractmethod
    def figure(self) -> Figure:
        """A matplotlib Figure (Agg canvas, no pyplot state), sized for its content."""

    @abstractmethod
    def text(self) -> str:
        """A compact rendering for a terminal."""


class Family(ABC):
    """One kind of attention picture (alignment, captions, neighbourhood, ...)."""

    name: ClassVar[str]
    keys: ClassVar[tuple[Key, ...]]
    # The model's input, as `attentive show --help` explains it.
    input_help: ClassVar[str]

    @abstractmethod
    def request(self, card: ModelCard, query: Query) -> dict[str, np.ndarray]:
        """The inference request's inputs for this query."""

    @abstractmethod
    def view(
        self,
        card: ModelCard,
        query: Query,
        inputs: dict[str, np.ndarray],
        outputs: dict[str, np.ndarray],
    ) -> View:
        """The picture of the server's answer."""


FAMILIES: dict[str, Family] = {}
_BY_KEY: dict[Key, str] = {}


def register(family: Family) -> Family:
    if family.name in FAMILIES:
        raise ValueError(f"picture family {family.name!r} is already registered")
    for key in family.keys:
        if key in _BY_KEY:
            raise ValueError(f"attention output {key} is already drawn by {_BY_KEY[key]!r}")
    FAMILIES[family.name] = family
    for key in family.keys:
        _BY_KEY[key] = family.name
    return family


class NoAttention(ValueError):
    """The model has no attention output to draw."""


class NoRenderer(ValueError):
    """The model attends, but through outputs no family draws."""


def attention_outputs(card: ModelCard) -> list[TensorSpec]:
    return [o for o in card.io.outputs if "attention" in o.name]


def family_for(card: ModelCard) -> Family:
    """The family that draws this card's attention outputs."""
    import attentive.pictures.families  # noqa: F401  (registers every family)

    matched = {_BY_KEY[k] for o in card.io.outputs if (k := key_of(o)) in _BY_KEY}
    if len(matched) == 1:
        return FAMILIES[matched.pop()]
    outputs = ", ".join([o.name for o in card.io.outputs] + [t.name for t in card.io.text_outputs])
    if len(matched) > 1:
        raise NoRenderer(
            f"model {card.name!r}: its outputs match several pictures ({', '.join(sorted(matched))})"
        )
    attention = attention_outputs(card)
    if not attention and not card.tags.has_attention:
        raise NoAttention(
            f"model {card.name!r} has no attention to show: it does not attend (outputs: {outputs})"
        )
    if not attention:
        raise NoAttention(
            f"model {card.name!r} serves no attention output (outputs: {outputs}), so there is "
            "nothing to show"
        )
    described = ", ".join(str(key_of(o) or f"{o.name} (no legend)") for o in attention)
    raise NoRenderer(
        f"model {card.name!r}: no picture draws its attention output(s) {described}; "
        f"pictures exist for: {', '.join(str(k) for k in sorted(_BY_KEY, key=str))}"
    )


def describe() -> list[tuple[str, str, str]]:
    """(family, keys, input) for every registered family, for --help and docs."""
    import attentive.pictures.families  # noqa: F401

    return [(f.name, "; ".join(str(k) for k in f.keys), f.input_help) for f in FAMILIES.values()]


def as_text(value: Any) -> str:
    """A BYTES tensor element (bytes or str) as str."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
