"""`attentive data audit` against the loopback server: every URL of every source is downloaded
and judged, and a required source that no URL serves correctly fails the audit."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from attentive.cli import main
from tests.datasets.conftest import Server, toy_dataset
from training.datasets import audit, registry

FAST = {"timeout": 5.0, "retries": 0, "backoff": 0.0, "progress": False}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def toy(server: Server) -> registry.Dataset:
    def source(
        name: str, urls: list[str], pin: bytes | None = None, **kw: object
    ) -> registry.Source:
        return registry.Source(tuple(urls), name, name, sha(pin) if pin else None, **kw)  # type: ignore[arg-type]

    sources = (
        source(  # pinned: the pin serves it, a copy has drifted, another copy is gone
            "pinned.txt",
            [server.add("a/pinned.txt", b"good"), server.add("b/pinned.txt", b"drifted"), server.url("gone")],
            pin=b"good",
        ),
        source("same.bin", [server.add("a/same.bin", b"one"), server.add("b/same.bin", b"one")]),
        source("split.bin", [server.add("a/split.bin", b"one"), server.add("b/split.bin", b"two")]),
        source("extra.txt", [server.url("missing")], optional=True),
    )  # fmt: skip
    return toy_dataset(sources=sources)


def test_every_url_is_judged(server: Server) -> None:
    reports = audit.audit([toy(server)], **FAST)
    verdicts = [(r.source, r.pinned, r.verdict) for r in reports]
    assert verdicts == [
        ("pinned.txt", True, "ok"),
        ("pinned.txt", False, "mismatch"),
        ("pinned.txt", False, "error"),
        ("same.bin", True, "unpinned"),
        ("same.bin", False, "unpinned"),
        ("split.bin", True, "differs"),
        ("split.bin", False, "differs"),
        ("extra.txt", True, "error"),
    ]
    assert reports[0].sha256 == sha(b"good") and reports[1].sha256 == sha(b"drifted")
    assert reports[3].sha256 == reports[4].sha256 == sha(b"one")  # reported, so it can be pinned
    assert "404" in reports[2].detail
    assert audit.failures(reports) == [("toy", "split.bin")]  # the optional one is not a failure
    assert all(len(r.requests) == 1 for r in server.routes.values())  # every URL, once


def test_audit_command_writes_the_report_and_fails_on_a_broken_source(
    server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(registry.DATASETS, "toy", toy(server))
    monkeypatch.setenv("ATTENTIVE_DATA_MIRRORS", str(tmp_path))  # an audit never uses mirrors
    out = tmp_path / "audit.json"
    assert main(["data", "audit", "toy", "--retries", "0", "--out", str(out)]) == 1
    report = json.loads(out.read_text())
    assert report["failures"] == ["toy/split.bin"]
    assert [u["verdict"] for u in report["urls"]].count("ok") == 1
    text = capsys.readouterr().out
    assert "mismatch  copy toy/pinned.txt" in text and "required sources no URL serves: 1" in text
    assert list(tmp_path.iterdir()) == [out]  # nothing downloaded is kept
