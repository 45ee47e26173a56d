"""Downloads with urllib only: stream to ``<dest>.part`` while hashing, verify, then rename.

- The SHA-256 is computed while the bytes are written (the bytes already in a ``.part`` file are
  hashed first when a download resumes), and checked before the file gets its final name. A
  mismatch deletes the ``.part`` file: nothing is left behind.
- An interrupted transfer (connection reset, timeout, fewer bytes than ``Content-Length``) keeps
  its ``.part`` file and is retried: with ``Range: bytes=<have>-`` when the server answers ``206``
  with a matching ``Content-Range``, else from scratch.
- Each URL is tried in order (mirrors from ``ATTENTIVE_DATA_MIRRORS``, a pinned commit, then
  unpinned copies); each gets ``retries`` retries with exponential backoff. ``http``, ``https``
  and (for a mirror on a shared folder) ``file`` URLs are allowed.
- A host that cannot be reached at all (no name resolution, refused, no answer within
  ``timeout`` on every try) is skipped for the next ``UNREACHABLE_FOR`` seconds: a machine behind
  a firewall that drops packets fails a build in one host's timeouts, not one per file.
- Progress is a tqdm bar on stderr, shown only when stderr is a terminal.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

CHUNK = 1 << 16
USER_AGENT = "attentive-datasets/0.1 (+urllib)"
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
SCHEMES = ("http", "https", "file")
UNREACHABLE_FOR = 300.0  # seconds a host that could not be reached is skipped
_unreachable: dict[str, float] = {}  # host[:port] -> time.monotonic() until which it is skipped


class DownloadError(OSError):
    """Every URL failed (network, HTTP status, or a truncated body after all retries)."""


class ChecksumMismatch(DownloadError):
    def __init__(self, url: str, expected: str, actual: str) -> None:
        super().__init__(f"{url}: SHA-256 {actual} does not match the pinned {expected}")
        self.url, self.expected, self.actual = url, expected, actual


class _Truncated(OSError):
    pass


class _Restart(OSError):
    """The server's answer to a Range request cannot be appended: start over."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _progress(total: int | None, initial: int, label: str, show: bool | None):  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    disable = not (sys.stderr.isatty() if show is None else show)
    return tqdm(
        total=total,
        initial=initial,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=label,
        disable=disable,
        leave=False,
        file=sys.stderr,
    )


