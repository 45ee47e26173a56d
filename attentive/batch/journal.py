"""The job's committed state, and the fingerprint that tells whether a rerun is the same job.

The journal is a small JSON file replaced atomically (temporary file, fsync, rename, fsync of the
folder). It is only written after the output and errors files were fsynced, so what it records
is always on disk; anything past it in those files is an uncommitted tail that a rerun truncates.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

VERSION = 1


class JournalMismatch(Exception):
    """The journal belongs to another job (other arguments or another input)."""


@dataclass
class State:
    job: str
    total: int
    rows: int = 0  # rows committed (written to the output or the errors file)
    output_bytes: int = 0
    errors_bytes: int = 0
    errors: int = 0
    complete: bool = False
    version: int = VERSION


def fingerprint(arguments: dict[str, Any], input_path: Path) -> str:
    """SHA-256 of the arguments that decide the output (canonical JSON) and of the input's bytes."""
    digest = hashlib.sha256()
    digest.update(json.dumps(arguments, sort_keys=True, separators=(",", ":")).encode())
    digest.update(b"\0")
    with input_path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def load(path: Path, job: str) -> State | None:
    """The committed state of job ``job``, None when there is no journal."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        state = State(**data)
    except (ValueError, TypeError) as error:
        raise JournalMismatch(f"journal {path} is unreadable ({error})") from None
    if state.version != VERSION or state.job != job:
        raise JournalMismatch(
            f"journal {path} belongs to another job (different arguments or input); rerun with "
            "--restart to start over, or choose another --output"
        )
    return state


def commit(path: Path, state: State) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(asdict(state), f, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    fsync_path(path.parent)


def fsync_path(path: Path) -> None:
    """fsync a file or a folder (a folder: so a rename in it is on disk)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
