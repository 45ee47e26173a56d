"""Faults, each on a private server over its own repository (the session's is shared): reloads
under load lose no request and in-flight requests finish on the version they started on; a
corrupt, truncated or missing model file makes that model unavailable with the reason while the
others serve, and fixing it plus a load brings it back; a cancelled client's work is stopped and
nothing stays counted. (SIGTERM under load: test_lifecycle.py, with the server in a subprocess.)"""

from __future__ import annotations

import shutil
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest

from protos.gen.inference import grpc_service_pb2 as pb
from protos.gen.inference import grpc_service_pb2_grpc as pb_grpc
from server.grpc.app import BackgroundServer
from tests.server import fake_repository
from tests.server.conftest import CLIENT_OPTIONS, server_settings
from tests.server.helpers import infer_request, outputs_of

PLAIN, SLOW = fake_repository.PLAIN, fake_repository.SLOW
X = np.arange(8, dtype=np.float32).reshape(2, 4)


@dataclass
class Private:
    server: BackgroundServer
    stub: pb_grpc.GRPCInferenceServiceStub
    repository: Path

    def load(self, name: str) -> None:
        self.stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name=name), timeout=60)

    def unload(self, name: str) -> None:
        self.stub.RepositoryModelUnload(
            pb.RepositoryModelUnloadRequest(model_name=name), timeout=60
        )

    def index(self) -> dict[str, pb.RepositoryIndexResponse.ModelIndex]:
        models = self.stub.RepositoryIndex(pb.RepositoryIndexRequest(), timeout=10).models
        return {m.name: m for m in models}

    def affine(self) -> np.ndarray:
        return outputs_of(self.stub.ModelInfer(infer_request(PLAIN, {"x": X}), timeout=30))["y"]


@pytest.fixture
def private(tmp_path: Path) -> Iterator[Private]:
    repository = tmp_path / "repository"
    fake_repository.plain_model(repository / PLAIN)
    fake_repository.slow_model(repository / SLOW)
    settings = server_settings(repository, inference_workers=4)
    with (
        BackgroundServer(settings) as server,
        grpc.insecure_channel(f"127.0.0.1:{server.port}", options=CLIENT_OPTIONS) as channel,
    ):
        yield Private(server, pb_grpc.GRPCInferenceServiceStub(channel), repository)


def _slow(iterations: int) -> pb.ModelInferRequest:
    return infer_request(SLOW, {"iterations": np.array([iterations], np.int64)})


def _wait(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)
    assert condition(), "condition not reached"  # type: ignore[operator]


def test_reloads_under_load_fail_no_request(private: Private) -> None:
    failures: list[str] = []
    answered = [0]
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            try:
                np.testing.assert_array_equal(private.affine(), 2 * X + 1)
                answered[0] += 1
            except (grpc.RpcError, AssertionError) as error:
                failures.append(repr(error))

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        for _ in range(8):
            private.load(PLAIN)
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert failures == []
    assert answered[0] > 20
    assert private.index()[PLAIN].state == "READY"


def test_in_flight_requests_finish_on_their_version(private: Private, tmp_path: Path) -> None:
    in_flight = private.stub.ModelInfer.future(_slow(30_000), timeout=120)
    plane = private.server.app.plane  # type: ignore[union-attr]
    _wait(lambda: plane.model(SLOW).running == 1)
    # version 2 (64 x 64) appears on disk and is loaded while version 1 is running
    staged = tmp_path / "staged" / SLOW
    fake_repository.slow_model(staged, size=64)
    (private.repository / SLOW / "2").mkdir()
    shutil.copy(staged / "1" / "model.onnx", private.repository / SLOW / "2" / "model.onnx")
    shutil.copy(staged / "config.pbtxt", private.repository / SLOW / "config.pbtxt")
    private.load(SLOW)
    assert not in_flight.done()
    fresh = private.stub.ModelInfer(_slow(2), timeout=30)
    assert fresh.model_version == "2" and list(fresh.outputs[0].shape) == [64, 64]
    finished = in_flight.result(timeout=120)
    assert finished.model_version == "1" and list(finished.outputs[0].shape) == [96, 96]


