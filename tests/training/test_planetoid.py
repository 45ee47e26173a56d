"""The Planetoid loader: counts as the data README gives them, the edge convention, the split."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from attentive.settings import Settings
from training.data import planetoid


@pytest.fixture(scope="module")
def cora() -> planetoid.Planetoid:
    return planetoid.load("cora", Settings().data)


@pytest.fixture(scope="module")
def citeseer() -> planetoid.Planetoid:
    return planetoid.load("citeseer", Settings().data)


def _edge_set(data: planetoid.Planetoid) -> set[tuple[int, int]]:
    return set(map(tuple, data.edge_index.t().tolist()))


def test_cora_counts_match_the_data_readme(cora: planetoid.Planetoid) -> None:
    assert (cora.num_nodes, cora.num_features, cora.num_classes) == (2708, 1433, 7)
    assert (len(cora.idx_train), len(cora.idx_val), len(cora.idx_test)) == (140, 500, 1000)
    assert cora.edge_index.shape == (2, 2 * 5278 + 2708)
    assert cora.edge_index.dtype == torch.int64
    assert torch.bincount(cora.labels[cora.idx_train]).tolist() == [20] * 7


def test_edges_run_both_ways_with_one_self_loop_per_node(cora: planetoid.Planetoid) -> None:
    edges = _edge_set(cora)
    assert len(edges) == cora.edge_index.shape[1], "no duplicate edges"
    assert all((j, i) in edges for i, j in edges)
    source, target = cora.edge_index
    loops = source == target
    assert loops.sum().item() == cora.num_nodes
    assert sorted(source[loops].tolist()) == list(range(cora.num_nodes))


def test_features_are_row_normalised_float32(cora: planetoid.Planetoid) -> None:
    assert cora.features.dtype == torch.float32
    assert torch.allclose(cora.features.sum(1), torch.ones(cora.num_nodes), atol=1e-5)
    assert torch.equal(cora.sparse_features().to_dense(), cora.features)


def test_splits_are_disjoint_and_labelled(citeseer: planetoid.Planetoid) -> None:
    splits = [set(s.tolist()) for s in (citeseer.idx_train, citeseer.idx_val, citeseer.idx_test)]
    assert not (splits[0] & splits[1] or splits[0] & splits[2] or splits[1] & splits[2])
    for split in (citeseer.idx_train, citeseer.idx_val, citeseer.idx_test):
        assert bool((citeseer.labels[split] >= 0).all())


def test_citeseer_counts_and_placeholders(citeseer: planetoid.Planetoid) -> None:
    assert (citeseer.num_nodes, citeseer.num_features, citeseer.num_classes) == (3327, 3703, 6)
    assert (len(citeseer.idx_train), len(citeseer.idx_val), len(citeseer.idx_test)) == (
        120,
        500,
        1000,
    )
    assert citeseer.edge_index.shape == (2, 2 * 4552 + 3327)
    placeholders = citeseer.labels == -1
    assert placeholders.sum().item() == 15
    assert torch.all(citeseer.features[placeholders] == 0), "empty rows stay zero, never NaN"
    assert torch.isfinite(citeseer.features).all()


def test_induced_subgraph_renumbers_and_keeps_inner_edges(cora: planetoid.Planetoid) -> None:
    nodes = [1708, *cora.edge_index[0, cora.edge_index[1] == 1708].tolist()[:2]]
    nodes = list(dict.fromkeys(nodes))
    features, edges = planetoid.induced_subgraph(cora, nodes)
    assert torch.equal(features, cora.features[nodes])
    assert int(edges.max()) < len(nodes)
    full = _edge_set(cora)
    kept = {(nodes[j], nodes[i]) for j, i in edges.t().tolist()}
    assert kept == {(j, i) for j, i in full if j in nodes and i in nodes}


def test_data_dir_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FileNotFoundError):
        planetoid.load("cora", tmp_path)
    monkeypatch.setenv("ATTENTIVE_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError):
        planetoid.load("cora")  # the default comes from Settings().data
    with pytest.raises(ValueError, match="valid choices"):
        planetoid.load("pubmed", tmp_path)
