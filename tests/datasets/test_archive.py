"""Safe extraction: members that would land outside the target, absolute paths, links and
special files are refused before anything is written."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from training.datasets.archive import UnsafeArchiveError, extract, safe_member_path


def make_tar(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data)
    return path


def test_good_tar_and_zip_extract(tmp_path: Path) -> None:
    members = {"data/a.txt": b"a", "data/sub/b.txt": b"b"}
    for archive in (
        make_tar(tmp_path / "x.tar.gz", members),
        make_zip(tmp_path / "x.zip", members),
    ):
        target = tmp_path / f"out-{archive.name}"
        written = extract(archive, target)
        assert sorted(p.relative_to(target).as_posix() for p in written) == sorted(members)
        assert (target / "data/sub/b.txt").read_bytes() == b"b"


@pytest.mark.parametrize(
    "name", ["../evil.txt", "data/../../evil.txt", "/tmp/evil.txt", "C:/evil.txt", "..\\evil.txt"]
)
@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_paths_outside_the_target_are_refused(tmp_path: Path, name: str, kind: str) -> None:
    members = {"ok.txt": b"fine", name: b"pwned"}
    make = make_tar if kind == "tar" else make_zip
    archive = make(tmp_path / f"bad.{kind}", members)
    target = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError):
        extract(archive, target)
    assert not target.exists()  # refused before anything was written
    assert not (tmp_path / "evil.txt").exists()


def test_symlinks_are_refused(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "link.tar.gz", {"a.txt": b"a"}, links={"link": "/etc/passwd"})
    with pytest.raises(UnsafeArchiveError, match="regular files"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_size_cap(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "big.zip", {"big.bin": b"\0" * 10_000})
    with pytest.raises(UnsafeArchiveError, match="more than"):
        extract(archive, tmp_path / "out", max_bytes=1000)


def test_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "plain.txt"
    path.write_text("hello")
    with pytest.raises(UnsafeArchiveError, match="not a tar or zip"):
        extract(path, tmp_path / "out")


def test_member_path_inside(tmp_path: Path) -> None:
    assert safe_member_path("a/./b.txt", tmp_path) == (tmp_path / "a" / "b.txt").resolve()
