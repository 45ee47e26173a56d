"""The data directory as a cache and an offline mirror: status, verify, fetch, ensure.

``<data>/<name>/`` holds a dataset in the loaders' layout. When it is there (a development
machine's ``../shared/data``, a folder the user copied, or an earlier fetch), nothing is
downloaded. Otherwise :func:`fetch` downloads the registry's sources into
``<data>/.downloads/<name>/`` (verified; files the user placed there by hand are used after the
same check, so no network is needed), converts them into a fresh folder under
``<data>/.staging/``, checks the result, and only then renames it to ``<data>/<name>``: a
dataset folder is either complete and verified or absent, never half-written.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

from attentive.settings import DataSettings
from training.datasets import archive, convert, mirror
from training.datasets.checks import Finding
from training.datasets.download import DownloadError, download, sha256_file, unreachable_hosts
from training.datasets.registry import DATASETS, Dataset, Output, get

DOWNLOADS = ".downloads"
STAGING = ".staging"
Status = Literal["present", "incomplete", "missing", "generated"]
TRUE = ("1", "true", "yes", "all", "on")


class FetchError(RuntimeError):
    pass


class LicenceNotAccepted(FetchError):
    pass


def log(message: str) -> None:
    print(f"[data] {message}", file=sys.stderr, flush=True)


def offline() -> bool:
    """``ATTENTIVE_OFFLINE=1``: never download; say what is missing instead."""
    return DataSettings().offline


# --- what is there ------------------------------------------------------------------------------


def missing_outputs(ds: Dataset, folder: Path) -> list[Output]:
    return [o for o in ds.required if not (folder / o.path).is_file()]


def status(ds: Dataset, data_dir: Path) -> Status:
    if ds.kind == "generated":
        return "generated"
    folder = Path(data_dir) / ds.name
    if not folder.is_dir():
        return "missing"
    return "incomplete" if missing_outputs(ds, folder) else "present"


def verify(ds: Dataset, folder: Path) -> list[Finding]:
    """Every check of ``folder`` against the registry: required files, pinned SHA-256s, the
    structural check, and the documented gaps (``gap`` findings, never failures)."""
    if ds.kind == "generated":
        return ds.structure(folder) if ds.structure else []
    if not folder.is_dir():
        return [Finding("error", "", f"{folder} does not exist")]
    findings: list[Finding] = []
    for output in ds.outputs:
        path = folder / output.path
        if not path.is_file():
            if output.optional:
                findings.append(Finding("gap", output.path, output.note or "absent (optional)"))
            else:
                findings.append(Finding("error", output.path, "missing"))
            continue
        if output.sha256 is not None:
            actual = sha256_file(path)
            if actual != output.sha256:
                findings.append(
                    Finding(
                        "error",
                        output.path,
                        f"SHA-256 {actual[:16]}... != pinned {output.sha256[:16]}...",
                    )  # fmt: skip
                )
    if ds.structure is not None:
        findings += ds.structure(folder)
    findings += [Finding("gap", "", gap) for gap in ds.gaps]
    return findings


# --- licences -----------------------------------------------------------------------------------


def licence_notice(ds: Dataset) -> str:
    lines = [f"{ds.name}: {ds.title}", f"  licence: {ds.licence}"]
    if ds.licence_url:
        lines.append(f"  terms:   {ds.licence_url}")
    if ds.licence_terms:
        lines.append(f"  {ds.licence_terms}")
    lines.append(f"  cite:    {ds.citation}")
    return "\n".join(lines)


def licence_accepted(
    ds: Dataset, accept: bool | None = None, ask: Callable[[str], str] | None = None
) -> bool:
    """A non-commercial dataset is fetched only once its terms are accepted: ``accept=True``
    (``--accept-licence``), ``ATTENTIVE_ACCEPT_LICENCES=all`` or a comma list of names, or a
    "yes" at the prompt when stdin is a terminal."""
    if not ds.non_commercial or accept:
        return True
    names = {t.strip().lower() for t in DataSettings().accept_licences.split(",")}
    if names & set(TRUE) or ds.name in names:
        return True
    if accept is False:
        return False
    if ask is None and sys.stdin is not None and sys.stdin.isatty():
        ask = input
    if ask is None:
        return False
    answer = ask(f"Use {ds.name} under these terms (non-commercial research only)? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


# --- fetch --------------------------------------------------------------------------------------


def _remove_if_empty(folder: Path) -> None:
    # not empty (another fetch, or downloads kept for a resume) or already gone: leave it
    with contextlib.suppress(OSError):
        folder.rmdir()


def _install(staging: Path, target: Path) -> None:
    """Rename the verified staging folder into place (replacing an old one only after)."""
    if not target.exists():
        try:
            os.rename(staging, target)
            return
        except OSError:
            if not target.exists():
                raise
            return  # another fetch installed it first; ours is discarded
    old = Path(tempfile.mkdtemp(prefix=f"{target.name}-old-", dir=staging.parent))
    os.rename(target, old / target.name)
    os.rename(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def _obtain(
    ds: Dataset, downloads: Path, *, allow_download: bool, progress: bool | None, **kwargs: float
) -> None:
    absent: list[str] = []
    try:
        mirrors = mirror.bases()
    except ValueError as err:
        raise FetchError(str(err)) from err
    for source in ds.sources:
        dest = downloads / source.name
        if dest.is_file():  # an earlier run's, or placed by hand for an offline machine
            if source.sha256 is None or sha256_file(dest) == source.sha256:
                continue
            log(f"{ds.name}: {dest} does not match its pinned SHA-256; removed")
            dest.unlink()
        if not allow_download:
            if not source.optional:
                absent.append(source.name)
            continue
        try:
            download(
                mirror.with_mirrors(source.urls, mirrors),
                dest,
                sha256=source.sha256,
                progress=progress,
                **kwargs,  # type: ignore[arg-type]
            )
        except DownloadError as err:
            if source.optional:
                log(f"{ds.name}: optional {source.name} not fetched ({err})")
                continue
            raise FetchError(f"{ds.name}: could not download {source.name}: {err}") from err
    if absent:
        more = f" and {len(absent) - 3} more" if len(absent) > 3 else ""
        raise FetchError(
            f"{ds.name}: downloads are off (ATTENTIVE_OFFLINE) and {downloads} lacks "
            f"{', '.join(absent[:3])}{more}"
        )


def _convert(ds: Dataset, downloads: Path, staging: Path) -> None:
    for source in ds.sources:
        path = downloads / source.name
        if not path.is_file():
            continue  # an optional source that could not be fetched
        if source.unpack:
            archive.extract(path, staging)
        elif source.target:
            convert.copy_file(path, staging / source.target)
    if ds.converter is not None:
        ds.converter(downloads, staging)


def fetch(
    ds: Dataset,
    data_dir: Path,
    *,
    force: bool = False,
    accept_licence: bool | None = None,
    ask: Callable[[str], str] | None = None,
    keep_downloads: bool = False,
    progress: bool | None = None,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 1.0,
    allow_download: bool = True,
    notice: bool = True,
) -> Path:
    """Make ``<data_dir>/<name>`` present: download, verify, convert, check, rename.

    With ``allow_download=False`` only files already in ``<data>/.downloads/<name>/`` are used.
    ``notice=False`` skips printing the licence terms (for a caller that just showed them).
    """
    data_dir = Path(data_dir)
    target = data_dir / ds.name
    if ds.kind == "generated":
        log(f"{ds.name}: generated (seeded), nothing to fetch")
        return target
    state = status(ds, data_dir)
    if state == "present" and not force:
        log(f"{ds.name}: present in {target}")
        return target
    if state == "incomplete" and not force:
        lacking = ", ".join(o.path for o in missing_outputs(ds, target)[:5])
        raise FetchError(
            f"{ds.name}: {target} exists but lacks {lacking}; complete it, or replace it with "
            f"`attentive data fetch --force {ds.name}`"
        )
    downloads = data_dir / DOWNLOADS / ds.name
    if not allow_download:
        absent = [s.name for s in ds.sources if not (s.optional or (downloads / s.name).is_file())]
        if absent:
            more = f" and {len(absent) - 3} more" if len(absent) > 3 else ""
            raise FetchError(
                f"{ds.name}: absent, downloads are off (ATTENTIVE_OFFLINE) and {downloads} "
                f"lacks {', '.join(absent[:3])}{more}"
            )
    if notice:
        log(licence_notice(ds))
    if not licence_accepted(ds, accept_licence, ask):
        raise LicenceNotAccepted(
            f"{ds.name}: its licence ({ds.licence}) was not accepted; run "
            f"`attentive data fetch {ds.name}` in a terminal to read and accept it, or pass "
            f"--accept-licence / set ATTENTIVE_ACCEPT_LICENCES={ds.name}"
        )
    downloads.mkdir(parents=True, exist_ok=True)
    _obtain(
        ds,
        downloads,
        allow_download=allow_download,
        progress=progress,
        timeout=timeout,
        retries=retries,
        backoff=backoff,
    )
    (data_dir / STAGING).mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{ds.name}-", dir=data_dir / STAGING))
    try:
        try:
            _convert(ds, downloads, staging)
        except (
            ValueError,
            TypeError,
            LookupError,
            EOFError,
            pickle.UnpicklingError,
            zlib.error,
        ) as err:
            raise FetchError(  # bytes that passed their download checks but not the converter
                f"{ds.name}: the downloaded files do not convert ({type(err).__name__}: {err}); "
                f"remove {downloads} and fetch again, or check the mirror they came from"
            ) from err
        errors = [f for f in verify(ds, staging) if f.level == "error"]
        if errors:
            detail = "; ".join(f"{f.path}: {f.message}" for f in errors[:5])
            raise FetchError(f"{ds.name}: the converted files fail their checks: {detail}")
        _install(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_if_empty(data_dir / STAGING)
    if not keep_downloads:
        shutil.rmtree(downloads, ignore_errors=True)
        _remove_if_empty(data_dir / DOWNLOADS)
    log(f"{ds.name}: installed in {target} ({ds.guard})")
    return target


# --- ensure (what `attentive build` calls) ------------------------------------------------------


def placement(ds: Dataset, data_dir: Path, limit: int = 6) -> str:
    """How to make ``ds`` present by hand on a machine without network."""
    files = [o.path for o in ds.required]
    shown = ", ".join(files[:limit]) + (f", ... ({len(files)} files)" if len(files) > limit else "")
    sources = [s for s in ds.sources if not s.optional]
    names = ", ".join(s.name for s in sources[:limit]) + (", ..." if len(sources) > limit else "")
    return (
        f"    by hand: copy a folder in the loaders' layout to {Path(data_dir) / ds.name}/ "
        f"({shown});\n"
        f"      or put the upstream files ({names}; `attentive data info {ds.name}` lists their "
        f"URLs) in {Path(data_dir) / DOWNLOADS / ds.name}/ and run "
        f"`attentive data fetch {ds.name}`: placed files are verified and used, nothing else is "
        "needed;\n"
        f"      or from a mirror: on a machine with network run `attentive data mirror DIR "
        f"{ds.name}`, then here set ATTENTIVE_DATA_MIRRORS=DIR (or the URL serving it)"
    )


class DatasetsMissing(RuntimeError):
    """Datasets a build needs are absent and could not be fetched; says how to get each."""

    def __init__(self, missing: Iterable[Dataset], data_dir: Path, reasons: dict[str, str]):
        self.names = [ds.name for ds in missing]
        self.data_dir = Path(data_dir)
        lines = [f"missing datasets in {self.data_dir} (ATTENTIVE_DATA): {', '.join(self.names)}"]
        if hosts := unreachable_hosts():
            lines.append(
                f"  no answer from {', '.join(hosts)}: no network here? Fetch from a mirror "
                "(ATTENTIVE_DATA_MIRRORS) or place the files by hand, as below"
            )
        for ds in missing:
            lines += [
                f"  {ds.name}: {ds.title} [{ds.licence}]",
                f"    why: {reasons.get(ds.name, 'absent')}",
                f"    with network: attentive data fetch {ds.name}",
                placement(ds, data_dir),
            ]
        super().__init__("\n".join(lines))


def ensure_datasets(
    names: Iterable[str],
    data_dir: Path,
    *,
    allow_download: bool | None = None,
    accept_licences: bool | None = None,
    progress: bool | None = None,
) -> list[str]:
    """Make every named dataset present in ``data_dir``; returns the names fetched.

    Present datasets cost a few ``stat`` calls and nothing is downloaded. Missing ones are
    fetched unless ``allow_download`` is false (default: not ``ATTENTIVE_OFFLINE``); whatever is
    still missing raises :class:`DatasetsMissing` naming each dataset, the fetch command and
    where to place the files by hand.
    """
    data_dir = Path(data_dir)
    missing: list[Dataset] = []
    for name in dict.fromkeys(names):
        if name not in DATASETS:
            if (data_dir / name).is_dir():
                continue  # a folder the registry does not know yet: the loader will judge it
            raise KeyError(
                f"dataset {name!r} is not in training/datasets/registry.py and "
                f"{data_dir / name} does not exist"
            )
        ds = get(name)
        if status(ds, data_dir) not in ("present", "generated"):
            missing.append(ds)
    if not missing:
        return []
    if allow_download is None:
        allow_download = not offline()
    reasons: dict[str, str] = {}
    for ds in missing:
        try:
            fetch(
                ds,
                data_dir,
                accept_licence=accept_licences,
                progress=progress,
                allow_download=allow_download,
            )
        except (FetchError, OSError) as err:
            reasons[ds.name] = str(err)
    if reasons:
        raise DatasetsMissing([ds for ds in missing if ds.name in reasons], data_dir, reasons)
    return [ds.name for ds in missing]
