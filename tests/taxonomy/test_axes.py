"""The axes: every value defined with a source, aliases parsed, facet order stable on the wire."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from taxonomy.axes import AXES, DEFINITIONS, Positions, Sequences, parse_value
from taxonomy.card import Facets

ROOT = Path(__file__).resolve().parents[2]
ALL_VALUES = [(axis, value) for axis, enum in AXES.items() for value in enum]


@pytest.mark.parametrize(("axis", "value"), ALL_VALUES, ids=[v.value for _, v in ALL_VALUES])
def test_every_value_has_a_definition_and_a_source(axis: str, value: object) -> None:
    definition = DEFINITIONS[value]  # type: ignore[index]
    assert definition.text.strip()
    assert definition.source.strip()


def test_no_definition_without_a_value() -> None:
    assert set(DEFINITIONS) == {value for _, value in ALL_VALUES}


@pytest.mark.parametrize(("axis", "value"), ALL_VALUES, ids=[v.value for _, v in ALL_VALUES])
def test_every_value_parses_as_itself(axis: str, value: object) -> None:
    assert parse_value(axis, str(value)) is value


@pytest.mark.parametrize(
    ("axis", "text", "expected"),
    [
        ("positions", "global", Positions.SOFT),
        ("positions", " Global ", Positions.SOFT),
        ("sequences", "inner", Sequences.SELF),
        ("sequences", "co", Sequences.CO_ATTENTION),
        ("sequences", "SELF", Sequences.SELF),
    ],
)
def test_aliases_and_case(axis: str, text: str, expected: object) -> None:
    assert parse_value(axis, text) is expected


def test_unknown_value_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError) as raised:
        parse_value("positions", "everywhere")
    message = str(raised.value)
    assert "everywhere" in message
    assert all(v.value in message for v in Positions)
    assert "global" in message


def test_unknown_axis_lists_the_axes() -> None:
    with pytest.raises(ValueError) as raised:
        parse_value("heads", "8")
    assert all(axis in str(raised.value) for axis in AXES)


def test_facets_accept_aliases() -> None:
    facets = Facets(sequences={"inner"}, positions={"global"})
    assert facets.sequences == {Sequences.SELF}
    assert facets.positions == {Positions.SOFT}


def test_facets_serialise_in_the_surveys_order_whatever_the_hash_seed() -> None:
    # Set order depends on PYTHONHASHSEED; card.json must not. Run under several seeds.
    code = (
        "from taxonomy.axes import AXES; from taxonomy.card import Facets;"
        "print(Facets(**{a: set(e) for a, e in AXES.items()}).model_dump_json())"
    )
    outputs = set()
    for seed in ("0", "1", "2", "3", "4", "5"):
        env = {"PYTHONHASHSEED": seed, "PATH": ""}
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1
    dumped = json.loads(outputs.pop())
    assert dumped == {axis: [v.value for v in enum] for axis, enum in AXES.items()}
