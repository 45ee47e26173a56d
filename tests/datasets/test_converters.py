"""Converters on small slices of the upstream formats made here, and every dataset's checks on
the files in ../shared/data (the counts of its README)."""

from __future__ import annotations

import gzip
import pickle
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from tests.datasets.conftest import SHARED
from tests.datasets.test_safe_pickle import python2_dumps
from training.datasets import checks, convert, registry, store

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data")


def errors(findings: list[checks.Finding]) -> list[checks.Finding]:
    return [f for f in findings if f.level == "error"]


# --- Planetoid: synthetic ind.* pickles -> .npz -------------------------------------------------


def write_planetoid(folder: Path, name: str, protocol: int | str) -> None:
    """A tiny graph in the upstream layout: allx/ally rows are nodes 0..3, tx/ty rows are nodes
    7 and 6 (test.index, unsorted), nodes 4 and 5 have no row (like Citeseer's placeholders)."""
    allx = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=np.float32))
    ally = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], dtype=np.int32)
    tx = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 1]], dtype=np.float32))
    ty = np.array([[0, 1], [1, 0]], dtype=np.int32)
    graph: defaultdict[int, list[int]] = defaultdict(list)
    graph.update({0: [1, 1, 0], 1: [0], 2: [3], 3: [2], 4: [], 5: [], 6: [7], 7: [6, 0]})
    parts = {"x": allx[:2], "y": ally[:2], "allx": allx, "ally": ally, "tx": tx, "ty": ty}
    for part, obj in {**parts, "graph": graph}.items():
        data = python2_dumps(obj) if protocol == "python2" else pickle.dumps(obj, protocol=protocol)  # type: ignore[arg-type]
        (folder / f"ind.{name}.{part}").write_bytes(data)
    (folder / f"ind.{name}.test.index").write_text("7\n6\n")


@pytest.mark.parametrize("protocol", [0, 2, "python2"])
def test_planetoid_converter_on_synthetic_pickles(tmp_path: Path, protocol: int | str) -> None:
    write_planetoid(tmp_path, "tiny", protocol)
    out = tmp_path / "out"
    convert.convert_planetoid(tmp_path, out, names=("tiny",), val_size=1)
    with np.load(out / "tiny.npz", allow_pickle=False) as raw:
        a = {k: raw[k] for k in raw.files}
    assert set(a) == set(checks.PLANETOID_KEYS)
    features = sp.csr_matrix(
        (a["features_data"], a["features_indices"], a["features_indptr"]),
        shape=tuple(a["features_shape"]),
    ).toarray()
    assert features.shape == (8, 3) and features.dtype == np.float32
    np.testing.assert_array_equal(features[3], [1, 1, 0])
    np.testing.assert_array_equal(features[7], [0, 1, 1])  # tx row 0 -> test.index[0] = 7
    np.testing.assert_array_equal(features[6], [1, 0, 1])
    np.testing.assert_array_equal(features[4:6], 0)  # no row upstream: zero features
    np.testing.assert_array_equal(a["labels"], [0, 1, 0, 1, -1, -1, 0, 1])  # ty row 0 -> node 7
    assert a["edges_directed_listing"].tolist() == [
        [0, 1], [0, 1], [0, 0], [1, 0], [2, 3], [3, 2], [6, 7], [7, 6], [7, 0],
    ]  # fmt: skip
    assert a["edges_undirected"].tolist() == [[0, 1], [0, 7], [2, 3], [6, 7]]
    assert a["idx_train"].tolist() == [0, 1]
    assert a["idx_val"].tolist() == [2]
    assert a["idx_test"].tolist() == [6, 7]
    assert all(a[k].dtype == np.int64 for k in checks.PLANETOID_KEYS if k != "features_data")
    assert errors(checks.planetoid_npz(out / "tiny.npz", None, "tiny.npz")) == []


