"""The downloader against a loopback HTTP server: verified downloads, checksum mismatches that
leave nothing behind, interrupted transfers resumed with Range or restarted, mirrors."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.datasets.conftest import Blackhole, Server
from training.datasets.download import ChecksumMismatch, DownloadError, download, download_url

BODY = os.urandom(300_000)
SHA = hashlib.sha256(BODY).hexdigest()
FAST = {"timeout": 5.0, "retries": 2, "backoff": 0.0, "progress": False}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_good_download_is_verified_and_renamed(server: Server, tmp_path: Path) -> None:
    url = server.add("good.bin", BODY)
    dest = tmp_path / "good.bin"
    assert download_url(url, dest, sha256=SHA, **FAST) == SHA  # type: ignore[arg-type]
    assert dest.read_bytes() == BODY
    assert leftovers(tmp_path) == ["good.bin"]


def test_checksum_mismatch_is_rejected_and_leaves_nothing(server: Server, tmp_path: Path) -> None:
    url = server.add("bad.bin", BODY[:-1] + b"x")
    dest = tmp_path / "bad.bin"
    with pytest.raises(ChecksumMismatch) as err:
        download_url(url, dest, sha256=SHA, **FAST)  # type: ignore[arg-type]
    assert err.value.expected == SHA
    assert leftovers(tmp_path) == []
    assert len(server.routes["/bad.bin"].requests) == 1  # a plain mismatch is not retried


def test_interrupted_download_resumes_with_range(server: Server, tmp_path: Path) -> None:
    url = server.add("cut.bin", BODY, cuts=1)
    dest = tmp_path / "cut.bin"
    assert download_url(url, dest, sha256=SHA, **FAST) == SHA  # type: ignore[arg-type]
    assert dest.read_bytes() == BODY
    first, second = server.routes["/cut.bin"].requests
    assert first is None and second == f"bytes={len(BODY) // 2}-"  # resumed, not restarted
    assert leftovers(tmp_path) == ["cut.bin"]


def test_interrupted_download_restarts_when_range_is_ignored(
    server: Server, tmp_path: Path
) -> None:
    url = server.add("norange.bin", BODY, ranges=False, cuts=1)
    dest = tmp_path / "norange.bin"
    assert download_url(url, dest, sha256=SHA, **FAST) == SHA  # type: ignore[arg-type]
    assert dest.read_bytes() == BODY  # the 200 answer replaced the half file, not appended
    assert len(server.routes["/norange.bin"].requests) == 2


def test_part_file_of_an_earlier_run_is_resumed(server: Server, tmp_path: Path) -> None:
    url = server.add("resume.bin", BODY)
    dest = tmp_path / "resume.bin"
    (tmp_path / "resume.bin.part").write_bytes(BODY[:1000])
    assert download_url(url, dest, sha256=SHA, **FAST) == SHA  # type: ignore[arg-type]
    assert server.routes["/resume.bin"].requests == ["bytes=1000-"]


def test_corrupt_part_file_is_restarted_from_scratch(server: Server, tmp_path: Path) -> None:
    url = server.add("corrupt.bin", BODY)
    dest = tmp_path / "corrupt.bin"
    (tmp_path / "corrupt.bin.part").write_bytes(b"\0" * 1000)
    assert download_url(url, dest, sha256=SHA, **FAST) == SHA  # type: ignore[arg-type]
    assert server.routes["/corrupt.bin"].requests == ["bytes=1000-", None]
    assert dest.read_bytes() == BODY


def test_every_retry_cut_leaves_a_part_file_to_resume(server: Server, tmp_path: Path) -> None:
    url = server.add("flaky.bin", BODY, cuts=10)
    dest = tmp_path / "flaky.bin"
    with pytest.raises(DownloadError):
        download_url(url, dest, sha256=SHA, **{**FAST, "retries": 1})  # type: ignore[arg-type]
    assert not dest.exists() and (tmp_path / "flaky.bin.part").exists()
    server.routes["/flaky.bin"].cuts = 0
    assert download_url(url, dest, sha256=SHA, **FAST) == SHA  # type: ignore[arg-type]
    assert dest.read_bytes() == BODY


def test_mirror_is_used_when_the_pinned_url_fails(server: Server, tmp_path: Path) -> None:
    mirror = server.add("mirror.bin", BODY)
    dest = tmp_path / "m.bin"
    assert download([server.url("missing.bin"), mirror], dest, sha256=SHA, **FAST) == SHA  # type: ignore[arg-type]
    assert dest.read_bytes() == BODY


def test_404_everywhere_raises_and_leaves_nothing(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="404"):
        download([server.url("a"), server.url("b")], tmp_path / "x", **FAST)  # type: ignore[arg-type]
    assert leftovers(tmp_path) == []


def test_unreachable_host_fails_cleanly(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError):
        download_url(f"http://127.0.0.1:{port}/x", tmp_path / "x", **{**FAST, "retries": 0})  # type: ignore[arg-type]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "data:,hello"])
def test_only_http_and_file_urls_are_allowed(url: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="only http, https, file URLs are allowed"):
        download_url(url, tmp_path / "x", **FAST)  # type: ignore[arg-type]


SILENT = {"timeout": 0.3, "retries": 1, "backoff": 0.0, "progress": False}


def test_a_silent_host_is_skipped_after_its_retries(
    blackhole: Blackhole, server: Server, tmp_path: Path
) -> None:
    with pytest.raises(DownloadError, match="timed out"):
        download_url(blackhole.url("a.bin"), tmp_path / "a.bin", **SILENT)  # type: ignore[arg-type]
    assert len(blackhole.accepted) == 2  # the first try and its one retry
    with pytest.raises(DownloadError, match="did not answer earlier in this run"):
        download_url(blackhole.url("b.bin"), tmp_path / "b.bin", **SILENT)  # type: ignore[arg-type]
    assert len(blackhole.accepted) == 2  # not asked again
    good = server.add("b.bin", BODY)  # another host is still tried, at once
    urls = [blackhole.url("b.bin"), good]
    assert download(urls, tmp_path / "b.bin", sha256=SHA, **SILENT) == SHA  # type: ignore[arg-type]
    assert len(blackhole.accepted) == 2
    assert leftovers(tmp_path) == ["b.bin"]


def test_an_unreachable_host_is_tried_again_once_its_time_is_up(
    blackhole: Blackhole, tmp_path: Path
) -> None:
    from training.datasets import download as module

    with pytest.raises(DownloadError):
        download_url(blackhole.url("a.bin"), tmp_path / "a.bin", **SILENT)  # type: ignore[arg-type]
    host = f"127.0.0.1:{blackhole.sock.getsockname()[1]}"
    assert host in module._unreachable
    module._unreachable[host] = 0.0  # its UNREACHABLE_FOR seconds are over
    with pytest.raises(DownloadError, match="timed out"):
        download_url(blackhole.url("a.bin"), tmp_path / "a.bin", **SILENT)  # type: ignore[arg-type]
    assert len(blackhole.accepted) == 4


def test_an_answer_never_marks_a_host_unreachable(server: Server, tmp_path: Path) -> None:
    url = server.add("cut.bin", BODY, ranges=False, cuts=2)  # 404s and cut bodies are answers
    with pytest.raises(DownloadError, match="404"):
        download_url(server.url("absent.bin"), tmp_path / "absent.bin", **SILENT)  # type: ignore[arg-type]
    with pytest.raises(DownloadError, match="got 150000 of 300000 bytes"):
        download_url(url, tmp_path / "cut.bin", sha256=SHA, **SILENT)  # type: ignore[arg-type]
    assert download_url(url, tmp_path / "cut.bin", sha256=SHA, **SILENT) == SHA  # type: ignore[arg-type]


def test_file_urls_serve_a_mirror_on_a_shared_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "good.bin").write_bytes(BODY)
    dest = tmp_path / "data" / "good.bin"
    url = (mirror / "good.bin").as_uri()
    assert download_url(url, dest, sha256=SHA, **FAST) == SHA  # type: ignore[arg-type]
    assert dest.read_bytes() == BODY
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    with pytest.raises(DownloadError, match="No such file"):
        download_url((mirror / "absent.bin").as_uri(), tmp_path / "absent.bin", **FAST)  # type: ignore[arg-type]
    assert sleeps == []  # a missing file is not retried
