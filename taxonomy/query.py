"""The taxonomy query engine: which built models have which tags, and which tags no model has.

Pure Python (stdlib, pydantic, taxonomy): the CLI and the server's gRPC taxonomy service share it.

* :func:`load_cards` ``(repository: Path) -> list[CardEntry]`` reads ``<repository>/*/card.json``.
  A model folder without a card (a plain Triton-layout model) is listed with unknown taxonomy; a
  card that does not validate is listed with its ``error`` instead of stopping the scan, so one
  bad export cannot hide the rest of the zoo.
* :class:`Query` ``(all_of=..., any_of=...)``: per axis, all-of means the model has every listed
  value, any-of at least one; axes combine with AND. Aliases are accepted ("global" -> soft);
  unknown axes and values raise ``ValueError`` listing the valid ones.
* :func:`filter_cards` ``(cards, query) -> list[CardEntry]`` keeps the order it is given.
* :func:`find_card` ``(cards, name) -> CardEntry`` raises :class:`UnknownModelError`.
* :func:`coverage` ``(cards) -> Coverage``: for every axis and every value, the models having it;
  values no model has are kept with an empty list, so gaps in the zoo are visible.

A model with unknown taxonomy (no card, or an invalid one) matches only the empty query, and a
model without attention (see taxonomy.derive) matches no query on the attention axes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from taxonomy.axes import AXES, parse_value
from taxonomy.card import CARD_FILE, ModelCard, Tags

CONFIG_FILE = "config.pbtxt"
Status = Literal["tagged", "unknown", "invalid"]


@dataclass(frozen=True)
class CardEntry:
    """One model folder of the repository and what its card says.

    ``name`` is the folder name (the name the server serves it under). ``card`` is None when the
    folder has no card.json (taxonomy unknown) or when it failed validation (then ``error`` says
    why).
    """

    name: str
    path: Path
    card: ModelCard | None = None
    error: str | None = None

    @property
    def tags(self) -> Tags | None:
        return self.card.tags if self.card is not None else None

    @property
    def status(self) -> Status:
        if self.error is not None:
            return "invalid"
        return "tagged" if self.card is not None else "unknown"

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary: name, status, title, task, tags per axis (None if unknown)."""
        card = self.card
        return {
            "name": self.name,
            "status": self.status,
            "title": card.title if card else None,
            "task": card.task if card else None,
            "tags": card.tags.model_dump(mode="json") if card else None,
            "error": self.error,
        }


class UnknownModelError(LookupError):
    """No model of that name; ``available`` lists the names there are."""

    def __init__(self, name: str, available: Sequence[str]) -> None:
        self.name = name
        self.available = list(available)
        listed = ", ".join(self.available) or "none"
        super().__init__(f"unknown model {name!r}; models: {listed}")


def _is_model_dir(path: Path) -> bool:
    if not path.is_dir() or path.name.startswith("."):
        return False
    if (path / CARD_FILE).is_file() or (path / CONFIG_FILE).is_file():
        return True
    return any(child.is_dir() and child.name.isdigit() for child in path.iterdir())


def _describe(error: Exception) -> str:
    if isinstance(error, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in e['loc']) or '<card>'}: {e['msg']}" for e in error.errors()
        ]
        return f"invalid {CARD_FILE}: " + "; ".join(parts)
    return f"invalid {CARD_FILE}: {error}"


def load_entry(folder: Path) -> CardEntry:
    """Read one model folder. Never raises for a bad card: the entry carries the error."""
    folder = Path(folder)
    card_path = folder / CARD_FILE
    if not card_path.is_file():
        return CardEntry(name=folder.name, path=folder)
    try:
        card = ModelCard.load(card_path)
    except (OSError, ValueError) as error:  # ValidationError and JSONDecodeError are ValueErrors
        return CardEntry(name=folder.name, path=folder, error=_describe(error))
    if card.name != folder.name:
        message = f"card name {card.name!r} differs from its folder {folder.name!r}"
        return CardEntry(name=folder.name, path=folder, error=message)
    return CardEntry(name=folder.name, path=folder, card=card)