def _transfer(url: str, part: Path, timeout: float, show: bool | None) -> hashlib._Hash:
    """One HTTP request: resume or (re)start ``part``; returns the hash of the whole file."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (scheme checked)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # our .part is no prefix the server knows: start over
            raise _Restart(f"{url}: range not satisfiable") from err
        raise
    with response:
        digest = hashlib.sha256()
        length = response.headers.get("Content-Length")
        remaining = int(length) if length and length.isdigit() else None
        if have and response.status == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if not match or int(match.group(1)) != have:
                raise _Restart(f"{url}: unexpected Content-Range, restarting")
            total = int(match.group(3)) if match.group(3).isdigit() else None
            with open(part, "rb") as existing:
                while chunk := existing.read(1 << 20):
                    digest.update(chunk)
            mode, start = "ab", have
        else:  # 200: the server ignored Range (or there was none): start from scratch
            total = remaining
            mode, start = "wb", 0
        received = 0
        with (
            open(part, mode) as out,
            _progress(total, start, Path(part.name.removesuffix(".part")).name, show) as bar,
        ):
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (OSError, http.client.HTTPException) as err:  # the host did answer
                    raise _Truncated(f"{url}: cut after {start + received} bytes ({err})") from err
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if remaining is not None and received < remaining:
            raise _Truncated(f"{url}: got {received} of {remaining} bytes")
    return digest


def _retryable(err: BaseException) -> bool:
    if isinstance(err, urllib.error.HTTPError):
        return err.code in (408, 429) or err.code >= 500
    if isinstance(err, urllib.error.URLError) and isinstance(
        err.reason, socket.gaierror | FileNotFoundError
    ):
        return False  # no name resolution (offline) or no such file: retrying will not help
    return isinstance(
        err,
        _Truncated
        | _Restart
        | urllib.error.URLError
        | http.client.HTTPException
        | ConnectionError
        | TimeoutError
        | socket.timeout,
    )


def _unreachable_host(err: BaseException) -> bool:
    """The host never answered: no name resolution, refused, reset or silent until the timeout.
    An HTTP status, a cut body or a missing local file are answers, not this."""
    if isinstance(err, urllib.error.HTTPError):
        return False
    if isinstance(err, urllib.error.URLError):
        return isinstance(err.reason, OSError) and not isinstance(err.reason, FileNotFoundError)
    return isinstance(err, ConnectionError | TimeoutError | socket.timeout)


def _remember(host: str, err: BaseException) -> None:
    """Skip ``host`` for ``UNREACHABLE_FOR`` seconds when ``err`` says it never answered."""
    if host and _unreachable_host(err):
        _unreachable[host] = time.monotonic() + UNREACHABLE_FOR


def unreachable_hosts() -> list[str]:
    """Hosts skipped now because they did not answer (for a caller's summary)."""
    return sorted(h for h in list(_unreachable) if _skipped(h))


def _skipped(host: str) -> bool:
    until = _unreachable.get(host)
    if until is None:
        return False
    if time.monotonic() < until:
        return True
    del _unreachable[host]
    return False


def download_url(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 1.0,
    progress: bool | None = None,
) -> str:
    """Download one URL to ``dest`` (verified) and return its SHA-256."""
    scheme = url.split(":", 1)[0].lower()
    if scheme not in SCHEMES:
        raise DownloadError(f"{url}: only {', '.join(SCHEMES)} URLs are allowed")
    host = urlsplit(url).netloc.lower()
    if host and _skipped(host):
        raise DownloadError(f"{url}: skipped, {host} did not answer earlier in this run")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last: BaseException | None = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        resumed = part.exists() and part.stat().st_size > 0
        try:
            digest = _transfer(url, part, timeout, progress).hexdigest()
        except _Restart as err:
            part.unlink(missing_ok=True)
            last = err
            continue
        except BaseException as err:
            if isinstance(err, Exception) and _retryable(err):
                last = err
                continue
            if not isinstance(err, Exception):  # KeyboardInterrupt: keep .part for a resume
                raise
            part.unlink(missing_ok=True)
            _remember(host, err)
            raise DownloadError(f"{url}: {err}") from err
        if sha256 is not None and digest != sha256.lower():
            part.unlink(missing_ok=True)
            if resumed:  # the old prefix may be bad: one more try from scratch
                last = ChecksumMismatch(url, sha256, digest)
                continue
            raise ChecksumMismatch(url, sha256, digest)
        os.replace(part, dest)
        return digest
    if isinstance(last, ChecksumMismatch):
        raise last
    if last is not None:
        _remember(host, last)
    raise DownloadError(f"{url}: {last}") from last


def download(
    urls: Sequence[str],
    dest: Path,
    *,
    sha256: str | None = None,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 1.0,
    progress: bool | None = None,
) -> str:
    """Try each URL in turn (a pinned source, then mirrors); the first verified copy wins.

    A ``.part`` left by an interrupted earlier run is resumed (or restarted) by the first URL.
    """
    errors: list[str] = []
    mismatch: ChecksumMismatch | None = None
    for index, url in enumerate(urls):
        if index:  # never append one URL's bytes to another's
            dest.with_name(dest.name + ".part").unlink(missing_ok=True)
        try:
            return download_url(
                url,
                dest,
                sha256=sha256,
                timeout=timeout,
                retries=retries,
                backoff=backoff,
                progress=progress,
            )
        except ChecksumMismatch as err:
            mismatch = err
            errors.append(str(err))
        except DownloadError as err:
            errors.append(str(err))
    if mismatch is not None:
        raise mismatch
    raise DownloadError(f"{dest.name}: " + ("; ".join(errors) or "no URL given"))
