"""A model's tags, derived from the facets of its attention layers plus what its structure adds.

Tags are never typed twice. Each attention mechanism declares the facets it contributes where it
is used (scaled dot-product used as self-attention: sequences {self}, positions {soft},
representations {single}); a model declares only what its structure adds (its architecture, and
multi-level when it stacks attention over word and sentence levels). :func:`derive_tags` merges
them; export writes the result into the card.

The rules, and why:

* Union. Every axis is the union of the layers' and the model's values: a Transformer has self
  *and* distinctive (cross) attention, and a query for either should find it.
* Levels are exclusive. Each attention of a hierarchical model works on one level; what makes the
  model multi-level is that they are stacked (word attention feeding sentence attention). So
  multi-level anywhere makes the model ``{multi-level}`` only, and a model that declares nothing
  is ``{single-level}``. "Single-level and multi-level" would be a contradiction, not extra detail.
* Representations default to ``{single}``: one scalar weight per position over one
  representation is what attention is unless a mechanism says otherwise. They stay a union
  otherwise (a model may combine a multi-dimensional layer with ordinary ones).
* Sequences, positions and architecture have no sensible default: a model with attention that
  leaves one empty is missing a declaration, so derivation raises ``ValueError`` naming the axis.
* No attention. A baseline without attention has no layers with facets. Only when the caller says
  so (``allow_no_attention=True``) is that accepted: the four attention axes stay empty (no
  defaults: a baseline must not match a query for single-level attention) and architecture is
  whatever the model declared, possibly nothing. Such Tags have ``has_attention == False``.
"""

from __future__ import annotations

from collections.abc import Iterable

from taxonomy.axes import Levels, Representations
from taxonomy.card import ATTENTION_AXES, Facets, Tags

# Axes that must be declared by someone: there is no default that would be true of most models.
REQUIRED_AXES = ("sequences", "positions", "architecture")


def merge_facets(facets: Iterable[Facets]) -> Facets:
    """The union of several facet sets, axis by axis, with no defaults applied."""
    merged = Facets()
    for one in facets:
        merged = merged.union(one)
    return merged


def derive_tags(
    layer_facets: Iterable[Facets],
    model_facets: Facets | None = None,
    *,
    allow_no_attention: bool = False,
) -> Tags:
    """The complete tags of a model; see the module docstring for the rules and their reasons.

    ``layer_facets``: one Facets per attention layer (repeats are harmless).
    ``model_facets``: what the model's structure adds (architecture, multi-level).
    ``allow_no_attention``: accept a model whose layers declare no attention at all.
    Raises ``ValueError`` naming the first axis a model with attention leaves empty.
    """
    merged = merge_facets([*layer_facets, model_facets or Facets()])
    attends = any(merged.get(axis) for axis in ATTENTION_AXES)
    if not attends and allow_no_attention:
        return Tags(architecture=merged.architecture)
    for axis in REQUIRED_AXES:
        if not merged.get(axis):
            hint = (
                " (a model without attention: pass allow_no_attention=True)" if not attends else ""
            )
            raise ValueError(
                f"axis {axis!r} is empty after derivation: declare it on the attention layers "
                f"(sequences, positions) or on the model (architecture){hint}"
            )
    levels = frozenset({Levels.MULTI}) if Levels.MULTI in merged.levels else {Levels.SINGLE}
    representations = merged.representations or {Representations.SINGLE}
    return Tags(
        sequences=merged.sequences,
        levels=frozenset(levels),
        positions=merged.positions,
        representations=frozenset(representations),
        architecture=merged.architecture,
    )
