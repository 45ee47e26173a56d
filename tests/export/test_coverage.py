"""`attentive taxonomy coverage` over the tiny zoo (every registered model, exported with its
card): every value of every axis of the survey's taxonomy has at least one served model."""

from __future__ import annotations

from pathlib import Path

from taxonomy.query import coverage, load_cards


def test_every_value_of_every_axis_has_a_served_model(tiny_zoo: Path) -> None:
    found = coverage(load_cards(tiny_zoo))
    assert not found.untagged, f"models without valid tags: {found.untagged}"
    assert not found.gaps(), f"values without a served model: {found.gaps()}"
