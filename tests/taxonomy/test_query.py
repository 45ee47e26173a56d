"""The query engine: loading a repository, all-of / any-of per axis, coverage with gaps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taxonomy.axes import AXES, Positions
from taxonomy.card import CARD_FILE
from taxonomy.query import (
    CardEntry,
    Query,
    UnknownModelError,
    coverage,
    filter_cards,
    find_card,
    load_cards,
)
from tests.taxonomy.cards import zoo


@pytest.fixture
def entries() -> list[CardEntry]:
    cards = [CardEntry(name=c.name, path=Path(c.name), card=c) for c in zoo()]
    return [*cards, CardEntry(name="plain", path=Path("plain"))]


def names(found: list[CardEntry]) -> set[str]:
    return {e.name for e in found}


def test_all_of_needs_every_value(entries: list[CardEntry]) -> None:
    assert names(filter_cards(entries, Query(all_of={"sequences": {"self"}}))) == {
        "transformer",
        "gat",
    }
    both = Query(all_of={"sequences": {"self", "distinctive"}})
    assert names(filter_cards(entries, both)) == {"transformer"}


def test_any_of_needs_one_value(entries: list[CardEntry]) -> None:
    query = Query(any_of={"sequences": {"distinctive", "co-attention"}})
    assert names(filter_cards(entries, query)) == {"transformer", "abcnn"}


def test_axes_combine_with_and(entries: list[CardEntry]) -> None:
    query = Query(all_of={"sequences": {"co-attention"}, "positions": {"local"}})
    assert names(filter_cards(entries, query)) == {"abcnn"}
    query = Query(all_of={"sequences": {"self"}, "architecture": {"graph"}})
    assert names(filter_cards(entries, query)) == {"gat"}
    mixed = Query(
        all_of={"positions": {"soft"}},
        any_of={"architecture": {"graph", "convolutional-sentence-pair"}},
    )
    assert names(filter_cards(entries, mixed)) == {"gat", "abcnn"}


def test_empty_result(entries: list[CardEntry]) -> None:
    assert filter_cards(entries, Query(all_of={"positions": {"hard"}})) == []
    assert filter_cards(entries, Query(all_of={"sequences": {"self", "co-attention"}})) == []


def test_empty_query_lists_everything_in_order(entries: list[CardEntry]) -> None:
    assert filter_cards(entries, Query()) == entries


def test_unknown_taxonomy_matches_no_constraint(entries: list[CardEntry]) -> None:
    found = filter_cards(entries, Query(any_of={a: set(e) for a, e in AXES.items()}))
    assert "plain" not in names(found)


def test_a_model_without_attention_matches_only_on_architecture(entries: list[CardEntry]) -> None:
    by_architecture = Query(all_of={"architecture": {"encoder-decoder"}})
    assert names(filter_cards(entries, by_architecture)) == {"transformer", "seq2seq"}
    assert "seq2seq" not in names(filter_cards(entries, Query(any_of={"levels": {"single-level"}})))


def test_aliases_are_resolved(entries: list[CardEntry]) -> None:
    query = Query(all_of={"positions": ["global"], "sequences": "inner"})
    assert query.all_of["positions"] == {Positions.SOFT}
    assert filter_cards(entries, query) == filter_cards(
        entries, Query(all_of={"positions": {"soft"}, "sequences": {"self"}})
    )


def test_unknown_value_and_axis_are_errors() -> None:
    with pytest.raises(ValueError, match="valid values: soft, hard, local"):
        Query(all_of={"positions": {"sideways"}})
    with pytest.raises(ValueError, match="valid axes: sequences, levels"):
        Query(any_of={"colour": {"red"}})


def test_describe_names_the_constraints() -> None:
    text = Query(all_of={"sequences": {"self"}}, any_of={"positions": {"local"}}).describe()
    assert "sequences" in text and "self" in text and "positions" in text and "local" in text


def test_load_cards(repository: Path) -> None:
    loaded = {e.name: e for e in load_cards(repository)}
    assert set(loaded) == {c.name for c in zoo()} | {"plain", "broken"}
    assert loaded["transformer"].status == "tagged"
    assert loaded["transformer"].card == next(c for c in zoo() if c.name == "transformer")
    assert loaded["plain"].status == "unknown" and loaded["plain"].tags is None
    assert loaded["broken"].status == "invalid"
    assert loaded["broken"].error and "title" in loaded["broken"].error


def test_load_cards_skips_what_is_not_a_model(repository: Path) -> None:
    (repository / "notes").mkdir()
    (repository / "notes" / "readme.txt").write_text("not a model")
    (repository / ".cache").mkdir()
    (repository / ".cache" / CARD_FILE).write_text("{}")
    (repository / "README.md").write_text("a file")
    found = {e.name for e in load_cards(repository)}
    assert not found & {"notes", ".cache", "README.md"}


def test_a_card_under_the_wrong_folder_is_reported(repository: Path) -> None:
    (repository / "gat").rename(repository / "gat2")
    entry = find_card(load_cards(repository), "gat2")
    assert entry.status == "invalid" and "'gat'" in (entry.error or "")


def test_missing_repository(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_cards(tmp_path / "nowhere")


def test_find_card(entries: list[CardEntry]) -> None:
    assert find_card(entries, "gat").name == "gat"
    with pytest.raises(UnknownModelError) as raised:
        find_card(entries, "bert")
    assert raised.value.available == [e.name for e in entries]
    assert "transformer" in str(raised.value)


def test_coverage_lists_every_value_and_the_gaps(entries: list[CardEntry]) -> None:
    cover = coverage(entries)
    assert {a: set(row) for a, row in cover.matrix.items()} == {
        axis: {v.value for v in enum} for axis, enum in AXES.items()
    }
    assert cover.matrix["positions"]["hard"] == []
    assert cover.matrix["sequences"]["self"] == ["transformer", "gat"]
    assert cover.matrix["positions"]["local"] == ["abcnn"]
    assert cover.matrix["architecture"]["encoder-decoder"] == ["transformer", "seq2seq"]
    assert "seq2seq" not in cover.matrix["levels"]["single-level"]
    assert ("positions", "hard") in cover.gaps()
    assert ("sequences", "self") not in cover.gaps()
    assert cover.untagged == ["plain"]
    assert json.loads(json.dumps(cover.to_dict()))["matrix"] == cover.matrix


def test_summary_is_json(entries: list[CardEntry]) -> None:
    summaries = json.loads(json.dumps([e.summary() for e in entries]))
    by_name = {s["name"]: s for s in summaries}
    assert by_name["gat"]["tags"]["architecture"] == ["graph"]
    assert by_name["plain"]["tags"] is None and by_name["plain"]["status"] == "unknown"
