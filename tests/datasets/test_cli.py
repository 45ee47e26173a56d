"""`attentive data list / check / fetch / info` and the data directory default."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from attentive.cli import main
from attentive.settings import Settings, default_data_dir
from tests.datasets.conftest import SHARED

needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data")


@needs_shared
def test_list_on_the_mirror(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list", "--data", str(SHARED)]) == 0
    out = capsys.readouterr().out
    for name in ("planetoid", "babi", "multi30k", "sick", "msrvid", "msrp", "wikiqa", "ag_news"):
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert " present " in line
    assert "CC BY-NC-SA 3.0 [non-commercial]" in out
    assert "generated (seeded)" in out
    assert "to fetch" not in out


def test_list_on_an_empty_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "--data", str(tmp_path), "list"]) == 0
    out = capsys.readouterr().out
    assert " missing " in out
    assert "to fetch: attentive data fetch planetoid babi multi30k" in out
    assert list(tmp_path.iterdir()) == []  # listing writes nothing


@needs_shared
def test_check_passes_on_the_mirror_and_reports_gaps(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "check", "--data", str(SHARED), "sick", "wikiqa", "planetoid"]) == 0
    out = capsys.readouterr().out
    assert "sick: ok" in out and "planetoid: ok" in out
    assert "gap    wikiqa: no dev split" in out
    assert "gap    pubmed_partial.npz" in out


@needs_shared
def test_check_fails_on_a_corrupted_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(SHARED / "msrvid", tmp_path / "msrvid")
    path = tmp_path / "msrvid" / "MSRVID_dev.tsv"
    path.write_bytes(path.read_bytes().replace(b"5.000", b"4.000", 1))
    assert main(["data", "check", "--data", str(tmp_path), "msrvid"]) == 1
    out = capsys.readouterr().out
    assert "msrvid: FAILED" in out and "MSRVID_dev.tsv: SHA-256" in out


def test_fetch_offline_says_what_is_missing_and_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ATTENTIVE_OFFLINE", "1")
    assert main(["data", "fetch", "--data", str(tmp_path), "planetoid"]) == 1
    err = capsys.readouterr().err
    assert "downloads are off (ATTENTIVE_OFFLINE)" in err
    assert f"{tmp_path / 'planetoid'}/" in err and "attentive data fetch planetoid" in err
    assert not (tmp_path / "planetoid").exists()


def test_unknown_name(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["data", "check", "--data", str(tmp_path), "imagenet"]) == 2
    assert "unknown dataset 'imagenet'" in capsys.readouterr().err


def test_info_lists_pinned_sources(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["data", "info", "--data", str(tmp_path), "planetoid"]) == 0
    out = capsys.readouterr().out
    commit = "af6abf468a772cc055bec88c52e4d6f51b7c37e3"
    assert f"https://raw.githubusercontent.com/kimiyoung/planetoid/{commit}/data/ind.cora.x" in out
    assert "MIT" in out and "Revisiting Semi-Supervised Learning" in out


def test_data_dir_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkout = tmp_path / "work" / "attentive"
    checkout.mkdir(parents=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_data_dir(checkout) == tmp_path / "cache" / "attentive" / "data"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert default_data_dir(checkout) == Path.home() / ".cache" / "attentive" / "data"
    (tmp_path / "work" / "shared" / "data").mkdir(parents=True)
    assert default_data_dir(checkout) == tmp_path / "work" / "shared" / "data"  # the mirror
    monkeypatch.setenv("ATTENTIVE_DATA", str(tmp_path / "mine"))
    assert Settings().data == tmp_path / "mine"  # ATTENTIVE_DATA wins


def test_data_command_never_imports_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from attentive.cli import main; main(['data', 'list']); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "command", "named"),
    [
        ("ATTENTIVE_OFFLINE", "maybe", ["data", "fetch", "msrvid"], "ATTENTIVE_OFFLINE='maybe'"),
        ("ATTENTIVE_BUILD_JOBS", "x", ["data", "list"], "ATTENTIVE_BUILD_JOBS='x'"),
    ],
)
def test_a_bad_environment_variable_is_named_not_a_traceback(
    variable: str,
    value: str,
    command: list[str],
    named: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(variable, value)
    if variable != "ATTENTIVE_BUILD_JOBS":
        command = [*command[:2], "--data", str(tmp_path), *command[2:]]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert f"attentive data: bad environment: {named}:" in err and "valid" in err
