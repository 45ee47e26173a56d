"""Converters from upstream formats into the loaders' layout (``../shared/data/README.md``).

A converter reads the verified downloads of one dataset (``downloads``) and writes into the
staging folder (``out``) that is renamed into place only after it passes its checks. Files that
are copied unchanged (or only renamed) need no converter: the registry marks them ``target``.
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from training.datasets import safe_pickle

MAX_TEXT_BYTES = 256 * 1024**2  # a decompressed text file larger than this is refused

# --- Planetoid: Python-2 pickles -> .npz ------------------------------------------------------

PLANETOID_PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph")


def _labels(onehot: Any) -> np.ndarray:
    """Class ids from one-hot rows; -1 for an all-zero row."""
    dense = np.asarray(onehot.toarray() if hasattr(onehot, "toarray") else onehot)
    if dense.ndim != 2:
        raise ValueError(f"labels must be a 2-D one-hot matrix, got shape {dense.shape}")
    labels = dense.argmax(axis=1).astype(np.int64)
    labels[~(dense > 0).any(axis=1)] = -1
    return labels


def _matrix(obj: Any) -> Any:
    import scipy.sparse as sp

    if isinstance(obj, safe_pickle.SparseRecord):
        return safe_pickle.to_csr(obj)
    if isinstance(obj, np.ndarray) and obj.ndim == 2:
        return sp.csr_matrix(obj)
    raise ValueError(f"expected a feature matrix, got {type(obj).__name__}")


def planetoid_arrays(
    parts: Mapping[str, Any], test_index: Iterable[int], *, val_size: int = 500
) -> dict[str, np.ndarray]:
    """The ``.npz`` arrays of one Planetoid graph from its unpickled ``ind.<name>.*`` parts.

    Convention (Kipf & Welling's and PyG's reading of the Planetoid files): rows of ``allx`` /
    ``ally`` are nodes ``0..len(allx)-1``; row ``r`` of ``tx`` / ``ty`` is node ``test.index[r]``;
    nodes in neither (Citeseer's 15 isolated ids) get zero features and label -1. The split is
    ``idx_train = 0..len(y)-1``, ``idx_val`` the next ``val_size`` nodes, ``idx_test`` the sorted
    test index.
    """
    import scipy.sparse as sp

    allx, tx = _matrix(parts["allx"]), _matrix(parts["tx"])
    ally, ty, y = _labels(parts["ally"]), _labels(parts["ty"]), _labels(parts["y"])
    test = np.fromiter((int(i) for i in test_index), dtype=np.int64)
    graph = parts["graph"]
    if not isinstance(graph, dict):
        raise ValueError(f"graph must be a dict of adjacency lists, got {type(graph).__name__}")
    if len(test) != tx.shape[0] or len(ty) != tx.shape[0] or len(ally) != allx.shape[0]:
        raise ValueError("tx/ty/test.index or allx/ally disagree in length")
    if allx.shape[1] != tx.shape[1]:
        raise ValueError("allx and tx have different feature counts")
    listing = np.array(
        [(int(u), int(v)) for u in sorted(graph) for v in graph[u]], dtype=np.int64
    ).reshape(-1, 2)
    n_all = allx.shape[0]
    num_nodes = max(n_all, int(test.max()) + 1 if len(test) else 0, int(listing.max()) + 1)
    rows = np.concatenate([np.arange(n_all, dtype=np.int64), test])  # stacked row -> node id
    if len(np.unique(rows)) != len(rows):
        raise ValueError("test.index overlaps the allx rows or repeats a node")
    stacked = sp.vstack([allx, tx]).tocoo()
    features = sp.csr_matrix(
        (stacked.data.astype(np.float32), (rows[stacked.row], stacked.col)),
        shape=(num_nodes, allx.shape[1]),
    )
    features.sum_duplicates()
    features.sort_indices()
    labels = np.full(num_nodes, -1, dtype=np.int64)
    labels[:n_all] = ally
    labels[test] = ty
    undirected = listing[listing[:, 0] != listing[:, 1]]
    undirected = np.unique(np.sort(undirected, axis=1), axis=0).reshape(-1, 2)
    n_train = len(y)
    return {
        "features_data": features.data.astype(np.float32),
        "features_indices": features.indices.astype(np.int64),
        "features_indptr": features.indptr.astype(np.int64),
        "features_shape": np.array(features.shape, dtype=np.int64),
        "labels": labels,
        "edges_directed_listing": listing,
        "edges_undirected": undirected.astype(np.int64),
        "idx_train": np.arange(n_train, dtype=np.int64),
        "idx_val": np.arange(n_train, n_train + val_size, dtype=np.int64),
        "idx_test": np.sort(test),
    }


def read_planetoid(downloads: Path, name: str) -> tuple[dict[str, Any], list[int]]:
    """Unpickle ``ind.<name>.*`` with the restricted unpickler; read ``test.index``."""
    parts = {p: safe_pickle.load_path(downloads / f"ind.{name}.{p}") for p in PLANETOID_PARTS}
    text = (downloads / f"ind.{name}.test.index").read_text(encoding="ascii")
    return parts, [int(line) for line in text.split()]


def convert_planetoid(
    downloads: Path, out: Path, names: Iterable[str] = ("cora", "citeseer"), *, val_size: int = 500
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        parts, test_index = read_planetoid(downloads, name)
        arrays = planetoid_arrays(parts, test_index, val_size=val_size)
        np.savez_compressed(out / f"{name}.npz", **arrays)  # type: ignore[arg-type]


# --- Multi30k: .gz -> text --------------------------------------------------------------------


def gunzip(source: Path, dest: Path, *, max_bytes: int = MAX_TEXT_BYTES) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with gzip.open(source, "rb") as f, open(dest, "wb") as out:
        while chunk := f.read(1 << 20):
            written += len(chunk)
            if written > max_bytes:
                raise ValueError(f"{source.name} expands to more than {max_bytes} bytes")
            out.write(chunk)


def convert_multi30k(downloads: Path, out: Path) -> None:
    for gz in sorted(downloads.glob("*.gz")):
        gunzip(gz, out / gz.name.removesuffix(".gz"))


# --- WikiQA train: per-row ids -> one id per question ----------------------------------------


def regroup_wikiqa_train(lines: Iterable[str]) -> list[str]:
    """Upstream rows are ``QuestionID, Question, SentenceID, Sentence, Label`` with a new id on
    every row (and a few rows in the 7-column test layout ``QuestionID, Question, DocumentID,
    DocumentTitle, SentenceID, Sentence, Label``). Rows are grouped by question text in order of
    first appearance and get ids ``TQ0, TQ1, ...``; sentence and label are kept verbatim."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if not line:
            continue
        cols = line.split("\t")
        if cols[0] == "QuestionID":
            continue
        if len(cols) == 5:
            question, sentence, label = cols[1], cols[3], cols[4]
        elif len(cols) == 7:
            question, sentence, label = cols[1], cols[5], cols[6]
        else:
            raise ValueError(f"WikiQA train line {number}: {len(cols)} columns, expected 5 or 7")
        if label not in ("0", "1"):
            raise ValueError(f"WikiQA train line {number}: label {label!r}")
        groups.setdefault(question, []).append((sentence, label))
    out = ["QuestionID\tQuestion\tSentence\tLabel"]
    for i, (question, rows) in enumerate(groups.items()):
        out += [f"TQ{i}\t{question}\t{sentence}\t{label}" for sentence, label in rows]
    return out


def convert_wikiqa(downloads: Path, out: Path) -> None:
    source = downloads / "WikiQA-train.upstream.tsv"
    with open(source, encoding="utf-8-sig") as f:
        lines = regroup_wikiqa_train(f)
    (out / "WikiQA-train.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def copy_file(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
