"""Mirrors of the upstream files, for machines that cannot reach GitHub.

A mirror holds each pinned source file under the path raw.githubusercontent.com gives it:
``<base>/<owner>/<repo>/<commit>/<path>``. Because the path names the commit, a mirrored file is
immutable, and the registry's SHA-256 pins and structural checks guard it exactly as they guard
a download from GitHub.

``ATTENTIVE_DATA_MIRRORS`` (comma-separated) lists mirror bases, each an ``http(s)://`` URL, a
``file://`` URL or a local folder; they are tried before the canonical URLs. ``attentive data
mirror DIR`` writes such a folder on a machine with network; serve it over HTTP or share the
folder itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from attentive.settings import DataSettings
from training.datasets.download import DownloadError, download, sha256_file
from training.datasets.registry import Dataset, Source

ENV = "ATTENTIVE_DATA_MIRRORS"


def mirror_path(url: str) -> str | None:
    """``owner/repo/commit/path`` of a GitHub raw URL (either form :func:`registry.github`
    writes); ``None`` for any other URL."""
    parts = urlsplit(url)
    segments = [unquote(s) for s in parts.path.strip("/").split("/")]
    if parts.netloc == "raw.githubusercontent.com" and len(segments) >= 4:
        return "/".join(segments)
    if parts.netloc == "github.com" and len(segments) >= 5 and segments[2] == "raw":
        return "/".join([segments[0], segments[1], *segments[3:]])
    return None


def base_url(base: str) -> str:
    """A mirror base as a URL without a trailing slash; a local folder becomes ``file://``."""
    base = base.strip()
    if "://" not in base:
        return Path(base).expanduser().resolve().as_uri()
    scheme = base.split("://", 1)[0].lower()
    if scheme not in ("http", "https", "file"):
        raise ValueError(f"{ENV}: {base!r} is not an http(s):// or file:// URL or a folder")
    return base.rstrip("/")


def bases(value: str | None = None) -> list[str]:
    """The mirror bases from ``ATTENTIVE_DATA_MIRRORS`` (or ``value``), in order."""
    raw = DataSettings().data_mirrors if value is None else value
    return [base_url(b) for b in raw.split(",") if b.strip()]


def with_mirrors(urls: Sequence[str], mirror_bases: Sequence[str]) -> tuple[str, ...]:
    """``urls`` with each mirror's copy of the pinned one (``urls[0]``) put first."""
    relative = mirror_path(urls[0]) if urls else None
    if relative is None:
        return tuple(urls)
    return (*(f"{b}/{quote(relative)}" for b in mirror_bases), *urls)


def _relative(ds: Dataset, source: Source) -> str:
    relative = mirror_path(source.urls[0])
    if relative is None:
        raise ValueError(f"{ds.name}: {source.urls[0]} is no GitHub raw URL: it has no mirror path")
    return relative


def only_from(ds: Dataset, base: str) -> Dataset:
    """``ds`` with every source read from the mirror at ``base`` and nowhere else: how
    ``attentive data mirror`` proves a mirror converts and passes its checks."""
    url = base_url(base)
    sources = [replace(s, urls=(f"{url}/{quote(_relative(ds, s))}",)) for s in ds.sources]
    return replace(ds, sources=tuple(sources))


def write(
    ds: Dataset, folder: Path, *, log: Callable[[str], None], **download_options: Any
) -> list[str]:
    """Download every source of ``ds`` into ``folder`` in the mirror layout (verified against
    its SHA-256 where one is pinned); files already there and matching are kept.

    Returns the required files that could not be fetched; optional ones are only logged."""
    failed: list[str] = []
    mirrors = bases()
    for source in ds.sources:
        dest = folder / _relative(ds, source)
        if dest.is_file() and (source.sha256 is None or sha256_file(dest) == source.sha256):
            continue
        try:
            urls = with_mirrors(source.urls, mirrors)
            download(urls, dest, sha256=source.sha256, **download_options)
        except DownloadError as err:
            if not source.optional:
                failed.append(f"{source.name}: {err}")
            else:
                log(f"{ds.name}: optional {source.name} not mirrored ({err})")
    return failed
