"""The batch job: rows in chunks of ``batch_size`` (numbered from the file's start, so a resumed
job cuts the same chunks), each chunk's requests in flight with at most ``concurrency`` requests
at once and ``2 x concurrency`` chunks ahead of the writer, results appended strictly in input
order, commits (fsync, then the journal) at most every ``commit_interval_s`` and on the way out.

A request the server rejects (INVALID_ARGUMENT, ...) is sent again row by row; the rows that are
rejected alone go to the errors file with the code and message, the others to the output.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc
import numpy as np

from attentive.batch import formats, journal, plan, sender
from attentive.batch.progress import Progress


@dataclass
class Job:
    model: str
    input: Path
    output: Path
    servers: list[str]
    columns: dict[str, str] = field(default_factory=dict)
    attention: bool = False
    outputs: list[str] | None = None
    batch_size: int = 32
    concurrency: int = 4
    id_column: str = plan.ID
    errors: Path | None = None
    journal: Path | None = None
    input_format: str | None = None
    output_format: str | None = None
    restart: bool = False
    timeout: float = 60.0
    retries: int = 8
    token: str | None = None
    progress: bool | None = None  # None: when stderr is a terminal
    commit_interval_s: float = 0.5

    @property
    def errors_path(self) -> Path:
        return self.errors or self.output.with_name(self.output.name + ".errors.jsonl")

    @property
    def journal_path(self) -> Path:
        return self.journal or self.output.with_name(self.output.name + ".journal")


@dataclass
class Summary:
    total: int
    rows: int  # rows done by this run
    ok: int
    errors: int  # rejected rows by this run
    seconds: float
    resumed_at: int = 0
    complete: bool = False
    already_complete: bool = False
    retries: int = 0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Chunk:
    output: bytes
    errors: bytes
    rows: int
    rejected: int


class _Appender:
    """A file the job appends to, opened at its committed length (the tail past it dropped)."""

    def __init__(self, path: Path, committed: int, fresh: bool) -> None:
        if fresh:
            self.file: IO[bytes] = path.open("wb")
        else:
            size = path.stat().st_size if path.exists() else -1
            if size < committed:
                raise journal.JournalMismatch(
                    f"{path} holds {max(size, 0)} bytes, fewer than the {committed} the journal "
                    "committed; rerun with --restart to start over"
                )
            self.file = path.open("r+b")
            self.file.truncate(committed)
            self.file.seek(committed)

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def sync(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()


def _chunks(rows: Iterator[formats.Row], start: int, size: int) -> Iterator[list[formats.Row]]:
    """Chunks aligned to multiples of ``size`` from the file's first row."""
    chunk: list[formats.Row] = []
    limit = size - start % size
    for row in rows:
        chunk.append(row)
        if len(chunk) == limit:
            yield chunk
            chunk, limit = [], size
    if chunk:
        yield chunk


def _id(p: plan.Plan, row: formats.Row) -> Any:
    if p.id_column is None or row.values is None:
        return row.index
    value = row.values.get(p.id_column)
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


class Runner:
    def __init__(self, job: Job, p: plan.Plan, send: sender.Sender, fmt: str) -> None:
        self.job, self.plan, self.send = job, p, send
        self.encoder = formats.encoder(fmt, p.columns)

    async def _send(
        self, positions: list[int], arrays: list[dict[str, np.ndarray]]
    ) -> dict[int, dict[str, Any] | tuple[str, str]]:
        try:
            result = await self.send.infer(plan.stack(self.plan, arrays))
        except sender.Rejected as rejected:
            if len(positions) == 1:
                return {positions[0]: (rejected.code.name, rejected.message)}
            alone = await asyncio.gather(
                *(self._send([p], [a]) for p, a in zip(positions, arrays, strict=True))
            )
            return {k: v for answer in alone for k, v in answer.items()}
        try:
            values = plan.result_values(self.plan, result, len(positions))
        except plan.RowError as error:
            raise sender.Fatal(f"model {self.plan.model!r}: {error}") from None
        return dict(zip(positions, values, strict=True))

    async def process(self, chunk: list[formats.Row]) -> _Chunk:
        answers: dict[int, dict[str, Any] | tuple[str, str]] = {}
        good: list[int] = []
        arrays: list[dict[str, np.ndarray]] = []
        for pos, row in enumerate(chunk):
            if row.values is None:
                answers[pos] = (grpc.StatusCode.INVALID_ARGUMENT.name, row.problem or "unreadable row")  # fmt: skip
                continue
            try:
                arrays.append(plan.row_arrays(self.plan, row.values))
                good.append(pos)
            except plan.RowError as error:
                answers[pos] = (grpc.StatusCode.INVALID_ARGUMENT.name, str(error))
        requests = plan.groups(self.plan, arrays)
        sent = await asyncio.gather(
            *(self._send([good[i] for i in g], [arrays[i] for i in g]) for g in requests)
        )
        for group_answers in sent:
            answers.update(group_answers)
        out, err, rejected = bytearray(), bytearray(), 0
        for pos, row in enumerate(chunk):
            answer, row_id = answers[pos], _id(self.plan, row)
            if isinstance(answer, tuple):
                rejected += 1
                record = {"id": row_id, "row": row.index, "code": answer[0], "message": answer[1]}
                err += formats.JsonlEncoder().encode(record)
            else:
                out += self.encoder.encode({plan.ID: row_id, **answer})
        return _Chunk(bytes(out), bytes(err), len(chunk), rejected)