def load_cards(repository: Path) -> list[CardEntry]:
    """Every model folder of the repository, sorted by name. Raises FileNotFoundError if absent."""
    repository = Path(repository)
    if not repository.is_dir():
        raise FileNotFoundError(f"model repository {str(repository)!r} does not exist")
    return [load_entry(p) for p in sorted(repository.iterdir()) if _is_model_dir(p)]


def find_card(cards: Iterable[CardEntry], name: str) -> CardEntry:
    """The entry named ``name``; UnknownModelError lists the available names otherwise."""
    cards = list(cards)
    for entry in cards:
        if entry.name == name:
            return entry
    raise UnknownModelError(name, [entry.name for entry in cards])


def _normalise(spec: Mapping[str, Collection[str]] | None) -> dict[str, frozenset[StrEnum]]:
    out: dict[str, frozenset[StrEnum]] = {}
    for axis, values in (spec or {}).items():
        if isinstance(values, str):  # a lone string would otherwise be split into characters
            values = [values]
        parsed = frozenset(parse_value(axis, str(v)) for v in values)
        if parsed:  # an axis with nothing listed constrains nothing
            out[axis] = parsed
    return out


@dataclass(frozen=True)
class Query:
    """Per-axis constraints: ``all_of`` (every value) and ``any_of`` (at least one); axes ANDed.

    Give any collection of strings per axis; on construction the values are normalised to
    frozensets of enum members (aliases resolved, unknown ones rejected, empty axes dropped), so
    ``Query(all_of={"positions": ["global"]}).all_of == {"positions": {Positions.SOFT}}``.
    """

    all_of: Mapping[str, Collection[str]] = field(default_factory=dict)
    any_of: Mapping[str, Collection[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "all_of", _normalise(self.all_of))
        object.__setattr__(self, "any_of", _normalise(self.any_of))

    @property
    def is_empty(self) -> bool:
        return not self.all_of and not self.any_of

    def matches(self, tags: Tags | None) -> bool:
        """Whether a model with these tags satisfies the query (unknown tags: only if empty)."""
        if self.is_empty:
            return True
        if tags is None:
            return False
        if any(not tags.get(axis).issuperset(want) for axis, want in self.all_of.items()):
            return False
        return all(not tags.get(axis).isdisjoint(want) for axis, want in self.any_of.items())

    def describe(self) -> str:
        """A readable form, e.g. ``sequences has all of {co-attention} and positions ...``."""
        parts = [
            f"{axis} has {kind} of {{{', '.join(sorted(values))}}}"
            for kind, spec in (("all", self.all_of), ("any", self.any_of))
            for axis, values in spec.items()
        ]
        return " and ".join(parts) or "any model"

    def to_dict(self) -> dict[str, dict[str, list[str]]]:
        """JSON-ready: ``{"all_of": {axis: [values]}, "any_of": {...}}``, values sorted."""
        return {
            "all_of": {axis: sorted(values) for axis, values in self.all_of.items()},
            "any_of": {axis: sorted(values) for axis, values in self.any_of.items()},
        }


def filter_cards(cards: Iterable[CardEntry], query: Query) -> list[CardEntry]:
    """The entries whose tags satisfy ``query``, in the order given."""
    return [entry for entry in cards if query.matches(entry.tags)]


@dataclass(frozen=True)
class Coverage:
    """``matrix[axis][value]`` = names of the models having that value (every value present).

    ``untagged`` lists the models whose taxonomy is unknown (no card, or an invalid one).
    """

    matrix: dict[str, dict[str, list[str]]]
    models: list[str]
    untagged: list[str]

    def gaps(self) -> list[tuple[str, str]]:
        """(axis, value) pairs that no model in the repository has."""
        return [(a, v) for a, row in self.matrix.items() for v, names in row.items() if not names]

    def to_dict(self) -> dict[str, Any]:
        return {"matrix": self.matrix, "models": self.models, "untagged": self.untagged}


def coverage(cards: Iterable[CardEntry]) -> Coverage:
    """Which models have which value on every axis, in the survey's order of axes and values."""
    cards = list(cards)
    matrix = {
        axis: {
            value.value: [e.name for e in cards if e.tags is not None and value in e.tags.get(axis)]
            for value in enum
        }
        for axis, enum in AXES.items()
    }
    untagged = [e.name for e in cards if e.tags is None]
    return Coverage(matrix=matrix, models=[e.name for e in cards], untagged=untagged)
