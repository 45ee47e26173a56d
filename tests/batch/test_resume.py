"""Exactly once across kills: the same job SIGKILLed at random moments, over and over, and rerun
ends with output and errors files byte-identical to an uninterrupted run; a server that starts
late, or stops and comes back mid-job, is retried (UNAVAILABLE) rather than skipped."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

from protos.gen.inference import grpc_service_pb2 as pb
from protos.gen.inference import grpc_service_pb2_grpc as pb_grpc
from server import codecs
from server.grpc.app import BackgroundServer
from tests.batch.conftest import (
    ROOT,
    batch_command,
    env,
    free_port,
    read_jsonl,
    run_batch,
    sentences,
    settings,
    translation,
    write_input,
    write_jsonl,
)
from tests.server import fake_repository

MODEL = fake_repository.TRANSLATOR


def committed(journal: Path) -> dict[str, int]:
    try:
        return json.loads(journal.read_text())
    except (OSError, ValueError):
        return {}


def start(argv: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        batch_command(*argv), cwd=ROOT, env=env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


# CSV appends like JSONL (same journal, same truncation): in the slow suite only.
@pytest.mark.parametrize("fmt", ["jsonl", pytest.param("csv", marks=pytest.mark.slow), "parquet"])
def test_sigkilled_at_random_moments_then_resumed_is_byte_identical(
    tmp_path: Path, address: str, fmt: str
) -> None:
    _kill_and_resume(tmp_path, address, fmt)


def test_sigkilled_and_resumed_under_load_from_other_clients(tmp_path: Path, address: str) -> None:
    """The same, while 8 other clients keep the server busy: still every row exactly once, and
    the other clients' requests all answered."""
    stop = threading.Event()
    answered, failed = [0], [0]

    def client() -> None:
        with grpc.insecure_channel(address) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            request = pb.ModelInferRequest(model_name=MODEL)
            request.inputs.add(name="source_text", datatype="BYTES", shape=[1])
            request.raw_input_contents.append(codecs.to_raw(np.array([b"a cat"], dtype=object)))
            while not stop.is_set():
                try:
                    stub.ModelInfer(request, timeout=30)
                    answered[0] += 1
                except grpc.RpcError:
                    failed[0] += 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        _kill_and_resume(tmp_path, address, "jsonl")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert answered[0] > 0 and failed[0] == 0


def _kill_and_resume(tmp_path: Path, address: str, fmt: str) -> None:
    rows = sentences(1500, seed=11)
    rows[123]["text"] = " ".join(["cat"] * 40)  # one rejected row: the errors file resumes too
    source = write_input(tmp_path / f"in.{fmt}", fmt, rows)
    job = ["--model", MODEL, "--input", str(source), "--server", address, "--attention",
           "--batch-size", "8", "--concurrency", "2"]  # fmt: skip
    reference = tmp_path / f"reference.{fmt}"
    started = time.monotonic()
    done = run_batch(*job, "--output", str(reference))
    assert done.returncode == 0, done.stderr
    whole = time.monotonic() - started  # kill delays scale with this machine's speed

    out = tmp_path / f"killed.{fmt}"
    journal = tmp_path / f"killed.{fmt}.journal"
    appended = out if fmt != "parquet" else tmp_path / f"killed.{fmt}.staging.jsonl"
    rng = random.Random(fmt)
    kills = tails = 0
    for _attempt in range(200):
        before = committed(journal).get("rows", -1)
        proc = start([*job, "--output", str(out)])
        if kills >= 3 and tails >= 1:  # killed enough: let this run finish the job
            _, err = proc.communicate()
            assert proc.returncode == 0, err
            break
        if rng.random() < 0.3:  # any moment: also while starting, before the first commit
            deadline = time.monotonic() + rng.uniform(0.02, 0.5) * whole
        else:  # mid-way: once this run has committed new rows, then a little later
            while proc.poll() is None and committed(journal).get("rows", -1) <= before:
                time.sleep(0.005)
            deadline = time.monotonic() + rng.uniform(0.0, 0.05) * whole
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        if proc.poll() is not None:
            _, err = proc.communicate()
            assert proc.returncode == 0, err
            if kills >= 3 and tails >= 1:
                break
            # finished before it was killed enough (a fast machine): the same job from scratch
            for leftover in (out, journal, appended, Path(f"{out}.errors.jsonl")):
                leftover.unlink(missing_ok=True)
            kills = tails = 0
            continue
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        kills += 1
        state = committed(journal)
        if appended.exists() and appended.stat().st_size > state.get("output_bytes", 0):
            tails += 1  # killed with uncommitted bytes on disk: the rerun must drop them
    else:
        pytest.fail("the job did not finish in 200 runs")
    assert kills >= 3, kills
    assert tails >= 1
    assert out.read_bytes() == reference.read_bytes()
    errors = Path(f"{out}.errors.jsonl").read_bytes()
    assert errors == Path(f"{reference}.errors.jsonl").read_bytes()
    assert [e["id"] for e in (json.loads(x) for x in errors.splitlines())] == ["r123"]
    assert not appended.exists() or fmt != "parquet"  # the staging file is gone


def test_server_that_starts_late_is_waited_for(tmp_path: Path, repository: Path) -> None:
    rows = sentences(200, seed=4)
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    port = free_port()
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            batch_command("--model", MODEL, "--input", str(source),
                          "--output", str(tmp_path / "out.jsonl"), "--server", f"127.0.0.1:{port}"),
            cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while "retrying" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
        assert "UNAVAILABLE" in log.read_text()  # no server yet: told, and retried
        with BackgroundServer(settings(repository, port)):
            proc.communicate(timeout=120)
    assert proc.returncode == 0, log.read_text()
    got = read_jsonl(tmp_path / "out.jsonl")
    assert [r["output_text"] for r in got] == [translation(str(r["text"])) for r in rows]


def test_server_stopped_and_restarted_mid_job(
    tmp_path: Path, repository: Path, address: str
) -> None:
    rows = sentences(1500, seed=9)
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    job = ["--model", MODEL, "--input", str(source), "--batch-size", "2", "--concurrency", "1"]
    reference = tmp_path / "reference.jsonl"
    assert run_batch(*job, "--server", address, "--output", str(reference)).returncode == 0
    port = free_port()
    out = tmp_path / "out.jsonl"
    first = BackgroundServer(settings(repository, port)).start()
    proc = start([*job, "--server", f"127.0.0.1:{port}", "--output", str(out)])
    try:
        while committed(Path(f"{out}.journal")).get("rows", 0) < 100:
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.01)
        first.stop()
        time.sleep(1.0)
        with BackgroundServer(settings(repository, port)):
            _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "UNAVAILABLE" in err
    assert committed(Path(f"{out}.journal"))["rows"] == 1500
    assert out.read_bytes() == reference.read_bytes()
