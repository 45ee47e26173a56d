"""Health, reflection, metrics, repository index and load/unload, a corrupt model among good
ones, and graceful shutdown on SIGTERM (in a subprocess: `python -m attentive serve`)."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from protos.gen.inference import grpc_service_pb2 as pb
from protos.gen.inference import grpc_service_pb2_grpc as pb_grpc
from server.grpc.app import BackgroundServer
from taxonomy.query import CardEntry
from tests.server import fake_repository
from tests.server.helpers import example_request, infer_request, outputs_of

ROOT = Path(__file__).resolve().parents[2]


def test_health_serving(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "inference.GRPCInferenceService", "attentive.taxonomy.v1.TaxonomyService"):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING, service


def test_reflection_lists_the_services(channel: grpc.Channel) -> None:
    database = ProtoReflectionDescriptorDatabase(channel)
    services = set(database.get_services())
    assert {
        "inference.GRPCInferenceService",
        "attentive.taxonomy.v1.TaxonomyService",
        "grpc.health.v1.Health",
    } <= services
    infer = database.FindFileContainingSymbol("inference.GRPCInferenceService")
    assert infer.name == "inference/grpc_service.proto"
    assert "ModelInfer" in [m.name for m in infer.service[0].method]


def _metrics(port: int) -> dict[tuple[str, str], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r'^(\w+)\{model="([^"]+)",version="[^"]*"[^}]*\} (\S+)$', line)
        if m:
            out[(m.group(1), m.group(2))] = float(m.group(3))
    return out


def test_metrics_move_after_requests(
    server: BackgroundServer, stub: pb_grpc.GRPCInferenceServiceStub, zoo: list[CardEntry]
) -> None:
    assert server.metrics_port
    entry = zoo[0]
    example = entry.card.examples[0]  # type: ignore[union-attr]
    before = _metrics(server.metrics_port)
    stub.ModelInfer(example_request(entry, example), timeout=30)
    bad = infer_request(entry.name, {"bogus": np.zeros(1, np.float32)})
    with pytest.raises(grpc.RpcError):
        stub.ModelInfer(bad, timeout=30)
    after = _metrics(server.metrics_port)

    def delta(name: str) -> float:
        return after[(name, entry.name)] - before.get((name, entry.name), 0.0)

    batch = example.inputs[0].shape[0] if entry.card.io.max_batch_size > 0 else 1  # type: ignore[union-attr]
    assert delta("nv_inference_request_success") == 1
    assert delta("nv_inference_request_failure") == 1
    assert delta("nv_inference_exec_count") == 1
    assert delta("nv_inference_count") == batch
    assert delta("nv_inference_request_duration_us") > 0
    assert delta("nv_inference_compute_infer_duration_us") > 0
    assert ("nv_inference_queue_duration_us", entry.name) in after


def test_corrupt_model_is_reported_and_the_others_serve(
    stub: pb_grpc.GRPCInferenceServiceStub, zoo: list[CardEntry], roles: dict[str, str]
) -> None:
    index = {
        m.name: m for m in stub.RepositoryIndex(pb.RepositoryIndexRequest(), timeout=10).models
    }
    broken = index[roles["corrupt"]]
    assert broken.state == "UNAVAILABLE"
    assert "failed to load" in broken.reason
    for entry in zoo:
        assert index[entry.name].state == "READY"
        assert stub.ModelReady(pb.ModelReadyRequest(name=entry.name), timeout=10).ready
    assert not stub.ModelReady(pb.ModelReadyRequest(name=roles["corrupt"]), timeout=10).ready
    assert stub.ServerReady(pb.ServerReadyRequest(), timeout=10).ready
    ready_only = stub.RepositoryIndex(pb.RepositoryIndexRequest(ready=True), timeout=10).models
    assert roles["corrupt"] not in {m.name for m in ready_only}


def test_unload_and_load(stub: pb_grpc.GRPCInferenceServiceStub, roles: dict[str, str]) -> None:
    name = roles["plain"]
    request = infer_request(name, {"x": np.ones((1, 4), np.float32)})
    stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name=name), timeout=10)
    assert not stub.ModelReady(pb.ModelReadyRequest(name=name), timeout=10).ready
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name=name), timeout=60)
    assert stub.ModelReady(pb.ModelReadyRequest(name=name), timeout=10).ready
    np.testing.assert_array_equal(outputs_of(stub.ModelInfer(request, timeout=10))["y"], 3.0)
    with pytest.raises(grpc.RpcError) as caught:
        stub.RepositoryModelLoad(
            pb.RepositoryModelLoadRequest(model_name=roles["corrupt"]), timeout=60
        )
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_typed_contents_and_output_selection(
    stub: pb_grpc.GRPCInferenceServiceStub, zoo: list[CardEntry]
) -> None:
    for entry in zoo:
        card = entry.card
        assert card is not None
        example = next(e for e in card.examples if all(t.datatype != "BYTES" for t in e.inputs))
        raw = outputs_of(stub.ModelInfer(example_request(entry, example), timeout=30))
        typed_request = example_request(entry, example, raw=False)
        last = card.io.outputs[-1].name
        typed_request.outputs.add(name=last)
        typed = outputs_of(stub.ModelInfer(typed_request, timeout=30))
        assert list(typed) == [last]
        np.testing.assert_array_equal(typed[last], raw[last])


# ---- graceful shutdown ----


@pytest.fixture
def serve_process(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`attentive serve` in a subprocess over the slow model; the grace period (default 60 s)
    can be set with ``@pytest.mark.parametrize("serve_process", [seconds], indirect=True)``."""
    repository = tmp_path / "repository"
    fake_repository.slow_model(repository / fake_repository.SLOW)
    grace = str(getattr(request, "param", 60))
    env = dict(os.environ, ATTENTIVE_GRACE_PERIOD_S=grace, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "attentive", "serve", "--repository", str(repository),
         "--host", "127.0.0.1", "--port", "0", "--no-metrics", "--log-level", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    port = 0
    deadline = time.monotonic() + 60
    while not port and time.monotonic() < deadline:
        try:
            line = lines.get(timeout=deadline - time.monotonic())
        except queue.Empty:
            break
        found = re.search(r"listening on [\w.]+:(\d+)", line)
        port = int(found.group(1)) if found else 0
    try:
        assert port, "server did not print where it listens"
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def test_sigterm_lets_the_in_flight_request_finish(
    serve_process: tuple[subprocess.Popen[str], int],
) -> None:
    process, port = serve_process
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        # ~2-3 s of work on one CPU core; the request is in flight while we signal.
        slow = infer_request(fake_repository.SLOW, {"iterations": np.array([60_000], np.int64)})
        in_flight = stub.ModelInfer.future(slow, timeout=120)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until the server has the request
            stats = stub.ModelStatistics(
                pb.ModelStatisticsRequest(name=fake_repository.SLOW), timeout=10
            )
            if stats.model_stats[0].inference_stats.compute_input.count >= 1:
                break
        assert not in_flight.done()
        process.send_signal(signal.SIGTERM)
        while time.monotonic() < deadline:  # wait until it stops accepting
            try:
                check = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            except grpc.RpcError:
                break
            if check.status != health_pb2.HealthCheckResponse.SERVING:
                break
        quick = infer_request(fake_repository.SLOW, {"iterations": np.array([1], np.int64)})
        with pytest.raises(grpc.RpcError) as refused:
            stub.ModelInfer(quick, timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        finished = in_flight.result(timeout=120)
        assert list(finished.outputs[0].shape) == [96, 96]
    assert process.wait(timeout=60) == 0


def _wait_until_running(stub: pb_grpc.GRPCInferenceServiceStub, count: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        stats = stub.ModelStatistics(
            pb.ModelStatisticsRequest(name=fake_repository.SLOW), timeout=10
        )
        if stats.model_stats[0].inference_stats.compute_input.count >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"the server never had {count} requests")


def test_sigterm_under_load_finishes_in_flight_refuses_new_and_exits_0(
    serve_process: tuple[subprocess.Popen[str], int],
) -> None:
    """Three long requests in flight (of four workers) and a client sending short ones without
    pause: after SIGTERM the long ones all finish, the client hears UNAVAILABLE while they do
    (the drain), and the exit code is 0. Once drained, the server closes its transport: from
    then on grpc answers (UNAVAILABLE, or CANCELLED for a call that races the close)."""
    process, port = serve_process
    outcomes: list[tuple[float, grpc.StatusCode]] = []
    stop = threading.Event()
    quick = infer_request(fake_repository.SLOW, {"iterations": np.array([1], np.int64)})

    def pressure() -> None:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = pb_grpc.GRPCInferenceServiceStub(ch)
            while not stop.is_set():
                try:
                    stub.ModelInfer(quick, timeout=30)
                    outcomes.append((time.monotonic(), grpc.StatusCode.OK))
                except grpc.RpcError as error:
                    outcomes.append((time.monotonic(), error.code()))  # type: ignore[attr-defined]
                    time.sleep(0.01)

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        slow = infer_request(fake_repository.SLOW, {"iterations": np.array([40_000], np.int64)})
        long_ones = [stub.ModelInfer.future(slow, timeout=120) for _ in range(3)]
        _wait_until_running(stub, 3)
        thread = threading.Thread(target=pressure)
        thread.start()
        while not outcomes:
            time.sleep(0.01)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        for future in long_ones:
            assert list(future.result(timeout=120).outputs[0].shape) == [96, 96]
        drained = time.monotonic()
        assert process.wait(timeout=60) == 0
        stop.set()
        thread.join(30)
    assert time.monotonic() - signalled < 60  # within the grace period
    before = [code for at, code in outcomes if at < signalled]
    after = [code for at, code in outcomes if signalled + 0.5 < at < drained - 0.2]
    assert before and set(before) == {grpc.StatusCode.OK}
    assert after and set(after) == {grpc.StatusCode.UNAVAILABLE}, set(after)


@pytest.mark.parametrize("serve_process", [2.0], indirect=True)
def test_sigterm_past_the_grace_period_cancels_the_rest_and_exits_0(
    serve_process: tuple[subprocess.Popen[str], int],
) -> None:
    process, port = serve_process
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        endless = infer_request(fake_repository.SLOW, {"iterations": np.array([10**9], np.int64)})
        in_flight = stub.ModelInfer.future(endless, timeout=300)
        _wait_until_running(stub, 1)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert time.monotonic() - signalled < 20  # the grace (2 s), then onnxruntime is stopped
        with pytest.raises(grpc.RpcError) as caught:
            in_flight.result(timeout=30)
        assert caught.value.code() in {grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE}
