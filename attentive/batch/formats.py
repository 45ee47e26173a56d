"""Rows in, result rows out: JSONL, CSV and Parquet.

Reading yields ``Row``s numbered from 0 in file order (blank JSONL lines are not rows); a row
that cannot be parsed carries a ``problem`` instead of values, so the job records it as an error
and goes on. Writing is by encoders that turn one result row into bytes, so the job can append
in input order and know the byte length it committed. Parquet cannot be appended to: its rows
are staged with the JSONL encoder and converted at the end (:func:`write_parquet`), with
row groups of a fixed size, so the file's bytes depend on its rows only.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attentive.batch.journal import fsync_path

FORMATS = ("jsonl", "csv", "parquet")
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}  # fmt: skip
PARQUET_BATCH = 4096
PARQUET_ROW_GROUP = 8192


def format_of(path: Path, fallback: str | None = None) -> str:
    """The format a file's suffix names (``fallback`` when it names none)."""
    found = SUFFIXES.get(path.suffix.lower(), fallback)
    if found is None:
        raise ValueError(
            f"{path}: cannot tell the format from the suffix; use one of "
            f"{', '.join(sorted(SUFFIXES))} (or --format)"
        )
    return found


@dataclass(frozen=True)
class Row:
    index: int
    values: dict[str, Any] | None
    problem: str | None = None


# ---- reading ----


def columns(path: Path, fmt: str) -> list[str]:
    """The column names: the CSV header, the Parquet schema, the first JSONL object's keys."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(path).schema_arrow.names)
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as f:
            return next(csv.reader(f), [])
    for row in rows(path, fmt):
        return list(row.values) if row.values is not None else []
    return []


def count(path: Path, fmt: str) -> int:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as f:
            return max(0, sum(1 for cells in csv.reader(f) if cells) - 1)
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def rows(path: Path, fmt: str, start: int = 0) -> Iterator[Row]:
    """The rows from number ``start`` on."""
    if fmt == "parquet":
        yield from _parquet_rows(path, start)
    elif fmt == "csv":
        yield from _csv_rows(path, start)
    else:
        yield from _jsonl_rows(path, start)


def _jsonl_rows(path: Path, start: int) -> Iterator[Row]:
    index = 0
    with path.open("rb") as f:
        for line in f:
            if not line.strip():
                continue
            if index >= start:
                try:
                    values = json.loads(line)
                except ValueError as error:
                    yield Row(index, None, f"line is not JSON: {error}")
                else:
                    if isinstance(values, dict):
                        yield Row(index, values)
                    else:
                        yield Row(index, None, f"line is a JSON {type(values).__name__}, not an object")  # fmt: skip
            index += 1


def _csv_rows(path: Path, start: int) -> Iterator[Row]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return
        for index, cells in enumerate(c for c in reader if c):  # blank lines are not rows
            if index < start:
                continue
            if len(cells) != len(header):
                yield Row(index, None, f"{len(cells)} cells for {len(header)} columns")
            else:
                yield Row(index, dict(zip(header, cells, strict=True)))


def _parquet_rows(path: Path, start: int) -> Iterator[Row]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    first, skip = 0, start
    while first < pf.num_row_groups and skip >= pf.metadata.row_group(first).num_rows:
        skip -= pf.metadata.row_group(first).num_rows
        first += 1
    index = start - skip
    groups = list(range(first, pf.num_row_groups))
    if not groups:
        return
    for batch in pf.iter_batches(batch_size=PARQUET_BATCH, row_groups=groups):
        for values in batch.to_pylist():
            if index >= start:
                yield Row(index, values)
            index += 1


# ---- writing ----


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class JsonlEncoder:
    def header(self) -> bytes:
        return b""

    def encode(self, row: dict[str, Any]) -> bytes:
        return (_compact(row) + "\n").encode("utf-8")


class CsvEncoder:
    """Strings as they are, numbers as text, lists (tensors) as compact JSON in the cell."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)

    def _line(self, cells: Sequence[str]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(cells)
        return buffer.getvalue().encode("utf-8")

    def header(self) -> bytes:
        return self._line(self.names)

    def encode(self, row: dict[str, Any]) -> bytes:
        cells = []
        for name in self.names:
            value = row.get(name)
            if value is None:
                cells.append("")
            elif isinstance(value, str):
                cells.append(value)
            elif isinstance(value, list | dict | bool):
                cells.append(_compact(value))
            else:
                cells.append(str(value))
        return self._line(cells)


def encoder(fmt: str, names: Sequence[str]) -> JsonlEncoder | CsvEncoder:
    """The encoder of the file the job appends to (Parquet stages as JSONL)."""
    return CsvEncoder(names) if fmt == "csv" else JsonlEncoder()


ARROW_TYPES = {
    "BOOL": "bool_",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "FP16": "float32",  # Python floats do not convert to float16 arrays
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "string",
}


def arrow_type(datatype: str, rank: int) -> Any:
    """The Arrow type of one row's value: nested lists ``rank`` deep of the element type."""
    import pyarrow as pa

    kind = getattr(pa, ARROW_TYPES[datatype])()
    for _ in range(rank):
        kind = pa.list_(kind)
    return kind


def write_parquet(staging: Path, out: Path, types: dict[str, Any]) -> None:
    """Convert the staged JSONL rows to ``out`` (via a temporary file and a rename). ``types``:
    column -> Arrow type, in column order; a column missing from it ("id") takes the type of its
    first row group's values."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = out.with_name(out.name + ".tmp")
    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None
    try:

        def flush(group: list[dict[str, Any]]) -> None:
            nonlocal writer, schema
            names = list(group[0])
            arrays = [
                pa.array(
                    [r.get(n) for r in group],
                    type=schema.field(n).type if schema is not None else types.get(n),
                )
                for n in names
            ]
            table = pa.Table.from_arrays(arrays, names=names)
            if writer is None:
                schema = table.schema
                writer = pq.ParquetWriter(tmp, schema)
            writer.write_table(table.cast(schema), row_group_size=PARQUET_ROW_GROUP)

        group: list[dict[str, Any]] = []
        with staging.open("rb") as f:
            for line in f:
                group.append(json.loads(line))
                if len(group) == PARQUET_ROW_GROUP:
                    flush(group)
                    group = []
        if group:
            flush(group)
        if writer is None:  # no successful row: an empty table with the known columns
            empty = pa.schema([(n, pa.int64() if t is None else t) for n, t in types.items()])
            writer = pq.ParquetWriter(tmp, empty)
        writer.close()
        writer = None
        fsync_path(tmp)
        tmp.replace(out)
    finally:
        if writer is not None:
            writer.close()
