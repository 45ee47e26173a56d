"""Structural checks of datasets in the loaders' layout: the counts and shapes that
``../shared/data/README.md`` states, so a converted file whose bytes cannot be pinned (Planetoid
``.npz``, the re-grouped WikiQA train split) is still verified, and a pinned one is double-checked.

Each check takes the dataset folder and returns :class:`Finding` s: ``error`` (wrong content),
``gap`` (a known, documented absence: reported, never a failure) or ``ok``.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

Level = Literal["ok", "gap", "error"]


@dataclass(frozen=True)
class Finding:
    level: Level
    path: str  # relative to the dataset folder ("" for the whole dataset)
    message: str


Check = Callable[[Path], list[Finding]]


def _expect(
    findings: list[Finding], path: str, what: str, actual: object, expected: object
) -> None:
    if actual != expected:
        findings.append(Finding("error", path, f"{what}: {actual}, expected {expected}"))


def _tsv(path: Path) -> list[list[str]]:
    text = path.read_text(encoding="utf-8-sig")
    return [line.split("\t") for line in text.splitlines() if line]


# --- planetoid ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphCounts:
    nodes: int
    features: int
    classes: int
    undirected: int
    listing: int
    train: int
    val: int
    test: int
    unlabelled: int
    nnz: int | None = None
    known_features: int | None = None  # pubmed_partial: rows with features


PLANETOID = {
    "cora.npz": GraphCounts(2708, 1433, 7, 5278, 10858, 140, 500, 1000, 0, nnz=49216),
    "citeseer.npz": GraphCounts(3327, 3703, 6, 4552, 9464, 120, 500, 1000, 15, nnz=105165),
    "pubmed_partial.npz": GraphCounts(
        19717, 500, 3, 44324, 88676, 60, 500, 1000, 0, known_features=1060
    ),
}
PLANETOID_KEYS = (
    "features_data",
    "features_indices",
    "features_indptr",
    "features_shape",
    "labels",
    "edges_directed_listing",
    "edges_undirected",
    "idx_train",
    "idx_val",
    "idx_test",
)


def planetoid_npz(path: Path, expected: GraphCounts | None, name: str) -> list[Finding]:
    """Keys, dtypes, CSR consistency, edge conventions and the split of one ``.npz``."""
    out: list[Finding] = []
    try:
        raw = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        return [Finding("error", name, f"not a readable .npz: {err}")]
    with raw:
        missing = [k for k in PLANETOID_KEYS if k not in raw.files]
        if missing:
            return [Finding("error", name, f"missing keys {missing}")]
        a = {k: raw[k] for k in raw.files}
    for key in PLANETOID_KEYS:
        if key != "features_data" and a[key].dtype != np.int64:
            out.append(Finding("error", name, f"{key} is {a[key].dtype}, expected int64"))
    if a["features_data"].dtype != np.float32:
        out.append(Finding("error", name, "features_data is not float32"))
    n, f = (int(s) for s in a["features_shape"])
    indptr, indices = a["features_indptr"], a["features_indices"]
    if len(indptr) != n + 1 or indptr[0] != 0 or indptr[-1] != len(indices):
        out.append(Finding("error", name, "features_indptr does not match the CSR arrays"))
    elif len(indices) and (indices.min() < 0 or indices.max() >= f):
        out.append(Finding("error", name, "features_indices out of range"))
    labels = a["labels"]
    undirected, listing = a["edges_undirected"], a["edges_directed_listing"]
    _expect(out, name, "labels", len(labels), n)
    if undirected.ndim != 2 or undirected.shape[1:] != (2,) or listing.shape[1:] != (2,):
        out.append(Finding("error", name, "edge arrays must have shape (E, 2)"))
        return out
    if len(undirected) and not (undirected[:, 0] < undirected[:, 1]).all():
        out.append(Finding("error", name, "edges_undirected must have u < v (no self-loops)"))
    if len(np.unique(undirected, axis=0)) != len(undirected):
        out.append(Finding("error", name, "edges_undirected has duplicates"))
    for edges, key in ((undirected, "edges_undirected"), (listing, "edges_directed_listing")):
        if len(edges) and (edges.min() < 0 or edges.max() >= n):
            out.append(Finding("error", name, f"{key} has node ids outside 0..{n - 1}"))
    splits = {k: a[f"idx_{k}"] for k in ("train", "val", "test")}
    for key, idx in splits.items():
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            out.append(Finding("error", name, f"idx_{key} out of range"))
        elif len(idx) and (labels[idx] < 0).any():
            out.append(Finding("error", name, f"idx_{key} contains unlabelled nodes"))
    if out or expected is None:
        return out
    e = expected
    _expect(out, name, "nodes", n, e.nodes)
    _expect(out, name, "features", f, e.features)
    if e.nnz is not None:
        _expect(out, name, "feature nnz", len(a["features_data"]), e.nnz)
    _expect(out, name, "classes", int(labels.max()) + 1, e.classes)
    _expect(out, name, "unlabelled nodes", int((labels < 0).sum()), e.unlabelled)
    _expect(out, name, "undirected edges", len(undirected), e.undirected)
    _expect(out, name, "adjacency-list entries", len(listing), e.listing)
    sizes = tuple(len(splits[k]) for k in ("train", "val", "test"))
    _expect(out, name, "train/val/test", sizes, (e.train, e.val, e.test))
    per_class = np.bincount(labels[splits["train"]], minlength=e.classes)
    if not (per_class == e.train // e.classes).all():
        out.append(Finding("error", name, f"train per class {per_class.tolist()}, expected 20"))
    if e.known_features is not None:
        known = a.get("features_known_mask")
        _expect(
            out,
            name,
            "nodes with features",
            None if known is None else int(known.sum()),
            e.known_features,
        )
    return out


def planetoid(folder: Path) -> list[Finding]:
    out: list[Finding] = []
    for file, counts in PLANETOID.items():
        path = folder / file
        if path.exists():
            found = planetoid_npz(path, counts, file)
            out += found or [Finding("ok", file, f"{counts.nodes} nodes, counts as documented")]
            if not found and counts.known_features is not None:
                out.append(
                    Finding(
                        "gap",
                        file,
                        f"partial: features for {counts.known_features:,} of {counts.nodes:,} "
                        "nodes (ind.pubmed.allx is missing upstream of this copy)",
                    )
                )
    return out


# --- text datasets --------------------------------------------------------------------------

BABI_STORIES_1K = {4: 1000, 16: 1000, 19: 1000, 15: 250, 17: 125, 18: 198, 20: 94}


def babi(folder: Path) -> list[Finding]:
    out: list[Finding] = []
    for sub in ("en", "en-10k"):
        for path in sorted((folder / sub).glob("qa*_*.txt")):
            rel = f"{sub}/{path.name}"
            lines = path.read_text(encoding="utf-8").splitlines()
            questions = sum("\t" in line for line in lines)
            train = path.name.endswith("_train.txt")
            _expect(out, rel, "questions", questions, 10000 if sub == "en-10k" and train else 1000)
            if sub == "en" and train:
                task = int(path.name[2:].split("_", 1)[0])
                stories = sum(line.startswith("1 ") for line in lines)
                _expect(out, rel, "stories", stories, BABI_STORIES_1K.get(task, 200))
    return out


MULTI30K_LINES = {"train": 29000, "val": 1014, "test_2016_flickr": 1000}


def multi30k(folder: Path) -> list[Finding]:
    out: list[Finding] = []
    for stem, count in MULTI30K_LINES.items():
        for lang in ("en", "de", "fr"):
            path = folder / f"{stem}.{lang}"
            if path.exists():
                lines = path.read_text(encoding="utf-8").count("\n")
                _expect(out, path.name, "lines", lines, count)
    return out


SICK = {
    "SICK_train.txt": (4500, {"NEUTRAL": 2536, "ENTAILMENT": 1299, "CONTRADICTION": 665}),
    "SICK_trial.txt": (500, {"NEUTRAL": 282, "ENTAILMENT": 144, "CONTRADICTION": 74}),
    "SICK_test_annotated.txt": (4927, {"NEUTRAL": 2793, "ENTAILMENT": 1414, "CONTRADICTION": 720}),
}


def sick(folder: Path) -> list[Finding]:
    out: list[Finding] = []
    for file, (pairs, labels) in SICK.items():
        path = folder / file
        if not path.exists():
            continue
        rows = _tsv(path)
        _expect(out, file, "header", rows[0][:5], ["pair_ID", "sentence_A", "sentence_B", "relatedness_score", "entailment_judgment"])  # fmt: skip
        _expect(out, file, "pairs", len(rows) - 1, pairs)
        _expect(out, file, "labels", dict(Counter(r[4] for r in rows[1:])), labels)
        scores = [float(r[3]) for r in rows[1:]]
        if scores and not (min(scores) >= 1.0 and max(scores) <= 5.0):
            out.append(Finding("error", file, "relatedness scores outside 1..5"))
    return out


MSRP = {
    "msr-para-train.tsv": (3576, 2407),
    "msr-para-val.tsv": (500, 346),
    "msr-para-test.tsv": (1725, 1147),
}


def msrp(folder: Path) -> list[Finding]:
    out: list[Finding] = []
    for file, (pairs, positive) in MSRP.items():
        path = folder / file
        if not path.exists():
            continue
        rows = _tsv(path)
        _expect(out, file, "header", rows[0][0], "Quality")
        _expect(out, file, "pairs", len(rows) - 1, pairs)
        _expect(out, file, "positive pairs", sum(r[0] == "1" for r in rows[1:]), positive)
    return out


def msrvid(folder: Path) -> list[Finding]:
    out: list[Finding] = []
    for file in ("MSRVID_train.tsv", "MSRVID_dev.tsv"):
        path = folder / file
        if not path.exists():
            continue
        rows = _tsv(path)
        _expect(out, file, "pairs", len(rows) - 1, 750)
        _expect(out, file, "columns", {len(r) for r in rows}, {5})
        scores = [float(r[3]) for r in rows[1:]]
        if scores and not (min(scores) >= 0.0 and max(scores) <= 5.0):
            out.append(Finding("error", file, "scores outside 0..5"))
    return out


def wikiqa(folder: Path) -> list[Finding]:
    out: list[Finding] = []
    test = folder / "WikiQA-test.tsv"
    if test.exists():
        rows = _tsv(test)[1:]
        _expect(out, test.name, "columns", {len(r) for r in rows}, {7})
        questions = Counter(r[0] for r in rows)
        answered = {r[0] for r in rows if r[6] == "1"}
        _expect(out, test.name, "rows", len(rows), 6165)
        _expect(out, test.name, "questions", len(questions), 633)
        _expect(out, test.name, "positive rows", sum(r[6] == "1" for r in rows), 293)
        _expect(out, test.name, "answered questions", len(answered), 243)
        _expect(out, test.name, "rows of answered questions", sum(questions[q] for q in answered), 2351)  # fmt: skip
    train = folder / "WikiQA-train.tsv"
    if train.exists():
        rows = _tsv(train)
        _expect(out, train.name, "header", rows[0], ["QuestionID", "Question", "Sentence", "Label"])
        rows = rows[1:]
        _expect(out, train.name, "columns", {len(r) for r in rows}, {4})
        _expect(out, train.name, "rows", len(rows), 20360)
        _expect(out, train.name, "questions", len({r[0] for r in rows}), 2118)
        _expect(out, train.name, "answered questions", len({r[0] for r in rows if r[3] == "1"}), 873)  # fmt: skip
        _expect(out, train.name, "positive rows", sum(r[3] == "1" for r in rows), 1040)
        texts = {r[0]: r[1] for r in rows}
        if len(set(texts.values())) != len(texts):
            out.append(Finding("error", train.name, "one question text under two ids"))
    return out


def ag_news(folder: Path) -> list[Finding]:
    out: list[Finding] = []
    path = folder / "test.csv"
    if path.exists():
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        _expect(out, "test.csv", "rows", len(rows), 7600)
        _expect(out, "test.csv", "per class", dict(Counter(r[0] for r in rows)), {c: 1900 for c in "1234"})  # fmt: skip
    return out


def digit_grids(folder: Path) -> list[Finding]:
    """The generated task's only input is scikit-learn's bundled digits (no files)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        return [Finding("error", "", "scikit-learn is not installed (pip install scikit-learn)")]
    images = load_digits().images
    if images.shape != (1797, 8, 8):
        return [Finding("error", "", f"load_digits() images {images.shape}, expected (1797, 8, 8)")]
    return [Finding("ok", "", "sklearn load_digits(): 1,797 images of 8x8 (bundled, offline)")]
