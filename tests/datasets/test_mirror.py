"""Mirrors: ATTENTIVE_DATA_MIRRORS in front of GitHub, `attentive data mirror`, and every
dataset fetched end to end from a mirror of upstream files made from ../shared/data, on a
machine where no name but loopback resolves."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from attentive.cli import main
from tests.datasets.conftest import SHARED
from tests.datasets.upstream import write_mirror
from training.datasets import mirror, registry

needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data")
PIN = registry.PLANETOID_COMMIT


def test_mirror_path_of_both_github_url_forms() -> None:
    raw = f"https://raw.githubusercontent.com/kimiyoung/planetoid/{PIN}/data/ind.cora.x"
    assert mirror.mirror_path(raw) == f"kimiyoung/planetoid/{PIN}/data/ind.cora.x"
    abbreviated = "https://github.com/castorini/MP-CNN-Torch/raw/68cb72f6/data/msrvid/MSRVID_dev"
    assert (
        mirror.mirror_path(abbreviated) == "castorini/MP-CNN-Torch/68cb72f6/data/msrvid/MSRVID_dev"
    )
    assert mirror.mirror_path("https://example.org/a/b/c/d") is None


def test_every_registry_source_has_a_mirror_path() -> None:
    for ds in registry.DATASETS.values():
        for source in ds.sources:
            assert mirror.mirror_path(source.urls[0]), (ds.name, source.urls[0])


def test_bases_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(mirror.ENV, f" http://10.0.0.5:8000/data/ , {tmp_path}")
    assert mirror.bases() == ["http://10.0.0.5:8000/data", tmp_path.as_uri()]
    monkeypatch.setenv(mirror.ENV, "")
    assert mirror.bases() == []
    with pytest.raises(ValueError, match="ATTENTIVE_DATA_MIRRORS: 'ftp://host' is not"):
        mirror.bases("ftp://host")


def test_mirrors_come_before_the_pinned_url_and_keep_its_commit() -> None:
    source = registry.get("multi30k").sources[0]
    urls = mirror.with_mirrors(source.urls, ["http://m1", "file:///srv/m2"])
    path = f"multi30k/dataset/{registry.MULTI30K_COMMIT}/data/task1/raw/train.en.gz"
    assert urls == (f"http://m1/{path}", f"file:///srv/m2/{path}", *source.urls)
    assert mirror.with_mirrors(source.urls, []) == source.urls


# --- end to end, from a mirror made of ../shared/data ----------------------------------------


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """Every dataset's upstream files in the mirror layout, and those the shared copy lacks."""
    folder = tmp_path_factory.mktemp("mirror")
    return folder, write_mirror(SHARED, folder)


