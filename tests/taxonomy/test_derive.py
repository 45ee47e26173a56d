"""derive_tags: union of the layers' and the model's facets, defaults, and what is refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from taxonomy.axes import Architecture, Levels, Positions, Representations, Sequences
from taxonomy.card import Facets, ModelCard, Tags
from taxonomy.derive import derive_tags, merge_facets
from tests.taxonomy.cards import CROSS_SOFT, SELF_SOFT, make_card


def test_transformer() -> None:
    tags = derive_tags(
        [SELF_SOFT, SELF_SOFT, CROSS_SOFT],
        Facets(architecture={"encoder-decoder", "network-without-rnns"}),
    )
    assert tags == Tags(
        sequences={Sequences.SELF, Sequences.DISTINCTIVE},
        levels={Levels.SINGLE},
        positions={Positions.SOFT},
        representations={Representations.SINGLE},
        architecture={Architecture.ENCODER_DECODER, Architecture.NO_RNN},
    )


def test_gat() -> None:
    tags = derive_tags([SELF_SOFT], Facets(architecture={"graph"}))
    assert tags.sequences == {Sequences.SELF}
    assert tags.levels == {Levels.SINGLE}
    assert tags.positions == {Positions.SOFT}
    assert tags.representations == {Representations.SINGLE}
    assert tags.architecture == {Architecture.GRAPH}


def test_stacking_over_levels_makes_the_model_multi_level_only() -> None:
    word = Facets(sequences={"self"}, levels={"single-level"}, positions={"soft"})
    sentence = Facets(sequences={"self"}, levels={"single-level"}, positions={"soft"})
    model = Facets(levels={"multi-level"}, architecture={"encoder-decoder"})
    assert derive_tags([word, sentence], model).levels == {Levels.MULTI}


def test_a_layer_may_declare_multi_level_too() -> None:
    layer = Facets(sequences={"self"}, levels={"multi-level"}, positions={"soft"})
    assert derive_tags([layer], Facets(architecture={"graph"})).levels == {Levels.MULTI}


def test_defaults_fill_levels_and_representations_only_when_empty() -> None:
    bare = Facets(sequences={"distinctive"}, positions={"local"})
    tags = derive_tags([bare], Facets(architecture={"encoder-decoder"}))
    assert tags.levels == {Levels.SINGLE}
    assert tags.representations == {Representations.SINGLE}
    dimensional = Facets(
        sequences={"self"}, positions={"soft"}, representations={"multi-dimensional"}
    )
    tags = derive_tags([dimensional], Facets(architecture={"network-without-rnns"}))
    assert tags.representations == {Representations.MULTI_DIMENSIONAL}


def test_representations_are_a_union_across_layers() -> None:
    dimensional = Facets(
        sequences={"self"}, positions={"soft"}, representations={"multi-dimensional"}
    )
    tags = derive_tags([dimensional, SELF_SOFT], Facets(architecture={"network-without-rnns"}))
    assert tags.representations == {Representations.SINGLE, Representations.MULTI_DIMENSIONAL}


def test_aliases_in_declarations() -> None:
    layer = Facets(sequences={"inner"}, positions={"global"})
    tags = derive_tags([layer], Facets(architecture={"graph"}))
    assert tags.sequences == {Sequences.SELF}
    assert tags.positions == {Positions.SOFT}


@pytest.mark.parametrize(
    ("layers", "model", "axis"),
    [
        ([Facets(positions={"soft"})], Facets(architecture={"graph"}), "sequences"),
        ([Facets(sequences={"self"})], Facets(architecture={"graph"}), "positions"),
        ([SELF_SOFT], Facets(), "architecture"),
        ([SELF_SOFT], None, "architecture"),
    ],
)
def test_an_empty_required_axis_is_named(
    layers: list[Facets], model: Facets | None, axis: str
) -> None:
    with pytest.raises(ValueError, match=repr(axis)):
        derive_tags(layers, model)


def test_no_attention_needs_to_be_asked_for() -> None:
    with pytest.raises(ValueError, match="allow_no_attention"):
        derive_tags([], Facets(architecture={"encoder-decoder"}))


def test_a_model_without_attention() -> None:
    tags = derive_tags([], Facets(architecture={"encoder-decoder"}), allow_no_attention=True)
    assert not tags.has_attention
    assert tags.architecture == {Architecture.ENCODER_DECODER}
    for axis in ("sequences", "levels", "positions", "representations"):
        assert tags.get(axis) == frozenset(), axis


def test_allow_no_attention_does_not_excuse_half_declared_attention() -> None:
    with pytest.raises(ValueError, match="'positions'"):
        derive_tags(
            [Facets(sequences={"self"})], Facets(architecture={"graph"}), allow_no_attention=True
        )


def test_allow_no_attention_changes_nothing_for_a_model_with_attention() -> None:
    model = Facets(architecture={"graph"})
    assert derive_tags([SELF_SOFT], model, allow_no_attention=True) == derive_tags(
        [SELF_SOFT], model
    )


def test_merge_facets_is_the_plain_union() -> None:
    merged = merge_facets([SELF_SOFT, CROSS_SOFT, Facets(levels={"multi-level"})])
    assert merged.sequences == {Sequences.SELF, Sequences.DISTINCTIVE}
    assert merged.levels == {Levels.MULTI}
    assert merged.architecture == frozenset()


def test_tags_refuse_incomplete_or_contradictory_values() -> None:
    with pytest.raises(ValidationError, match="levels"):
        Tags(
            sequences={"self"},
            positions={"soft"},
            representations={"single"},
            architecture={"graph"},
        )
    with pytest.raises(ValidationError, match="single-level or multi-level"):
        Tags(
            sequences={"self"},
            levels={"single-level", "multi-level"},
            positions={"soft"},
            representations={"single"},
            architecture={"graph"},
        )


def test_derived_tags_survive_the_card_round_trip() -> None:
    card = make_card("gat", [("layers.0", SELF_SOFT)], Facets(architecture={"graph"}))
    assert ModelCard.from_json(card.to_json()).tags == card.tags
    baseline = make_card(
        "rnn", [], Facets(architecture={"encoder-decoder"}), allow_no_attention=True
    )
    assert ModelCard.from_json(baseline.to_json()).tags == baseline.tags
