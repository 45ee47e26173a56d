"""Which column feeds which model input, which outputs a result row keeps, and the conversions
between rows and tensors. Pure: the model's io comes in as a ``taxonomy.card.ModelIO`` (the card's,
or one made from the server's ModelMetadata / ModelConfig for a model without a card).

Mapping: ``--columns COL=INPUT`` first; then every graph input not yet fed takes the column named
like it or like its text input (text models take text: ``source_text`` rather than
``source_ids``); then, if exactly one input is left and exactly one column is unused, they go
together (a text column for a text model). Anything else is ambiguous and the error says which
inputs and columns are left.

Batching: a chunk's rows are sent together when the model batches (``max_batch_size > 0``), in
requests of at most ``max_batch_size`` rows. Variable dimensions of ids inputs are padded with the
card's ``pad_id`` to the longest row; rows whose other tensors differ in shape go in separate
requests (in order of first appearance, so the split depends on the rows only).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from taxonomy.card import ModelIO, TensorSpec

NUMPY = {
    "BOOL": np.bool_,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}
ID = "id"


class PlanError(ValueError):
    """The columns cannot be mapped to the model's inputs, or an output name is unknown."""


class RowError(ValueError):
    """One row cannot become tensors for the model (recorded as INVALID_ARGUMENT)."""


@dataclass(frozen=True)
class Slot:
    column: str
    input: str  # the request's input name (a text input or a graph input)
    datatype: str
    shape: tuple[int, ...]  # one row's shape (without the batch dimension); () for text
    pad: int | None = None  # pads the variable dimensions of rows sent together
    text: bool = False


@dataclass(frozen=True)
class Output:
    name: str
    datatype: str
    rank: int  # rank of one row's value


@dataclass(frozen=True)
class Plan:
    model: str
    max_batch_size: int
    slots: tuple[Slot, ...]
    outputs: tuple[Output, ...]
    id_column: str | None  # None: the row number is the id

    @property
    def batched(self) -> bool:
        return self.max_batch_size > 0

    def describe(self) -> dict[str, Any]:
        """What decides the output bytes, for the job's fingerprint."""
        return {
            "model": self.model,
            "max_batch_size": self.max_batch_size,
            "slots": [vars(s) | {"shape": list(s.shape)} for s in self.slots],
            "outputs": [vars(o) for o in self.outputs],
            "id_column": self.id_column,
        }

    @property
    def columns(self) -> list[str]:
        """The result rows' columns, in order."""
        return [ID, *(o.name for o in self.outputs)]


def is_attention(name: str) -> bool:
    """Attention outputs are named for what they are: cross_attention, edge_attention, ..."""
    return "attention" in name.lower()


def make(
    model: str,
    io: ModelIO,
    columns: Sequence[str],
    explicit: Mapping[str, str] | None = None,
    attention: bool = False,
    outputs: Sequence[str] | None = None,
    id_column: str | None = ID,
) -> Plan:
    id_col = id_column if id_column in columns else None
    slots = _slots(model, io, list(columns), dict(explicit or {}), id_col)
    return Plan(model, io.max_batch_size, tuple(slots), tuple(_outputs(model, io, attention, outputs)), id_col)  # fmt: skip


def _slots(
    model: str, io: ModelIO, columns: list[str], explicit: dict[str, str], id_col: str | None
) -> list[Slot]:
    graph = {t.name: t for t in io.inputs}
    text_for = {t.ids_input: t for t in io.text_inputs if t.ids_input in graph}
    text_names = {t.name: t for t in text_for.values()}
    batch = 1 if io.max_batch_size > 0 else 0

    def slot(column: str, name: str) -> Slot:
        if name in text_names:
            return Slot(column, name, "BYTES", (), text=True)
        spec: TensorSpec = graph[name]
        pad = io.pad_id if spec.vocab_size is not None and io.pad_id is not None else None
        return Slot(column, name, spec.datatype, tuple(spec.shape[batch:]), pad)

    def fed(name: str) -> str:  # the graph input a request input feeds
        return text_names[name].ids_input if name in text_names else name

    chosen: dict[str, Slot] = {}  # graph input -> slot
    for column, name in explicit.items():
        if column not in columns:
            raise PlanError(f"--columns {column}={name}: no column {column!r}; columns: {', '.join(columns)}")  # fmt: skip
        if name not in graph and name not in text_names:
            known = ", ".join([*text_names, *graph])
            raise PlanError(f"--columns {column}={name}: model {model!r} has no input {name!r}; inputs: {known}")  # fmt: skip
        if fed(name) in chosen:
            raise PlanError(f"--columns: input {fed(name)!r} is fed twice")
        chosen[fed(name)] = slot(column, name)
    used = {s.column for s in chosen.values()}
    for name in graph:
        if name in chosen:
            continue
        candidates = ([text_for[name].name] if name in text_for else []) + [name]
        for candidate in candidates:
            if candidate in columns and candidate not in used and candidate != id_col:
                chosen[name] = slot(candidate, candidate)
                used.add(candidate)
                break
    left = [n for n in graph if n not in chosen]
    unused = [c for c in columns if c not in used and c != id_col]
    if len(left) == 1 and len(unused) == 1:
        name = left[0]
        chosen[name] = slot(unused[0], text_for[name].name if name in text_for else name)
        left = []
    if left:
        wanted = [f"{text_for[n].name} (or {n})" if n in text_for else n for n in left]
        raise PlanError(
            f"cannot tell which column feeds input(s) {', '.join(wanted)} of model {model!r}; "
            f"unused columns: {', '.join(unused) or 'none'}; give --columns COLUMN=INPUT"
        )
    return [chosen[n] for n in graph]


