"""A mirror of the upstream files (``<owner>/<repo>/<commit>/<path>``) made from the loaders'
layout in ../shared/data, so fetch, convert and check can run end to end on every dataset with
no network: the inverse of each converter.

- files the registry copies unchanged (or renames) are the same bytes;
- Multi30k's ``raw/*.gz`` are the text files gzipped;
- WikiQA's upstream train file gets one ``Q<n>`` / ``S<n>`` id per row again;
- the Planetoid ``ind.<graph>.*`` pickles are rebuilt from the ``.npz`` arrays (``allx`` rows =
  nodes ``0..min(test)-1``, ``tx`` rows = the sorted test nodes, one-hot labels, adjacency lists
  in the order of ``edges_directed_listing``), pickled with protocol 2 like Python 2 wrote them.
"""

from __future__ import annotations

import gzip
import pickle
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from training.datasets import convert
from training.datasets.mirror import mirror_path
from training.datasets.registry import DATASETS, Source


def _onehot(labels: np.ndarray, classes: int) -> np.ndarray:
    out = np.zeros((len(labels), classes), dtype=np.int32)
    known = labels >= 0
    out[np.flatnonzero(known), labels[known]] = 1
    return out


def planetoid_parts(npz: Path) -> dict[str, bytes]:
    """The upstream ``ind.<graph>.<part>`` files (by part) of one converted graph."""
    with np.load(npz, allow_pickle=False) as raw:
        a = {k: raw[k] for k in raw.files}
    features = sp.csr_matrix(
        (a["features_data"], a["features_indices"], a["features_indptr"]),
        shape=tuple(a["features_shape"]),
    )
    labels, test = a["labels"], a["idx_test"]
    n_all, n_train, classes = int(test.min()), len(a["idx_train"]), int(labels.max()) + 1
    allx, ally = features[:n_all], _onehot(labels[:n_all], classes)
    graph: defaultdict[int, list[int]] = defaultdict(list)
    for u, v in a["edges_directed_listing"].tolist():
        graph[u].append(v)
    objects = {
        "x": allx[:n_train],
        "y": ally[:n_train],
        "tx": features[test],
        "ty": _onehot(labels[test], classes),
        "allx": allx,
        "ally": ally,
        "graph": graph,
    }
    parts = {p: pickle.dumps(objects[p], protocol=2) for p in convert.PLANETOID_PARTS}
    parts["test.index"] = "".join(f"{i}\n" for i in test.tolist()).encode()
    return parts


def wikiqa_train(regrouped: Path) -> bytes:
    """The upstream train layout: ``QuestionID, Question, SentenceID, Sentence, Label`` with a
    new id on every row."""
    rows = ["QuestionID\tQuestion\tSentenceID\tSentence\tLabel"]
    lines = regrouped.read_text(encoding="utf-8").splitlines()[1:]
    for i, line in enumerate(lines, 1):
        _, question, sentence, label = line.split("\t")
        rows.append(f"Q{i}\t{question}\tS{i}\t{sentence}\t{label}")
    return ("\n".join(rows) + "\n").encode()


def _upstream(
    dataset: str, source: Source, shared: Path, graphs: dict[Path, dict[str, bytes]]
) -> bytes | Path | None:
    """The upstream bytes of ``source`` (or the shared file holding them); ``None`` where the
    shared copy lacks what it would be made from. ``graphs`` caches Planetoid's parts."""
    folder = shared / dataset
    if source.target:
        path = folder / source.target
        return path if path.is_file() else None
    if dataset == "multi30k":
        text = folder / source.name.removesuffix(".gz")
        return gzip.compress(text.read_bytes(), mtime=0) if text.is_file() else None
    if dataset == "wikiqa" and source.name == "WikiQA-train.upstream.tsv":
        return wikiqa_train(folder / "WikiQA-train.tsv")
    if dataset == "planetoid" and source.name.startswith("ind."):
        graph, part = source.name.removeprefix("ind.").split(".", 1)
        npz = folder / f"{graph}.npz"
        if npz not in graphs:
            graphs[npz] = planetoid_parts(npz)
        return graphs[npz][part]
    raise ValueError(f"{dataset}/{source.name}: no inverse conversion known")


def write_mirror(shared: Path, folder: Path, names: tuple[str, ...] = ()) -> list[str]:
    """Write the upstream files of ``names`` (default: every downloaded dataset) into
    ``folder``; returns ``<dataset>/<source>`` of those the shared copy cannot give."""
    lacking: list[str] = []
    graphs: dict[Path, dict[str, bytes]] = {}
    for ds in DATASETS.values():
        if ds.kind != "download" or (names and ds.name not in names):
            continue
        for source in ds.sources:
            relative = mirror_path(source.urls[0])
            assert relative is not None, source.urls[0]
            dest = folder / relative
            dest.parent.mkdir(parents=True, exist_ok=True)
            made = _upstream(ds.name, source, shared, graphs)
            if made is None:
                lacking.append(f"{ds.name}/{source.name}")
            elif isinstance(made, Path):
                shutil.copyfile(made, dest)
            else:
                dest.write_bytes(made)
    return lacking