@pytest.fixture
def over_http(
    upstream: tuple[Path, list[str]],
    static_server: Callable[[Path], str],
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """The upstream mirror served on loopback and named in ATTENTIVE_DATA_MIRRORS."""
    monkeypatch.setenv(mirror.ENV, static_server(upstream[0]))
    return upstream[0]


def assert_same_as_shared(fetched: Path, name: str) -> int:
    """Every file of the shared copy that the registry lists is in ``fetched``, identical (the
    rebuilt .npz: identical arrays). Returns how many files were compared."""
    ds, compared = registry.get(name), 0
    for output in ds.outputs:
        theirs, ours = SHARED / name / output.path, fetched / name / output.path
        if not theirs.is_file() or (output.optional and not ours.is_file()):
            continue  # a gap of the shared copy, or an optional file not fetched (Pubmed)
        if theirs.suffix == ".npz":
            with np.load(theirs) as a, np.load(ours) as b:
                assert sorted(a.files) == sorted(b.files)
                for key in a.files:
                    assert a[key].dtype == b[key].dtype, (output.path, key)
                    np.testing.assert_array_equal(a[key], b[key], err_msg=f"{output.path}:{key}")
        else:
            assert ours.read_bytes() == theirs.read_bytes(), output.path
        compared += 1
    return compared


@needs_shared
def test_every_dataset_fetches_from_an_http_mirror_without_internet(
    upstream: tuple[Path, list[str]],
    over_http: Path,
    internet_refused: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert upstream[1] == ["babi/en-10k/qa3_three-supporting-facts_train.txt"]  # optional
    data = tmp_path / "data"
    assert main(["data", "fetch", "--data", str(data), "--accept-licence"]) == 0
    downloaded = [d.name for d in registry.DATASETS.values() if d.kind == "download"]
    assert sorted(p.name for p in data.iterdir()) == sorted(downloaded)  # no .staging/.downloads
    for name in downloaded:
        assert assert_same_as_shared(data, name) >= len(registry.get(name).required)
    # only the file the mirror lacks went past it, and GitHub was looked up once, not per URL
    assert internet_refused == ["raw.githubusercontent.com"]
    assert (
        "optional en-10k/qa3_three-supporting-facts_train.txt not fetched"
        in capsys.readouterr().err
    )
    assert main(["data", "check", "--data", str(data)]) == 0


@needs_shared
def test_a_mirror_folder_serves_build_offline_of_github(
    upstream: tuple[Path, list[str]],
    internet_refused: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from training.datasets import store

    folder, _ = upstream
    monkeypatch.setenv(mirror.ENV, str(folder))  # a plain folder: a share or a copied disk
    data = tmp_path / "data"
    fetched = store.ensure_datasets(["planetoid", "msrvid", "digit_grids"], data)
    assert fetched == ["planetoid", "msrvid"]
    assert assert_same_as_shared(data, "planetoid") == 4  # cora, citeseer, LINQS cites + README
    assert assert_same_as_shared(data, "msrvid") == 2
    assert internet_refused == []  # the folder had everything


def test_without_network_or_mirror_the_message_names_the_mirror_route(
    tmp_path: Path, internet_refused: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.datasets import store

    monkeypatch.delenv(mirror.ENV, raising=False)
    with pytest.raises(store.DatasetsMissing) as err:
        store.ensure_datasets(["msrvid"], tmp_path, accept_licences=True)
    text = str(err.value)
    assert "Name or service not known" in text
    assert "no answer from github.com, raw.githubusercontent.com: no network here?" in text
    assert "attentive data mirror DIR msrvid" in text and "ATTENTIVE_DATA_MIRRORS" in text
    # msrvid's pin is abbreviated (github.com/<repo>/raw/...), its unpinned copy is on raw.
    assert internet_refused == ["github.com", "raw.githubusercontent.com"]


# --- attentive data mirror --------------------------------------------------------------------


@needs_shared
def test_mirror_command_copies_verifies_and_converts(
    over_http: Path,  # stands in for GitHub here
    internet_refused: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = over_http
    out = tmp_path / "out"
    assert main(["data", "mirror", str(out), "planetoid", "msrvid"]) == 0
    written = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert len(written) == 14 + 2 + 2 + 2  # Planetoid's pickles and indices, LINQS, MSRvid
    for relative in written:
        assert (out / relative).read_bytes() == (folder / relative).read_bytes()
    out_text = capsys.readouterr()
    assert "planetoid: mirrored in" in out_text.err and "and checked" in out_text.err
    assert f"ATTENTIVE_DATA_MIRRORS={out}" in out_text.out
    assert internet_refused == []


@needs_shared
def test_mirror_command_refuses_files_that_do_not_convert(
    upstream: tuple[Path, list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, _ = upstream
    source = tmp_path / "source"
    planetoid = Path("kimiyoung/planetoid") / PIN / "data"
    shutil.copytree(folder / planetoid, source / planetoid)
    shutil.copytree(folder / "Diego999", source / "Diego999")
    (source / planetoid / "ind.cora.test.index").write_text("1\n2\n")  # no SHA-256 guards it
    monkeypatch.setenv(mirror.ENV, str(source))
    assert main(["data", "mirror", str(tmp_path / "out"), "planetoid"]) == 1
    err = capsys.readouterr().err
    assert "planetoid: the mirrored files do not convert" in err


def test_mirror_command_asks_for_non_commercial_licences(
    tmp_path: Path, internet_refused: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "mirror", str(tmp_path / "out"), "sick"]) == 1  # stdin is no terminal
    assert "sick: licence not accepted (pass --accept-licence)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and internet_refused == []


# --- attentive build on a machine without ../shared/data ----------------------------------------


@needs_shared
def test_build_fetches_what_its_model_needs_from_the_mirror(
    over_http: Path,
    internet_refused: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data, repository = tmp_path / "data", tmp_path / "repository"
    args = ["--preset", "tiny", "--models", "gat", "--data", str(data)]
    args += ["--repository", str(repository), "--runs", str(tmp_path / "runs"), "--jobs", "1"]
    assert main(["build", *args]) == 0
    assert sorted(p.name for p in data.iterdir()) == ["planetoid"]  # what GAT reads, nothing else
    assert (repository / "gat" / "1" / "model.onnx").is_file()
    assert internet_refused == []
    assert "planetoid: installed in" in capsys.readouterr().err


def _build_args(tmp_path: Path, *models: str) -> list[str]:
    args = ["build", "--preset", "tiny", "--models", *models, "--data", str(tmp_path / "data")]
    return [*args, "--repository", str(tmp_path / "repository"), "--runs", str(tmp_path / "runs")]


def test_build_without_network_names_what_is_missing_and_builds_nothing(
    internet_refused: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_build_args(tmp_path, "sat-soft", "gat")) == 1
    err = capsys.readouterr().err
    assert "attentive build: missing datasets in" in err and ": planetoid" in err
    assert "attentive data mirror DIR planetoid" in err
    assert not (tmp_path / "repository").exists()


@needs_shared
def test_make_runs_build_skips_the_models_whose_data_is_missing(
    internet_refused: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What `make run` does without network: build what it can (SAT needs no download), name
    the rest; the server then serves what was built."""
    assert main([*_build_args(tmp_path, "gat", "sat-soft"), "--skip-missing-data"]) == 0
    err = capsys.readouterr().err
    assert ": planetoid" in err
    assert "skipping 1 models whose datasets are missing (gat); building the other 1" in err
    last = err.strip().splitlines()[-1]  # said again last, after the training logs
    assert last.startswith("attentive build: built 1 models; skipped gat for missing datasets")
    assert sorted(p.name for p in (tmp_path / "repository").iterdir()) == ["sat-soft"]
    assert main([*_build_args(tmp_path, "gat"), "--skip-missing-data"]) == 1  # nothing left


def test_a_bad_mirror_setting_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(mirror.ENV, "ftp://old-server/data")
    assert main(["data", "mirror", str(tmp_path / "out"), "msrvid"]) == 2
    assert "ATTENTIVE_DATA_MIRRORS: 'ftp://old-server/data' is not" in capsys.readouterr().err
    assert main(["data", "fetch", "--data", str(tmp_path / "data"), "msrvid"]) == 1
    assert "ATTENTIVE_DATA_MIRRORS: 'ftp://old-server/data' is not" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "data" / "msrvid").exists()