async def _run(job: Job) -> Summary:
    in_fmt = job.input_format or formats.format_of(job.input)
    out_fmt = job.output_format or formats.format_of(job.output, fallback=in_fmt)
    for fmt in (in_fmt, out_fmt):
        if fmt not in formats.FORMATS:
            raise ValueError(f"unknown format {fmt!r}; formats: {', '.join(formats.FORMATS)}")
    columns = formats.columns(job.input, in_fmt)
    chan = sender.channel(job.servers)
    try:
        send = sender.Sender(
            chan,
            job.model,
            concurrency=job.concurrency,
            timeout=job.timeout,
            retries=job.retries,
            token=job.token,
            on_retry=_say_retry,
        )
        io = await send.model_io()
        p = plan.make(
            job.model, io, columns, job.columns, job.attention, job.outputs, job.id_column
        )
        send.outputs = [o.name for o in p.outputs]
        return await _resume(job, p, send, in_fmt, out_fmt)
    finally:
        await chan.close()


def _say_retry(code: grpc.StatusCode, message: str, delay: float) -> None:
    print(f"\nattentive batch: {code.name} ({message}); retrying in {delay:.1f}s", file=sys.stderr)


async def _resume(
    job: Job, p: plan.Plan, send: sender.Sender, in_fmt: str, out_fmt: str
) -> Summary:
    arguments = {
        "plan": p.describe(),
        "batch_size": job.batch_size,
        "input_format": in_fmt,
        "output_format": out_fmt,
        "output": str(job.output.resolve()),
    }
    job_id = journal.fingerprint(arguments, job.input)
    path = job.journal_path
    if job.restart:
        path.unlink(missing_ok=True)
    state = journal.load(path, job_id)
    staging = job.output.with_name(job.output.name + ".staging.jsonl")
    target = staging if out_fmt == "parquet" else job.output
    if state is not None and state.complete:
        staging.unlink(missing_ok=True)
        return Summary(state.total, 0, 0, 0, 0.0, state.rows, True, True)
    fresh = state is None
    if state is None:
        state = journal.State(job=job_id, total=formats.count(job.input, in_fmt))
    out = _Appender(target, state.output_bytes, fresh)
    err = _Appender(job.errors_path, state.errors_bytes, fresh)
    runner = Runner(job, p, send, out_fmt)
    resumed_at, started = state.rows, time.monotonic()
    progress = Progress(state.total, state.rows, enabled=job.progress)
    ok = rejected = 0

    def commit() -> None:
        out.sync()
        err.sync()
        journal.commit(path, state)

    try:
        if fresh:
            header = runner.encoder.header()
            out.write(header)
            state.output_bytes = len(header)
            commit()
        last = time.monotonic()
        window: deque[asyncio.Task[_Chunk]] = deque()

        def write(done: _Chunk) -> None:
            nonlocal ok, rejected, last
            out.write(done.output)
            err.write(done.errors)
            state.rows += done.rows
            state.output_bytes += len(done.output)
            state.errors_bytes += len(done.errors)
            state.errors += done.rejected
            ok, rejected = ok + done.rows - done.rejected, rejected + done.rejected
            progress.update(done.rows, done.rejected)
            if time.monotonic() - last >= job.commit_interval_s:
                commit()
                last = time.monotonic()

        try:
            rows = formats.rows(job.input, in_fmt, start=state.rows)
            for chunk in _chunks(rows, state.rows, job.batch_size):
                window.append(asyncio.ensure_future(runner.process(chunk)))
                while len(window) >= 2 * job.concurrency:
                    write(await window.popleft())
            while window:
                write(await window.popleft())
        finally:
            for task in window:
                task.cancel()
            commit()  # whatever was written in order is kept, also when the job stops early
        if state.rows != state.total:
            raise sender.Fatal(f"{job.input} has {state.rows} rows, {state.total} when the job began")  # fmt: skip
        if out_fmt == "parquet":
            types = {plan.ID: None, **{o.name: formats.arrow_type(o.datatype, o.rank) for o in p.outputs}}  # fmt: skip
            formats.write_parquet(staging, job.output, types)
        state.complete = True
        commit()
    finally:
        progress.close()
        out.close()
        err.close()
    if out_fmt == "parquet":
        staging.unlink(missing_ok=True)
    seconds = time.monotonic() - started
    return Summary(
        state.total, state.rows - resumed_at, ok, rejected, seconds, resumed_at, True,
        retries=send.retried,
    )  # fmt: skip


def run(job: Job) -> Summary:
    return asyncio.run(_run(job))


def summary_line(job: Job, summary: Summary) -> str:
    if summary.already_complete:
        return (
            f"attentive batch: {job.output} is already complete ({summary.total} rows); "
            "--restart to score again"
        )
    resumed = f", resumed at row {summary.resumed_at}" if summary.resumed_at else ""
    errors = f" -> {job.errors_path}" if summary.errors else ""
    return (
        f"attentive batch: {summary.rows} rows ({summary.ok} ok, {summary.errors} errors{errors}) "
        f"in {summary.seconds:.1f}s, {summary.rows_per_s:,.0f} rows/s{resumed} -> {job.output}"
    )


def dumps(summary: Summary) -> str:
    return json.dumps(summary.__dict__ | {"rows_per_s": summary.rows_per_s})