def test_unload_lets_in_flight_requests_finish(private: Private) -> None:
    in_flight = private.stub.ModelInfer.future(_slow(20_000), timeout=120)
    plane = private.server.app.plane  # type: ignore[union-attr]
    _wait(lambda: plane.model(SLOW).running == 1)
    private.unload(SLOW)
    with pytest.raises(grpc.RpcError) as caught:
        private.stub.ModelInfer(_slow(1), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    assert list(in_flight.result(timeout=120).outputs[0].shape) == [96, 96]
    private.load(SLOW)
    assert private.stub.ModelInfer(_slow(1), timeout=30).outputs


BREAKAGES = {
    "truncated": lambda path, good: path.write_bytes(good[: len(good) // 2]),
    "corrupt": lambda path, good: path.write_bytes(b"\x08\x07garbage" + good[::7]),
    "missing": lambda path, good: path.unlink(),
    "empty": lambda path, good: path.write_bytes(b""),
}
REASONS = {
    "truncated": "model.onnx",
    "corrupt": "model.onnx",
    "missing": "does not exist",
    "empty": "model.onnx",
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_broken_model_file_is_unavailable_with_its_reason_and_comes_back(
    private: Private, breakage: str
) -> None:
    path = private.repository / PLAIN / "1" / "model.onnx"
    good = path.read_bytes()
    BREAKAGES[breakage](path, good)
    # A reload of a serving model that fails keeps the previous load serving.
    with pytest.raises(grpc.RpcError) as caught:
        private.load(PLAIN)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    assert "reload failed" in caught.value.details()  # type: ignore[attr-defined]
    assert REASONS[breakage] in caught.value.details()  # type: ignore[attr-defined]
    np.testing.assert_array_equal(private.affine(), 2 * X + 1)
    assert "reload failed" in private.index()[PLAIN].reason
    # Unloaded, it cannot come back while the file is broken; the other model serves on.
    private.unload(PLAIN)
    with pytest.raises(grpc.RpcError) as caught:
        private.load(PLAIN)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    entry = private.index()[PLAIN]
    assert entry.state == "UNAVAILABLE" and REASONS[breakage] in entry.reason, entry.reason
    assert str(private.repository) not in entry.reason  # repository paths only, no server layout
    with pytest.raises(grpc.RpcError) as caught:
        private.affine()
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    assert REASONS[breakage] in caught.value.details()  # type: ignore[attr-defined]
    assert private.stub.ModelInfer(_slow(2), timeout=30).outputs
    # Fixed on disk and loaded again: back.
    path.write_bytes(good)
    private.load(PLAIN)
    assert private.index()[PLAIN].state == "READY"
    np.testing.assert_array_equal(private.affine(), 2 * X + 1)


def test_a_model_broken_at_startup_is_reported_and_the_others_serve(tmp_path: Path) -> None:
    repository = tmp_path / "repository"
    fake_repository.plain_model(repository / PLAIN)
    fake_repository.slow_model(repository / SLOW)
    model = repository / SLOW / "1" / "model.onnx"
    good = model.read_bytes()
    model.write_bytes(good[: len(good) // 3])
    with (
        BackgroundServer(server_settings(repository, metrics_port=None)) as server,
        grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        private = Private(server, pb_grpc.GRPCInferenceServiceStub(channel), repository)
        entry = private.index()[SLOW]
        assert entry.state == "UNAVAILABLE" and "model.onnx" in entry.reason
        np.testing.assert_array_equal(private.affine(), 2 * X + 1)
        model.write_bytes(good)
        private.load(SLOW)
        assert private.stub.ModelInfer(_slow(2), timeout=30).outputs


def _gauges(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(("nv_inference_pending_request_count", "attentive_inference_in_flight")):
            name, value = line.rsplit(" ", 1)
            out[name] = out.get(name, 0.0) + float(value)
    return out


def test_a_cancelled_client_stops_the_work_and_leaks_nothing(private: Private) -> None:
    plane = private.server.app.plane  # type: ignore[union-attr]
    port = private.server.metrics_port
    assert port
    calls = [private.stub.ModelInfer.future(_slow(10_000_000), timeout=120) for _ in range(3)]
    _wait(lambda: plane.model(SLOW).running == 3)
    assert any(v >= 3 for v in _gauges(port).values())
    for call in calls:
        call.cancel()
    # onnxruntime is told to stop: the runs end, the worker threads are free, nothing is counted
    _wait(lambda: plane.model(SLOW).running == 0 and plane.inflight == 0)
    assert sum(plane.pending.values()) == 0
    assert all(v == 0 for v in _gauges(port).values()), _gauges(port)
    started = time.monotonic()
    for _ in range(4):  # every worker is free again
        np.testing.assert_array_equal(private.affine(), 2 * X + 1)
    assert time.monotonic() - started < 10


def test_a_passed_deadline_stops_the_work_and_leaks_nothing(private: Private) -> None:
    plane = private.server.app.plane  # type: ignore[union-attr]
    with pytest.raises(grpc.RpcError) as caught:
        private.stub.ModelInfer(_slow(10_000_000), timeout=0.5)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
    _wait(lambda: plane.model(SLOW).running == 0 and plane.inflight == 0)
    # the request's own timeout parameter (Triton's, microseconds) works the same way
    request = _slow(10_000_000)
    request.parameters["timeout"].int64_param = 300_000
    with pytest.raises(grpc.RpcError) as caught:
        private.stub.ModelInfer(request, timeout=60)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
    _wait(lambda: plane.model(SLOW).running == 0 and plane.inflight == 0)
    assert sum(plane.pending.values()) == 0