def test_planetoid_converter_refuses_a_malicious_pickle(tmp_path: Path) -> None:
    import os

    write_planetoid(tmp_path, "tiny", 2)

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return os.system, (f"touch {tmp_path / 'pwned'}",)

    (tmp_path / "ind.tiny.graph").write_bytes(pickle.dumps(Evil(), protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="os"):
        convert.convert_planetoid(tmp_path, tmp_path / "out", names=("tiny",), val_size=1)
    assert not (tmp_path / "pwned").exists()


def test_planetoid_structure_on_the_shared_npz() -> None:
    findings = checks.planetoid(SHARED / "planetoid")
    assert errors(findings) == []
    oks = {f.path for f in findings if f.level == "ok"}
    assert {"cora.npz", "citeseer.npz", "pubmed_partial.npz"} <= oks
    assert [f.path for f in findings if f.level == "gap"] == ["pubmed_partial.npz"]  # partial


def test_planetoid_structure_catches_wrong_counts(tmp_path: Path) -> None:
    with np.load(SHARED / "planetoid" / "cora.npz", allow_pickle=False) as raw:
        a = {k: raw[k] for k in raw.files}
    a["idx_val"] = a["idx_val"][:-1]
    np.savez_compressed(tmp_path / "cora.npz", **a)
    found = errors(checks.planetoid(tmp_path))
    assert [f.message for f in found] == [
        "train/val/test: (140, 499, 1000), expected (140, 500, 1000)"
    ]


# --- Multi30k: .gz -> text ------------------------------------------------------------------------


def test_multi30k_converter_on_gz_slices(tmp_path: Path) -> None:
    downloads, out = tmp_path / "dl", tmp_path / "out"
    downloads.mkdir()
    expected = {}
    for lang in ("en", "de"):
        lines = (SHARED / "multi30k" / f"val.{lang}").read_bytes().splitlines(keepends=True)[:50]
        expected[f"val.{lang}"] = b"".join(lines)
        (downloads / f"val.{lang}.gz").write_bytes(gzip.compress(expected[f"val.{lang}"]))
    convert.convert_multi30k(downloads, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == expected


def test_gunzip_refuses_a_bomb(tmp_path: Path) -> None:
    (tmp_path / "bomb.gz").write_bytes(gzip.compress(b"\0" * 100_000))
    with pytest.raises(ValueError, match="expands"):
        convert.gunzip(tmp_path / "bomb.gz", tmp_path / "bomb", max_bytes=1000)


def test_multi30k_fetch_from_placed_gz_files_matches_the_pinned_text(tmp_path: Path) -> None:
    """The offline path: upstream .gz files placed in .downloads/ are converted without network
    and the decompressed text matches the pinned SHA-256 of ../shared/data/multi30k."""
    ds = registry.get("multi30k")
    downloads = tmp_path / store.DOWNLOADS / "multi30k"
    downloads.mkdir(parents=True)
    for source in ds.sources:
        text = (SHARED / "multi30k" / source.name.removesuffix(".gz")).read_bytes()
        (downloads / source.name).write_bytes(gzip.compress(text, compresslevel=1))
    store.fetch(ds, tmp_path, accept_licence=True, allow_download=False)
    assert store.status(ds, tmp_path) == "present"
    assert errors(store.verify(ds, tmp_path / "multi30k")) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["multi30k"]  # no leftovers


# --- copied datasets: upstream names -> layout ----------------------------------------------------


@pytest.mark.parametrize("name", ["sick", "msrp", "msrvid", "ag_news", "babi"])
def test_copied_datasets_from_placed_upstream_files(tmp_path: Path, name: str) -> None:
    """Upstream files (by their download names) placed for an offline fetch become the layout,
    byte-identical to ../shared/data (SHA-256 checked on the download and again after)."""
    ds = registry.get(name)
    downloads = tmp_path / store.DOWNLOADS / name
    for source in ds.sources:
        assert source.target is not None
        local = SHARED / name / source.target
        if local.exists():
            (downloads / source.name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local, downloads / source.name)
    store.fetch(ds, tmp_path, accept_licence=True, allow_download=False)
    assert errors(store.verify(ds, tmp_path / name)) == []
    for output in ds.outputs:
        if (SHARED / name / output.path).exists():
            assert (tmp_path / name / output.path).read_bytes() == (SHARED / name / output.path).read_bytes()  # fmt: skip


# --- WikiQA: per-row ids -> grouped ---------------------------------------------------------------


def test_wikiqa_train_regrouping() -> None:
    upstream = [
        "QuestionID\tQuestion\tSentenceID\tSentence\tLabel\n",
        "Q1\thow are glacier caves formed?\tS1\tA partly submerged glacier cave .\t0\n",
        "Q2\thow did apollo creed die\tS2\tHe was played by Carl Weathers .\t0\n",
        'Q3\thow are glacier caves formed?\tS3\t"A glacier cave is a cave, formed."\t1\r\n',
        "Q4\twhat is x\tD9\tX (title)\tD9-0\tX is a letter .\t1\n",  # the 7-column layout
        "\n",
    ]
    assert convert.regroup_wikiqa_train(upstream) == [
        "QuestionID\tQuestion\tSentence\tLabel",
        "TQ0\thow are glacier caves formed?\tA partly submerged glacier cave .\t0",
        'TQ0\thow are glacier caves formed?\t"A glacier cave is a cave, formed."\t1',
        "TQ1\thow did apollo creed die\tHe was played by Carl Weathers .\t0",
        "TQ2\twhat is x\tX is a letter .\t1",
    ]
    with pytest.raises(ValueError, match="3 columns"):
        convert.regroup_wikiqa_train(["a\tb\tc\n"])


def test_wikiqa_regrouping_is_idempotent_on_the_shared_train_file(tmp_path: Path) -> None:
    """Re-grouping the converted file (rewritten in the 5-column upstream layout) gives it back."""
    rows = (SHARED / "wikiqa" / "WikiQA-train.tsv").read_text(encoding="utf-8").splitlines()[1:]
    upstream = ["QuestionID\tQuestion\tSentenceID\tSentence\tLabel"] + [
        f"Q{i}\t{q}\tS{i}\t{s}\t{label}" for i, (_, q, s, label) in enumerate(r.split("\t") for r in rows)
    ]  # fmt: skip
    (tmp_path / "WikiQA-train.upstream.tsv").write_text(
        "\n".join(upstream) + "\n", encoding="utf-8"
    )
    convert.convert_wikiqa(tmp_path, tmp_path)
    assert (tmp_path / "WikiQA-train.tsv").read_bytes() == (SHARED / "wikiqa" / "WikiQA-train.tsv").read_bytes()  # fmt: skip


# --- every dataset in ../shared/data passes its checks ----------------------------------------------


@pytest.mark.parametrize(
    "name", [n for n in registry.names() if registry.get(n).kind != "generated"]
)
def test_shared_data_passes_every_check(name: str) -> None:
    ds = registry.get(name)
    assert store.status(ds, SHARED) == "present"
    assert errors(store.verify(ds, SHARED / name)) == []


def test_known_gaps_are_reported_not_failed() -> None:
    gaps = {
        (name, f.path)
        for name in ("planetoid", "babi", "wikiqa")
        for f in store.verify(registry.get(name), SHARED / name)
        if f.level == "gap"
    }
    assert ("babi", "en-10k/qa3_three-supporting-facts_train.txt") in gaps
    assert ("planetoid", "pubmed_partial.npz") in gaps
    assert ("wikiqa", "") in gaps  # no dev split


def test_structure_check_catches_a_wrong_count(tmp_path: Path) -> None:
    lines = (SHARED / "sick" / "SICK_trial.txt").read_text(encoding="utf-8-sig").splitlines()
    (tmp_path / "SICK_trial.txt").write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    assert [f.message for f in errors(checks.sick(tmp_path))][0] == "pairs: 499, expected 500"
