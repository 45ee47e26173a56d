"""Planetoid citation graphs (Yang et al. 2016) with the split GAT uses: Cora and Citeseer.

Files: ``<data>/planetoid/{cora,citeseer}.npz`` (see the data README): CSR features, ``labels``
(-1 = no label: Citeseer's 15 placeholder nodes, never in a split), ``edges_undirected`` (unique
pairs u < v, no self-loops) and ``idx_train`` / ``idx_val`` / ``idx_test``.

Edge convention (used by :mod:`training.attention.graph_attention` and the GAT model): ``edge_index``
is int64 ``(2, E)``; row 0 is the **source** j (the neighbour that is attended to), row 1 the
**target** i (the node that attends). Every undirected pair appears in both directions and every
node has a self-loop, so ``E = 2 M + N`` and each node attends at least to itself.

Legend: N nodes, F features, E directed edges (self-loops included), C classes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

DATASETS = ("cora", "citeseer")
Dataset = Literal["cora", "citeseer"]


@dataclass(frozen=True)
class Planetoid:
    name: str
    features: Tensor  # (N, F) float32, each non-empty row sums to 1 (all-zero rows stay zero)
    features_csr: sp.csr_matrix  # the same, as scipy CSR (N, F)
    labels: Tensor  # (N,) int64 in [0, C), or -1 where a node has no label
    idx_train: Tensor  # (n_train,) int64 node ids
    idx_val: Tensor  # (n_val,) int64
    idx_test: Tensor  # (n_test,) int64
    edge_index: Tensor  # (2, E) int64: row 0 source j, row 1 target i; both directions + self-loops
    num_classes: int

    @property
    def num_nodes(self) -> int:
        return int(self.features.shape[0])

    @property
    def num_features(self) -> int:
        return int(self.features.shape[1])

    def sparse_features(self) -> Tensor:
        """The features as a torch sparse CSR tensor (N, F): the fast first-layer input."""
        csr = self.features_csr
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(
                torch.from_numpy(csr.indptr.astype(np.int64)),  # (N + 1,)
                torch.from_numpy(csr.indices.astype(np.int64)),  # (nnz,)
                torch.from_numpy(csr.data.astype(np.float32)),  # (nnz,)
                size=csr.shape,
                check_invariants=True,
            )


def default_data_dir() -> Path:
    from attentive.settings import Settings

    return Settings().data


def row_normalise(features: sp.csr_matrix) -> sp.csr_matrix:
    """Divide every row by its sum; all-zero rows (Citeseer's placeholders) stay zero."""
    sums = np.asarray(features.sum(axis=1), dtype=np.float64).ravel()  # (N,)
    inverse = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums != 0)
    return sp.csr_matrix(sp.diags(inverse) @ features, dtype=np.float32)


def with_self_loops(undirected: np.ndarray, num_nodes: int) -> np.ndarray:
    """Unique undirected pairs (M, 2) -> directed (2, 2M + N): both directions, then self-loops."""
    u, v = undirected[:, 0], undirected[:, 1]
    loops = np.arange(num_nodes, dtype=np.int64)
    source = np.concatenate([u, v, loops])  # (E,)
    target = np.concatenate([v, u, loops])  # (E,)
    return np.stack([source, target]).astype(np.int64)  # (2, E)


def load(name: str, data_dir: Path | None = None) -> Planetoid:
    """Load ``cora`` or ``citeseer`` from ``<data_dir>/planetoid/<name>.npz`` (default data dir:
    ``attentive.settings.Settings().data``)."""
    if name not in DATASETS:
        raise ValueError(
            f"unknown planetoid dataset {name!r}; valid choices: {', '.join(DATASETS)}"
        )
    path = (
        Path(data_dir if data_dir is not None else default_data_dir()) / "planetoid" / f"{name}.npz"
    )
    with np.load(path, allow_pickle=False) as raw:
        shape = tuple(int(s) for s in raw["features_shape"])
        csr = sp.csr_matrix(
            (raw["features_data"], raw["features_indices"], raw["features_indptr"]), shape=shape
        )
        labels = raw["labels"].astype(np.int64)
        undirected = raw["edges_undirected"].astype(np.int64)
        splits = {key: raw[key].astype(np.int64) for key in ("idx_train", "idx_val", "idx_test")}
    num_nodes = shape[0]
    if len(labels) != num_nodes:
        raise ValueError(f"{path}: {len(labels)} labels for {num_nodes} nodes")
    for key, idx in splits.items():
        if (labels[idx] < 0).any():
            raise ValueError(f"{path}: {key} contains unlabelled nodes")
    csr = row_normalise(csr)
    csr.sum_duplicates()  # canonical CSR: sorted, distinct column indices per row
    return Planetoid(
        name=name,
        features=torch.from_numpy(csr.toarray()),
        features_csr=csr,
        labels=torch.from_numpy(labels),
        idx_train=torch.from_numpy(splits["idx_train"]),
        idx_val=torch.from_numpy(splits["idx_val"]),
        idx_test=torch.from_numpy(splits["idx_test"]),
        edge_index=torch.from_numpy(with_self_loops(undirected, num_nodes)),
        num_classes=int(labels.max()) + 1,
    )


def induced_subgraph(data: Planetoid, nodes: list[int]) -> tuple[Tensor, Tensor]:
    """Features (n, F) and edge_index (2, e) of the subgraph on ``nodes`` (renumbered 0..n-1 in
    the given order), keeping the edges among them and the self-loops."""
    index = torch.full((data.num_nodes,), -1, dtype=torch.int64)
    index[torch.tensor(nodes)] = torch.arange(len(nodes))
    mapped = index[data.edge_index]  # (2, E), -1 where an end lies outside
    keep = (mapped >= 0).all(dim=0)  # (E,)
    return data.features[nodes].clone(), mapped[:, keep].contiguous()
