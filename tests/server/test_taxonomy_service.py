"""The taxonomy service answers what `attentive taxonomy` answers on the same repository."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from attentive.cli import main as cli
from protos.gen.attentive.taxonomy.v1 import taxonomy_pb2 as tx
from protos.gen.attentive.taxonomy.v1 import taxonomy_pb2_grpc as tx_grpc
from server.client import card_entries
from taxonomy.axes import ALIASES, AXES, DEFINITIONS
from taxonomy.query import Query, filter_cards, load_cards


@pytest.fixture(scope="module")
def taxonomy(channel: grpc.Channel) -> tx_grpc.TaxonomyServiceStub:
    return tx_grpc.TaxonomyServiceStub(channel)


def _cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    capsys.readouterr()
    assert cli(["taxonomy", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_axes(taxonomy: tx_grpc.TaxonomyServiceStub) -> None:
    axes = taxonomy.ListAxes(tx.ListAxesRequest(), timeout=10).axes
    assert [a.name for a in axes] == list(AXES)
    for axis in axes:
        assert [v.value for v in axis.values] == [v.value for v in AXES[axis.name]]
        for v in axis.values:
            definition = DEFINITIONS[AXES[axis.name](v.value)]
            assert (v.definition, v.source) == (definition.text, definition.source)
            aliases = [a for a, target in ALIASES.get(axis.name, {}).items() if target == v.value]
            assert list(v.aliases) == aliases


def test_list_matches_the_query_engine(
    taxonomy: tx_grpc.TaxonomyServiceStub, repository: Path
) -> None:
    cards = load_cards(repository)
    every = taxonomy.ListModels(tx.ListModelsRequest(), timeout=10).models
    assert [(m.name, m.status) for m in every] == [(e.name, e.status) for e in cards]
    for axis, enum in AXES.items():
        for value in enum:
            for kind in ("all_of", "any_of"):
                request = tx.ListModelsRequest(
                    **{kind: [tx.AxisFilter(axis=axis, values=[value.value])]}
                )
                got = [m.name for m in taxonomy.ListModels(request, timeout=10).models]
                want = [e.name for e in filter_cards(cards, Query(**{kind: {axis: [value.value]}}))]
                assert got == want, (axis, value, kind)
    alias = tx.ListModelsRequest(all_of=[tx.AxisFilter(axis="positions", values=["global"])])
    soft = filter_cards(cards, Query(all_of={"positions": ["soft"]}))
    assert [m.name for m in taxonomy.ListModels(alias, timeout=10).models] == [e.name for e in soft]


def test_list_summaries_carry_tags_and_readiness(
    taxonomy: tx_grpc.TaxonomyServiceStub, repository: Path, roles: dict[str, str]
) -> None:
    by_name = {m.name: m for m in taxonomy.ListModels(tx.ListModelsRequest(), timeout=10).models}
    for entry in load_cards(repository):
        summary = by_name[entry.name]
        assert summary.ready is (entry.name != roles["corrupt"])
        if entry.card is not None:
            tags = entry.card.tags.model_dump(mode="json")
            assert {a: list(v.values) for a, v in summary.tags.items()} == tags
        else:
            assert not summary.tags


def test_bad_filters_are_invalid_argument(taxonomy: tx_grpc.TaxonomyServiceStub) -> None:
    for request in (
        tx.ListModelsRequest(all_of=[tx.AxisFilter(axis="colour", values=["red"])]),
        tx.ListModelsRequest(any_of=[tx.AxisFilter(axis="positions", values=["sideways"])]),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            taxonomy.ListModels(request, timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as caught:
        taxonomy.Coverage(tx.CoverageRequest(axes=["colour"]), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_card_and_unknown_model(
    taxonomy: tx_grpc.TaxonomyServiceStub,
    repository: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for entry in load_cards(repository):
        answer = taxonomy.GetCard(tx.GetCardRequest(name=entry.name), timeout=10)
        if entry.card is None:
            assert answer.card_json == "" and answer.summary.status == entry.status
            continue
        shown = _cli_json(capsys, "show", entry.name, "--repository", str(repository))
        assert json.loads(answer.card_json) == shown
    with pytest.raises(grpc.RpcError) as caught:
        taxonomy.GetCard(tx.GetCardRequest(name="no_such_model"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no_such_model" in caught.value.details()


def test_coverage_matches_the_cli(
    taxonomy: tx_grpc.TaxonomyServiceStub, repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = _cli_json(capsys, "coverage", "--repository", str(repository))
    answer = taxonomy.Coverage(tx.CoverageRequest(), timeout=10)
    matrix: dict[str, dict[str, list[str]]] = {}
    for row in answer.rows:
        matrix.setdefault(row.axis, {})[row.value] = list(row.models)
    got = {"matrix": matrix, "models": list(answer.models), "untagged": list(answer.untagged)}
    assert got == expected
    one = taxonomy.Coverage(tx.CoverageRequest(axes=["positions"]), timeout=10)
    assert {r.axis for r in one.rows} == {"positions"}


def test_client_entries_equal_the_repository(address: str, repository: Path) -> None:
    remote = card_entries(address)
    local = load_cards(repository)
    assert [e.summary() for e in remote] == [e.summary() for e in local]
    assert [e.card for e in remote] == [e.card for e in local]


def test_cli_over_the_server_answers_as_over_the_repository(
    address: str, repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for action in (["list", "--positions", "soft"], ["coverage"], ["list", "--any"]):
        local = _cli_json(capsys, *action, "--repository", str(repository))
        remote = _cli_json(capsys, *action, "--server", address)
        assert remote == local
