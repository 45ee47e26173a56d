"""Audit the registry's sources: download every URL of every source (the pinned commit and each
unpinned copy, never a mirror from ``ATTENTIVE_DATA_MIRRORS``) and say what each one serves.

A fetch stops at the first URL that verifies, so it never learns whether the other URLs still
serve the same bytes, nor the SHA-256 of files no checksum pins yet. ``attentive data audit``
does: per URL, ``ok`` (matches the pin), ``mismatch``, ``unpinned`` (served; its SHA-256 is
reported so it can be pinned), ``differs`` (an unpinned file whose copies disagree), or the
error. Nothing is kept; it runs on a machine with network and writes a JSON report.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal

from training.datasets.download import DownloadError, download_url
from training.datasets.registry import Dataset, Source

Verdict = Literal["ok", "mismatch", "unpinned", "differs", "error"]


@dataclass(frozen=True)
class UrlReport:
    dataset: str
    source: str
    url: str
    pinned: bool  # the first URL: the commit the registry pins
    optional: bool
    verdict: Verdict
    sha256: str = ""
    detail: str = ""


def audit(
    datasets: Iterable[Dataset],
    *,
    log: Callable[[str], None] = lambda _: None,
    **download_options: Any,
) -> list[UrlReport]:
    """One :class:`UrlReport` per URL of every source of ``datasets``, in registry order."""
    reports: list[UrlReport] = []
    with tempfile.TemporaryDirectory(prefix="attentive-audit-") as scratch:
        dest = Path(scratch) / "download"
        for ds in datasets:
            found = [r for s in ds.sources for r in _source(ds, s, dest, download_options)]
            log(f"{ds.name}: {summary(found)}")
            reports += found
    return reports


def _source(ds: Dataset, source: Source, dest: Path, options: dict[str, Any]) -> list[UrlReport]:
    """Every URL of one source judged; copies of an unpinned file that disagree: ``differs``."""
    found = [_judge(ds, source, i, url, dest, options) for i, url in enumerate(source.urls)]
    if len({r.sha256 for r in found if r.verdict == "unpinned"}) > 1:
        found = [replace(r, verdict="differs") if r.verdict == "unpinned" else r for r in found]
    return found


def _judge(
    ds: Dataset, source: Source, index: int, url: str, dest: Path, options: dict[str, Any]
) -> UrlReport:
    report = partial(UrlReport, ds.name, source.name, url, index == 0, source.optional)
    try:
        digest = download_url(url, dest, sha256=None, **options)
    except DownloadError as err:
        return report("error", detail=str(err).removeprefix(f"{url}: "))
    finally:
        dest.unlink(missing_ok=True)  # nothing downloaded is kept
    if source.sha256 is None:
        return report("unpinned", digest)
    return report("ok" if digest == source.sha256 else "mismatch", digest)


def verified(reports: list[UrlReport]) -> dict[tuple[str, str], bool]:
    """(dataset, source) -> whether some URL served bytes that pass (or, unpinned, agree)."""
    out: dict[tuple[str, str], bool] = {}
    for r in reports:
        good = r.verdict in ("ok", "unpinned")
        out[(r.dataset, r.source)] = out.get((r.dataset, r.source), False) or good
    return out


def failures(reports: list[UrlReport]) -> list[tuple[str, str]]:
    """Required sources that no URL served correctly: a fetch of them would fail."""
    optional = {(r.dataset, r.source) for r in reports if r.optional}
    return [key for key, ok in verified(reports).items() if not ok and key not in optional]


def summary(reports: list[UrlReport]) -> str:
    counts = Counter(r.verdict for r in reports)
    return ", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items())) or "no sources"


def as_json(reports: list[UrlReport]) -> dict[str, Any]:
    return {
        "urls": [asdict(r) for r in reports],
        "failures": [f"{d}/{s}" for d, s in failures(reports)],
        "summary": summary(reports),
    }
