"""JSONL, CSV and Parquet: the same rows read the same from any row on, and a job gives the same
values whatever the input and output formats."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from attentive.batch import formats
from attentive.cli import main as cli
from tests.batch.conftest import sentences, translation, write_input
from tests.server import fake_repository


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_rows_from_any_start(tmp_path: Path, fmt: str) -> None:
    rows = sentences(2000, seed=1)
    path = write_input(tmp_path / f"in.{fmt}", fmt, rows)  # parquet: row groups of 700
    assert formats.columns(path, fmt) == ["id", "text"]
    assert formats.count(path, fmt) == 2000
    for start in (0, 1, 699, 700, 701, 1399, 1999, 2000):
        got = list(formats.rows(path, fmt, start))
        assert [r.index for r in got] == list(range(start, 2000))
        assert [r.values for r in got] == rows[start:]


def test_unreadable_rows_are_numbered_not_dropped(tmp_path: Path) -> None:
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"a": 1}\n\n[1, 2]\n{"a":\n{"a": 2}\n')
    got = list(formats.rows(jsonl, "jsonl"))
    assert [(r.index, r.values) for r in got] == [(0, {"a": 1}), (1, None), (2, None), (3, {"a": 2})]  # fmt: skip
    assert "not an object" in str(got[1].problem) and "not JSON" in str(got[2].problem)
    assert formats.count(jsonl, "jsonl") == 4
    csv_file = tmp_path / "in.csv"
    csv_file.write_text("a,b\n1,2\n\n3\n4,5\n")
    got = list(formats.rows(csv_file, "csv"))
    assert [r.values for r in got] == [{"a": "1", "b": "2"}, None, {"a": "4", "b": "5"}]
    assert formats.count(csv_file, "csv") == 3


def test_csv_encoder_keeps_text_and_tensors() -> None:
    enc = formats.CsvEncoder(["id", "text", "t"])
    assert enc.header() == b"id,text,t\n"
    line = enc.encode({"id": 3, "text": 'a, "quoted"\nline', "t": [[1.5, 2.0]]})
    assert line == b'3,"a, ""quoted""\nline","[[1.5,2.0]]"\n'


def test_format_of_suffix() -> None:
    assert formats.format_of(Path("a.ndjson")) == "jsonl"
    assert formats.format_of(Path("a.PARQUET")) == "parquet"
    assert formats.format_of(Path("a.out"), fallback="csv") == "csv"
    with pytest.raises(ValueError, match="suffix"):
        formats.format_of(Path("a.txt"))


def _values(path: Path, fmt: str) -> list[dict[str, object]]:
    if fmt == "parquet":
        return pq.read_table(path).to_pylist()
    if fmt == "csv":
        import csv

        with path.open(newline="", encoding="utf-8") as f:
            return [
                {k: json.loads(v) if v.startswith("[") else v for k, v in row.items()}
                for row in csv.DictReader(f)
            ]
    return [json.loads(line) for line in path.read_text().splitlines()]


def _job(address: str, source: Path, out: Path) -> None:
    code = cli(["batch", "--no-progress", "--model", fake_repository.TRANSLATOR,
                "--input", str(source), "--output", str(out), "--server", address,
                "--attention", "--batch-size", "16"])  # fmt: skip
    assert code == 0


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_round_trip_gives_the_values_of_jsonl(tmp_path: Path, address: str, fmt: str) -> None:
    rows = sentences(300, seed=2)
    _job(address, write_input(tmp_path / "in.jsonl", "jsonl", rows), tmp_path / "ref.jsonl")
    reference = _values(tmp_path / "ref.jsonl", "jsonl")
    assert [r["output_text"] for r in reference] == [translation(str(r["text"])) for r in rows]
    out = tmp_path / f"out.{fmt}"
    _job(address, write_input(tmp_path / f"in.{fmt}", fmt, rows), out)
    assert _values(out, fmt) == reference  # ids, text and float32 attention, exactly
    if fmt == "parquet":
        schema = pq.read_schema(out)
        assert schema.field("id").type == pa.string()
        assert schema.field("output_text").type == pa.string()
        assert schema.field("cross_attention").type == pa.list_(pa.list_(pa.float32()))


def test_output_format_follows_the_output_suffix(tmp_path: Path, address: str) -> None:
    rows = sentences(40, seed=3)
    source = write_input(tmp_path / "in.jsonl", "jsonl", rows)
    out = tmp_path / "out.parquet"
    assert cli(["batch", "--no-progress", "--model", fake_repository.TRANSLATOR,
                "--input", str(source), "--output", str(out), "--server", address]) == 0  # fmt: skip
    table = pq.read_table(out)
    assert table.column_names == ["id", "output_text"]
    assert table.num_rows == 40
