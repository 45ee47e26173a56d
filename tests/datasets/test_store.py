"""fetch / ensure_datasets end to end against the loopback server with a registry entry made
here: verified, converted and renamed into place, or nothing left behind."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from tests.datasets.conftest import SHARED, Server, toy_dataset
from training.datasets import archive, registry, store
from training.datasets.checks import Finding
from training.datasets.download import ChecksumMismatch

FAST = {"timeout": 5.0, "retries": 1, "backoff": 0.0, "progress": False}
TEXT = b"one\ntwo\nthree\n"


def tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def three_lines(folder: Path) -> list[Finding]:
    lines = (folder / "lines.txt").read_text().count("\n") if (folder / "lines.txt").exists() else 3
    return [] if lines == 3 else [Finding("error", "lines.txt", f"lines: {lines}, expected 3")]


def toy(
    server: Server, *, text: bytes = TEXT, tar: bytes | None = None, **kw: object
) -> registry.Dataset:
    sha = hashlib.sha256(TEXT).hexdigest()
    sources = [registry.Source((server.add("lines.txt", text),), "lines.txt", "lines.txt", sha)]
    outputs = [registry.Output("lines.txt", "sha256-download", sha)]
    if tar is not None:
        sources.append(
            registry.Source((server.add("bundle.tar.gz", tar),), "bundle.tar.gz", unpack=True)
        )
        outputs.append(registry.Output("extra/a.txt", "structure"))
    fields = {"sources": tuple(sources), "outputs": tuple(outputs), "structure": three_lines}
    return toy_dataset(**{**fields, **kw})


def only(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_fetch_downloads_verifies_unpacks_and_installs(server: Server, tmp_path: Path) -> None:
    ds = toy(server, tar=tarball({"extra/a.txt": b"a"}))
    assert store.status(ds, tmp_path) == "missing"
    store.fetch(ds, tmp_path, **FAST)  # type: ignore[arg-type]
    assert store.status(ds, tmp_path) == "present"
    assert only(tmp_path) == ["toy", "toy/extra", "toy/extra/a.txt", "toy/lines.txt"]
    hits = server.hits
    store.fetch(ds, tmp_path, **FAST)  # type: ignore[arg-type]
    assert server.hits == hits  # present: nothing is downloaded again


def test_checksum_mismatch_installs_nothing(server: Server, tmp_path: Path) -> None:
    ds = toy(server, text=b"one\ntwo\nTHREE\n")
    with pytest.raises(store.FetchError) as err:
        store.fetch(ds, tmp_path, **FAST)  # type: ignore[arg-type]
    assert isinstance(err.value.__cause__, ChecksumMismatch)
    assert store.status(ds, tmp_path) == "missing"
    assert only(tmp_path) == [".downloads", ".downloads/toy"]  # no .part, no staging, no toy/


def test_failed_structure_check_installs_nothing(server: Server, tmp_path: Path) -> None:
    def never(folder: Path) -> list[Finding]:
        return [Finding("error", "lines.txt", "always wrong")]

    ds = toy(server, structure=never)
    with pytest.raises(store.FetchError, match="always wrong"):
        store.fetch(ds, tmp_path, **FAST)  # type: ignore[arg-type]
    assert not (tmp_path / "toy").exists()
    assert (
        not any((tmp_path / store.STAGING).glob("*"))
        if (tmp_path / store.STAGING).exists()
        else True
    )


def test_malicious_archive_is_refused_and_installs_nothing(server: Server, tmp_path: Path) -> None:
    ds = toy(server, tar=tarball({"extra/a.txt": b"a", "../../evil.txt": b"pwned"}))
    with pytest.raises(store.FetchError, match="UnsafeArchiveError: refusing member path") as err:
        store.fetch(ds, tmp_path, **FAST)  # type: ignore[arg-type]
    assert isinstance(err.value.__cause__, archive.UnsafeArchiveError)
    assert not (tmp_path / "toy").exists()
    assert not list(tmp_path.parent.glob("evil.txt")) and not list(tmp_path.rglob("evil.txt"))


def test_non_commercial_licence_must_be_accepted(server: Server, tmp_path: Path) -> None:
    ds = toy(server, non_commercial=True, licence="CC BY-NC 4.0", licence_terms="research only")
    with pytest.raises(store.LicenceNotAccepted, match="--accept-licence"):
        store.fetch(ds, tmp_path, **FAST)  # type: ignore[arg-type]
    assert server.hits == 0  # refused before anything was downloaded
    with pytest.raises(store.LicenceNotAccepted):
        store.fetch(ds, tmp_path, ask=lambda prompt: "n", **FAST)  # type: ignore[arg-type]
    prompts: list[str] = []
    store.fetch(ds, tmp_path, ask=lambda p: prompts.append(p) or "y", **FAST)  # type: ignore[arg-type,func-returns-value]
    assert "non-commercial" in prompts[0] and store.status(ds, tmp_path) == "present"


def test_licence_is_shown_before_fetching(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = toy(server, non_commercial=True, licence="CC BY-NC 4.0", licence_terms="research only")
    store.fetch(ds, tmp_path, accept_licence=True, **FAST)  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert "CC BY-NC 4.0" in err and "research only" in err


def test_licences_accepted_from_the_environment(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = toy(server, non_commercial=True)
    monkeypatch.setenv("ATTENTIVE_ACCEPT_LICENCES", "sick,toy")
    store.fetch(ds, tmp_path, **FAST)  # type: ignore[arg-type]
    assert store.status(ds, tmp_path) == "present"


def test_incomplete_folder_is_not_overwritten_without_force(server: Server, tmp_path: Path) -> None:
    ds = toy(server)
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "mine.txt").write_text("user data")
    assert store.status(ds, tmp_path) == "incomplete"
    with pytest.raises(store.FetchError, match="--force"):
        store.fetch(ds, tmp_path, **FAST)  # type: ignore[arg-type]
    store.fetch(ds, tmp_path, force=True, **FAST)  # type: ignore[arg-type]
    assert only(tmp_path / "toy") == ["lines.txt"]


def test_ensure_datasets_is_a_no_op_on_the_mirror(no_network: None) -> None:
    if not SHARED.is_dir():
        pytest.skip("needs ../shared/data")
    assert (
        store.ensure_datasets(["planetoid", "multi30k", "digit_grids", "planetoid"], SHARED) == []
    )


def test_ensure_datasets_offline_names_what_is_missing_and_how(
    tmp_path: Path, no_network: None
) -> None:
    with pytest.raises(store.DatasetsMissing) as err:
        store.ensure_datasets(["planetoid", "multi30k"], tmp_path, allow_download=False)
    message = str(err.value)
    assert err.value.names == ["planetoid", "multi30k"]
    for expected in (
        "attentive data fetch planetoid",
        "attentive data fetch multi30k",
        f"{tmp_path / 'multi30k'}/",
        f"{tmp_path / '.downloads' / 'planetoid'}/",
        "cora.npz",
        "ATTENTIVE_OFFLINE",
    ):
        assert expected in message
    assert not (tmp_path / "planetoid").exists() and not (tmp_path / "multi30k").exists()


def test_ensure_datasets_honours_attentive_offline(
    tmp_path: Path, no_network: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTENTIVE_OFFLINE", "1")
    with pytest.raises(store.DatasetsMissing, match="sick"):
        store.ensure_datasets(["sick"], tmp_path)


def test_ensure_datasets_reports_a_network_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.datasets.download import DownloadError

    def unreachable(urls: object, dest: Path, **kwargs: object) -> str:
        raise DownloadError(
            f"{dest.name}: <urlopen error [Errno -3] Temporary failure in name resolution>"
        )

    monkeypatch.setattr(store, "download", unreachable)
    with pytest.raises(store.DatasetsMissing) as err:
        store.ensure_datasets(["planetoid"], tmp_path)
    assert "could not download ind.cora.x" in str(err.value)
    assert "attentive data fetch planetoid" in str(err.value)
    assert not (tmp_path / "planetoid").exists()


def test_unknown_dataset_names(tmp_path: Path) -> None:
    (tmp_path / "custom").mkdir()
    assert store.ensure_datasets(["custom"], tmp_path) == []  # a folder the loader will judge
    with pytest.raises(KeyError, match="not in training/datasets/registry.py"):
        store.ensure_datasets(["nope"], tmp_path)
