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
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from training.datasets.download import DownloadError, download_url
from training.datasets.registry import Dataset

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
        for ds in datasets:
            for source in ds.sources:
                found: list[UrlReport] = []
                for index, url in enumerate(source.urls):
                    dest = Path(scratch) / "download"
                    try:
                        digest = download_url(url, dest, sha256=None, **download_options)
                    except DownloadError as err:
                        verdict: Verdict = "error"
                        digest, detail = "", str(err).removeprefix(f"{url}: ")
                    else:
                        verdict = "unpinned" if source.sha256 is None else "ok"
                        if source.sha256 is not None and digest != source.sha256:
                            verdict = "mismatch"
                        detail = ""
                    finally:
                        dest.unlink(missing_ok=True)
                    found.append(
                        UrlReport(
                            ds.name,
                            source.name,
                            url,
                            index == 0,
                            source.optional,
                            verdict,
                            digest,
                            detail,
                        )  # fmt: skip
                    )
                served = {r.sha256 for r in found if r.verdict == "unpinned"}
                if len(served) > 1:  # copies of an unpinned file disagree: say so on each
                    found = [
                        _with(r, verdict="differs") if r.verdict == "unpinned" else r for r in found
                    ]
                reports += found
            log(f"{ds.name}: {summary([r for r in reports if r.dataset == ds.name])}")
    return reports


def _with(report: UrlReport, **changes: Any) -> UrlReport:
    return UrlReport(**{**asdict(report), **changes})


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
    counts: dict[str, int] = {}
    for r in reports:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    return ", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items())) or "no sources"


def as_json(reports: list[UrlReport]) -> dict[str, Any]:
    return {
        "urls": [asdict(r) for r in reports],
        "failures": [f"{d}/{s}" for d, s in failures(reports)],
        "summary": summary(reports),
    }