def _outputs(
    model: str, io: ModelIO, attention: bool, requested: Sequence[str] | None
) -> list[Output]:
    batch = 1 if io.max_batch_size > 0 else 0
    specs = {t.name: t for t in io.outputs}
    available: dict[str, Output] = {}
    hidden = set()
    for t in io.text_outputs:
        if t.ids_output in specs:
            rank = len(specs[t.ids_output].shape) - 1 - batch
            available[t.name] = Output(t.name, "BYTES", max(rank, 0))
            hidden.add(t.ids_output)
    for spec in io.outputs:
        available[spec.name] = Output(spec.name, spec.datatype, len(spec.shape) - batch)
    if requested:
        unknown = [n for n in requested if n not in available]
        if unknown:
            raise PlanError(f"model {model!r} has no output {', '.join(unknown)}; outputs: {', '.join(available)}")  # fmt: skip
        return [available[n] for n in dict.fromkeys(requested)]
    return [
        o
        for name, o in available.items()
        if name not in hidden and (attention or not is_attention(name))
    ]


# ---- rows <-> tensors ----


def row_arrays(plan: Plan, values: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """One row's tensors, without the batch dimension; RowError says what is wrong."""
    out: dict[str, np.ndarray] = {}
    for slot in plan.slots:
        value = values.get(slot.column)
        if value is None or value == "":
            raise RowError(f"column {slot.column!r} is empty")
        if slot.text:
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if not isinstance(value, str):
                raise RowError(f"column {slot.column!r}: expected text for input {slot.input!r}")
            array = np.empty((), dtype=object)
            array[()] = value.encode("utf-8")
            out[slot.input] = array
            continue
        if isinstance(value, str):  # CSV cells hold tensors as JSON
            try:
                value = json.loads(value)
            except ValueError:
                raise RowError(f"column {slot.column!r}: not a number or a JSON list") from None
        try:
            array = np.asarray(value, dtype=NUMPY[slot.datatype])
        except (TypeError, ValueError, OverflowError) as error:
            raise RowError(
                f"column {slot.column!r}: not {slot.datatype} values ({error})"
            ) from None
        shape: tuple[int, ...] = array.shape
        if len(shape) != len(slot.shape) or any(
            want >= 0 and got != want for got, want in zip(shape, slot.shape, strict=True)
        ):
            raise RowError(
                f"column {slot.column!r}: shape {list(array.shape)}, input {slot.input!r} takes "
                f"{list(slot.shape)} per row (-1: any)"
            )
        out[slot.input] = array
    return out


def groups(plan: Plan, rows: Sequence[dict[str, np.ndarray]]) -> list[list[int]]:
    """Positions of ``rows`` sent together, in order; each group one request."""
    if not plan.batched:
        return [[i] for i in range(len(rows))]
    by_shape: dict[tuple[Any, ...], list[int]] = {}
    for i, arrays in enumerate(rows):
        key = tuple(
            arrays[s.input].ndim if s.pad is not None else arrays[s.input].shape for s in plan.slots
        )
        by_shape.setdefault(key, []).append(i)
    size = plan.max_batch_size
    return [g[k : k + size] for g in by_shape.values() for k in range(0, len(g), size)]


def stack(plan: Plan, rows: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One request's tensors: rows stacked on a new batch axis (padded where the slot pads)."""
    if not plan.batched:
        (only,) = rows
        return {s.input: only[s.input] for s in plan.slots}
    out = {}
    for slot in plan.slots:
        arrays = [r[slot.input] for r in rows]
        if slot.pad is not None and arrays[0].ndim:
            shape = tuple(max(a.shape[d] for a in arrays) for d in range(arrays[0].ndim))
            padded = np.full((len(arrays), *shape), slot.pad, dtype=arrays[0].dtype)
            for i, a in enumerate(arrays):
                where: tuple[Any, ...] = (i, *(slice(0, n) for n in a.shape))
                padded[where] = a
            out[slot.input] = padded
        else:
            out[slot.input] = np.stack(arrays)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def result_values(plan: Plan, result: Mapping[str, np.ndarray], n: int) -> list[dict[str, Any]]:
    """Each of the request's ``n`` rows' output values (JSON-ready: lists, str, numbers)."""
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for output in plan.outputs:
        array = result[output.name]
        if plan.batched:
            values = array.tolist()
            if len(values) != n:
                raise RowError(f"output {output.name!r} has {len(values)} rows for {n} inputs")
        else:
            values = [array.tolist()]
        for row, value in zip(rows, values, strict=True):
            row[output.name] = _plain(value) if output.datatype == "BYTES" else value
    return rows
