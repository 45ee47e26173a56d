"""`attentive batch` against a test server: every row scored once and in order, rejected rows in
the errors file with their gRPC code, stale journals refused, several servers round-robined."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attentive.cli import main as cli
from server.grpc.app import BackgroundServer
from tests.batch.conftest import (
    read_jsonl,
    sentences,
    settings,
    translation,
    write_jsonl,
)
from tests.server import fake_repository

MODEL = fake_repository.TRANSLATOR


def batch(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli(["batch", "--no-progress", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_thousands_of_rows_in_order_with_translations(
    tmp_path: Path, address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = sentences(3000)
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    code, stdout, err = batch(
        capsys, "--model", MODEL, "--input", str(source), "--output", str(out),
        "--server", address, "--attention", "--batch-size", "16", "--concurrency", "3",
    )  # fmt: skip
    assert code == 0, err
    assert "3000 rows (3000 ok, 0 errors)" in stdout and "rows/s" in stdout
    got = read_jsonl(out)
    assert [r["id"] for r in got] == [r["id"] for r in rows]
    for want, row in zip(rows, got, strict=True):
        assert row["output_text"] == translation(str(want["text"]))
        words = len(str(want["text"]).split())
        attention = row["cross_attention"]
        # (T, S) for the row, padded to the chunk's longest: [BOS] words [EOS] then padding; the
        # toy attends to the source positions holding the same token as the output position
        assert len(attention) == len(attention[0]) >= words + 2
        for t in range(words + 2):
            assert abs(sum(attention[t]) - 1) < 1e-5
            assert attention[t][t] == max(attention[t])
    assert (tmp_path / "out.jsonl.errors.jsonl").read_bytes() == b""
    journal = json.loads((tmp_path / "out.jsonl.journal").read_text())
    assert journal["complete"] and journal["rows"] == 3000
    # the same command again: nothing to do, nothing rewritten
    before = out.read_bytes()
    code, stdout, err = batch(
        capsys, "--model", MODEL, "--input", str(source), "--output", str(out),
        "--server", address, "--attention", "--batch-size", "16",
    )  # fmt: skip
    assert code == 0 and "already complete" in stdout
    assert out.read_bytes() == before


def test_bad_rows_go_to_the_errors_file_and_the_job_goes_on(
    tmp_path: Path, address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = sentences(400, seed=3)
    bad = {
        "r17": " ".join(["cat"] * 40),  # 42 tokens > max_length 32: the server rejects it
        "r18": " ".join(["dog"] * 35),
        "r200": " ".join(["mat"] * 31),
    }
    for row in rows:
        if row["id"] in bad:
            row["text"] = bad[str(row["id"])]
    rows[250]["text"] = 7  # not text: rejected before sending
    lines = [json.dumps(r) for r in rows]
    lines[300] = '{"id": "r300", "text": '  # broken JSON line
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    code, stdout, err = batch(
        capsys, "--model", MODEL, "--input", str(source), "--output", str(out),
        "--server", address, "--batch-size", "8",
    )  # fmt: skip
    assert code == 0, err
    errors = read_jsonl(tmp_path / "out.jsonl.errors.jsonl")
    assert [e["id"] for e in errors] == ["r17", "r18", "r200", "r250", 300]
    assert {e["code"] for e in errors} == {"INVALID_ARGUMENT"}
    assert "max_length" in str(errors[0]["message"]) and "text" in str(errors[3]["message"])
    scored = read_jsonl(out)
    failed = {"r17", "r18", "r200", "r250", "r300"}
    assert [r["id"] for r in scored] == [r["id"] for r in rows if r["id"] not in failed]
    by_id = {r["id"]: r for r in rows}
    assert all(r["output_text"] == translation(str(by_id[r["id"]]["text"])) for r in scored)
    assert "395 ok, 5 errors" in stdout


def test_model_without_card_maps_its_only_input(
    tmp_path: Path, address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """plain_affine has no card: its io comes from ModelMetadata / ModelConfig; y = 2x + 1."""
    rows = [{"features": [float(i), 1.0, -1.0, 0.5]} for i in range(50)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    code, _, err = batch(
        capsys, "--model", fake_repository.PLAIN, "--input", str(source), "--output", str(out),
        "--server", address, "--batch-size", "10",
    )  # fmt: skip
    assert code == 0, err
    got = read_jsonl(out)
    assert [r["id"] for r in got] == list(range(50))
    assert got[7]["y"] == [15.0, 3.0, -1.0, 2.0]


def test_a_different_job_does_not_resume_a_stale_journal(
    tmp_path: Path, address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.jsonl"
    first = write_jsonl(tmp_path / "a.jsonl", sentences(20, seed=1))
    common = ["--model", MODEL, "--output", str(out), "--server", address]
    assert batch(capsys, "--input", str(first), *common)[0] == 0
    second = write_jsonl(tmp_path / "b.jsonl", sentences(30, seed=2))
    code, _, err = batch(capsys, "--input", str(second), *common)
    assert code == 2 and "another job" in err and "--restart" in err
    code, _, err = batch(capsys, "--input", str(first), *common, "--batch-size", "5")
    assert code == 2 and "another job" in err  # the batch size decides the output too
    code, stdout, err = batch(capsys, "--input", str(second), *common, "--restart")
    assert code == 0, err
    assert len(read_jsonl(out)) == 30


def test_ambiguous_columns_need_an_explicit_mapping(
    tmp_path: Path, address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{"title": "a cat", "body": "the dog runs"}]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    common = ["--model", MODEL, "--input", str(source), "--output", str(out), "--server", address]
    code, _, err = batch(capsys, *common)
    assert code == 2 and "source_text" in err and "title, body" in err
    code, _, err = batch(capsys, *common, "--columns", "body=source_text")
    assert code == 0, err
    assert read_jsonl(out) == [{"id": 0, "output_text": "die hund rennt"}]


def test_several_servers_are_round_robined(
    tmp_path: Path, repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", sentences(400, seed=5))
    out = tmp_path / "out.jsonl"
    with BackgroundServer(settings(repository)) as one, BackgroundServer(settings(repository)) as two:  # fmt: skip
        code, _, err = batch(
            capsys, "--model", MODEL, "--input", str(source), "--output", str(out),
            "--server", f"127.0.0.1:{one.port}", "--server", f"localhost:{two.port}",
            "--batch-size", "4",
        )  # fmt: skip
        assert code == 0, err
        counts = [
            sum(s.inference_count for s in srv.app.plane.statistics(MODEL))  # type: ignore[union-attr]
            for srv in (one, two)
        ]
    assert sum(counts) == 400
    assert min(counts) >= 100, counts  # round_robin: both replicas served a fair share


def test_health_command(address: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert cli(["health", "--server", address]) == 0
    assert "SERVING" in capsys.readouterr().out
    assert cli(["health", "--server", "127.0.0.1:1", "--timeout", "1"]) == 1


def test_batch_never_imports_torch_or_onnxruntime() -> None:
    import subprocess
    import sys

    code = (
        "import sys, attentive.commands.batch, attentive.commands.health, attentive.batch.job;"
        "bad = [m for m in ('torch', 'onnxruntime') if m in sys.modules];"
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_arguments_from_the_environment(
    tmp_path: Path,
    address: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docker compose's batch service passes its arguments as ATTENTIVE_BATCH_* variables."""
    rows = [{"key": "k1", "title": "a cat", "body": "the dog"}]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    for name, value in {
        "MODEL": MODEL, "INPUT": str(source), "OUTPUT": str(out), "SERVER": address,
        "COLUMNS": "body=source_text", "ATTENTION": "true", "ID_COLUMN": "key", "BATCH_SIZE": "5",
    }.items():  # fmt: skip
        monkeypatch.setenv(f"ATTENTIVE_BATCH_{name}", value)
    code, _, err = batch(capsys)
    assert code == 0, err
    (row,) = read_jsonl(out)
    assert row["id"] == "k1" and row["output_text"] == "die hund" and "cross_attention" in row
    code, _, err = batch(capsys, "--columns", "title=source_text", "--restart")  # a flag wins
    assert code == 0, err
    assert read_jsonl(out)[0]["output_text"] == "ein katze"
    monkeypatch.delenv("ATTENTIVE_BATCH_MODEL")
    code, _, err = batch(capsys)
    assert code == 2 and "--model" in err and "ATTENTIVE_BATCH_MODEL" in err
