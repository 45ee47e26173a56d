"""Safe extraction of downloaded tar and zip archives.

Every member is checked before anything is written: its name must be a relative path that stays
inside the target folder (no absolute paths, drive letters, ``..`` components or backslash
tricks); only regular files and folders are allowed (no symlinks, hard links, devices or FIFOs);
the total size is capped. A refused archive raises :class:`UnsafeArchiveError` and writes nothing.
"""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

MAX_TOTAL_BYTES = 2 * 1024**3  # what one dataset archive may expand to


class UnsafeArchiveError(ValueError):
    pass


def safe_member_path(name: str, target: Path) -> Path:
    """Where member ``name`` goes under ``target``; raises if it could land outside."""
    if not name or "\x00" in name:
        raise UnsafeArchiveError(f"bad member name {name!r}")
    posix = name.replace("\\", "/")
    path = PurePosixPath(posix)
    if path.is_absolute() or posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        raise UnsafeArchiveError(f"refusing absolute member path {name!r}")
    if any(part == ".." for part in path.parts):
        raise UnsafeArchiveError(f"refusing member path outside the target: {name!r}")
    root = target.resolve()
    dest = (root / Path(*path.parts)).resolve() if path.parts else root
    if dest != root and root not in dest.parents:
        raise UnsafeArchiveError(f"refusing member path outside the target: {name!r}")
    return dest


def _check_total(total: int, limit: int) -> None:
    if total > limit:
        raise UnsafeArchiveError(f"archive expands to more than {limit} bytes")


def extract_tar(archive: Path, target: Path, *, max_bytes: int = MAX_TOTAL_BYTES) -> list[Path]:
    written: list[Path] = []
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        total = 0
        plan: list[tuple[tarfile.TarInfo, Path]] = []
        for member in members:
            dest = safe_member_path(member.name, target)
            if not (member.isfile() or member.isdir()):
                raise UnsafeArchiveError(
                    f"refusing {member.name!r}: only regular files and folders are allowed"
                )
            total += max(member.size, 0)
            _check_total(total, max_bytes)
            plan.append((member, dest))
        target.mkdir(parents=True, exist_ok=True)
        for member, dest in plan:
            if member.isdir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            if source is None:
                raise UnsafeArchiveError(f"cannot read {member.name!r}")
            with source, open(dest, "wb") as out:
                shutil.copyfileobj(source, out)
            written.append(dest)
    return written


def extract_zip(archive: Path, target: Path, *, max_bytes: int = MAX_TOTAL_BYTES) -> list[Path]:
    written: list[Path] = []
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        total = 0
        plan: list[tuple[zipfile.ZipInfo, Path]] = []
        for info in infos:
            dest = safe_member_path(info.filename, target)
            mode = (info.external_attr >> 16) & 0o170000
            if mode and mode not in (0o100000, 0o040000):  # symlinks and other special files
                raise UnsafeArchiveError(f"refusing {info.filename!r}: not a regular file")
            total += info.file_size
            _check_total(total, max_bytes)
            plan.append((info, dest))
        target.mkdir(parents=True, exist_ok=True)
        for info, dest in plan:
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as source, open(dest, "wb") as out:
                copied = 0
                while chunk := source.read(1 << 20):
                    copied += len(chunk)
                    if copied > info.file_size:
                        raise UnsafeArchiveError(f"{info.filename!r} is larger than declared")
                    out.write(chunk)
            written.append(dest)
    return written


def extract(archive: Path, target: Path, *, max_bytes: int = MAX_TOTAL_BYTES) -> list[Path]:
    """Extract a ``.zip`` or any tar (``.tar``, ``.tar.gz``, ``.tgz`` ...) into ``target``."""
    if zipfile.is_zipfile(archive):
        return extract_zip(archive, target, max_bytes=max_bytes)
    if tarfile.is_tarfile(archive):
        return extract_tar(archive, target, max_bytes=max_bytes)
    raise UnsafeArchiveError(f"{archive.name}: not a tar or zip archive")
