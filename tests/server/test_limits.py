"""The server's limits (ServerSettings' max_*), each on a server started with it set low: a request
over a limit is RESOURCE_EXHAUSTED naming the input and the setting, refused before any model
work (the model's statistics show no execution), and a request within it is answered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest

from protos.gen.inference import grpc_service_pb2 as pb
from protos.gen.inference import grpc_service_pb2_grpc as pb_grpc
from server.errors import RETRY_AFTER
from server.grpc.app import BackgroundServer
from taxonomy.query import CardEntry
from tests.server.conftest import CLIENT_OPTIONS, server_settings
from tests.server.helpers import example_array, first_graph_example, infer_request

BATCH, SEQUENCE, TEXT_BYTES, CONCURRENT = 2, 8, 24, 2


@dataclass
class Limited:
    server: BackgroundServer
    stub: pb_grpc.GRPCInferenceServiceStub
    text: CardEntry | None
    graph: CardEntry | None
    graph_arrays: dict[str, np.ndarray]


def _find(zoo: list[CardEntry], text: bool) -> CardEntry | None:
    for entry in zoo:
        io = entry.card.io  # type: ignore[union-attr]
        single = len(io.inputs) == 1  # one ids input, one text input (not a pair model)
        if text and single and io.text_inputs and io.inputs[0].vocab_size:
            return entry
        if not text and any(t.index_of for t in io.inputs):
            return entry
    return None


@pytest.fixture(scope="module")
def limited(repository: Path, zoo: list[CardEntry]) -> Iterator[Limited]:
    graph = _find(zoo, text=False)
    arrays = {t.name: example_array(t) for t in first_graph_example(graph).inputs} if graph else {}
    edges = next((a for a in arrays.values() if a.ndim == 2 and a.dtype == np.int64), None)
    nodes = next((a for a in arrays.values() if a.dtype == np.float32), None)
    settings = server_settings(
        repository,
        metrics_port=None,
        inference_workers=1,
        max_batch_size=BATCH,
        max_sequence_length=SEQUENCE,
        max_text_bytes=TEXT_BYTES,
        max_concurrent_requests=CONCURRENT,
        max_graph_nodes=nodes.shape[0] if nodes is not None else 10,
        max_graph_edges=edges.shape[1] - 1 if edges is not None else 10,
    )
    with (
        BackgroundServer(settings) as server,
        grpc.insecure_channel(f"127.0.0.1:{server.port}", options=CLIENT_OPTIONS) as channel,
    ):
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        yield Limited(server, stub, _find(zoo, text=True), graph, arrays)


def _executions(stub: pb_grpc.GRPCInferenceServiceStub, model: str) -> int:
    stats = stub.ModelStatistics(pb.ModelStatisticsRequest(name=model), timeout=10)
    return sum(s.execution_count for s in stats.model_stats)


def _refused(limited: Limited, request: pb.ModelInferRequest, *named: str) -> None:
    before = _executions(limited.stub, request.model_name)
    with pytest.raises(grpc.RpcError) as caught:
        limited.stub.ModelInfer(request, timeout=30)
    error: grpc.RpcError = caught.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()  # type: ignore[attr-defined]
    assert RETRY_AFTER not in dict(error.trailing_metadata())  # type: ignore[attr-defined]
    for name in named:
        assert name in error.details(), error.details()  # type: ignore[attr-defined]
    assert _executions(limited.stub, request.model_name) == before  # no model work was done


def _text_model(limited: Limited) -> tuple[str, str, str]:
    if limited.text is None:
        pytest.skip("no text model in the repository")
    io = limited.text.card.io  # type: ignore[union-attr]
    return limited.text.name, io.text_inputs[0].name, io.text_inputs[0].ids_input


def test_batch_limit(limited: Limited) -> None:
    model, _, ids_name = _text_model(limited)
    ids = np.full((BATCH + 1, 4), 4, np.int64)
    _refused(limited, infer_request(model, {ids_name: ids}), ids_name, "max_batch_size")
    assert limited.stub.ModelInfer(infer_request(model, {ids_name: ids[:BATCH]}), timeout=60)


def test_sequence_limit_on_ids_and_on_tokenized_text(limited: Limited) -> None:
    model, text_name, ids_name = _text_model(limited)
    ids = np.full((1, SEQUENCE + 1), 4, np.int64)
    _refused(limited, infer_request(model, {ids_name: ids}), ids_name, "sequence length")
    # SEQUENCE + 1 words: more tokens than the limit whatever the tokenizer adds ([BOS], [EOS]
    # or nothing), in fewer bytes than max_text_bytes
    words = np.array([b" ".join([b"a"] * (SEQUENCE + 1))], dtype=object)
    _refused(limited, infer_request(model, {text_name: words}), ids_name, "sequence length")
    assert limited.stub.ModelInfer(infer_request(model, {ids_name: ids[:, :SEQUENCE]}), timeout=60)


def test_text_bytes_limit(limited: Limited) -> None:
    model, text_name, _ = _text_model(limited)
    long = np.array([b"a" * (TEXT_BYTES + 1)], dtype=object)
    _refused(limited, infer_request(model, {text_name: long}), text_name, "max_text_bytes")
    short = np.array([b"a cat"], dtype=object)
    assert limited.stub.ModelInfer(infer_request(model, {text_name: short}), timeout=60).outputs


def test_graph_node_and_edge_limits(limited: Limited) -> None:
    if limited.graph is None:
        pytest.skip("no graph model in the repository")
    io = limited.graph.card.io  # type: ignore[union-attr]
    index = next(t for t in io.inputs if t.index_of is not None)
    nodes_name, edges_name = index.index_of.input, index.name  # type: ignore[union-attr]
    arrays = limited.graph_arrays
    model = limited.graph.name
    # the example has one edge more than the limit
    _refused(limited, infer_request(model, arrays), edges_name, "graph edges")
    fewer = dict(arrays, **{edges_name: arrays[edges_name][:, :-1]})
    assert limited.stub.ModelInfer(infer_request(model, fewer), timeout=60).outputs
    nodes = arrays[nodes_name]
    more = dict(fewer, **{nodes_name: np.concatenate([nodes, nodes[:1]])})
    _refused(limited, infer_request(model, more), nodes_name, "graph nodes")


def test_concurrency_limit_queues_then_refuses(limited: Limited, roles: dict[str, str]) -> None:
    """Up to max_concurrent_requests are admitted (one runs, the others queue for the single
    inference worker, FIFO); one more is RESOURCE_EXHAUSTED at once; afterwards all is normal."""
    plane = limited.server.app.plane  # type: ignore[union-attr]
    slow = infer_request(roles["slow"], {"iterations": np.array([15_000], np.int64)})
    running = [limited.stub.ModelInfer.future(slow, timeout=120) for _ in range(CONCURRENT)]
    deadline = time.monotonic() + 30
    while plane.inflight < CONCURRENT and time.monotonic() < deadline:
        time.sleep(0.01)
    assert plane.inflight == CONCURRENT
    rejected = plane.rejected
    quick = infer_request(roles["plain"], {"x": np.ones((1, 4), np.float32)})
    with pytest.raises(grpc.RpcError) as caught:
        limited.stub.ModelInfer(quick, timeout=30)
    error: grpc.RpcError = caught.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
    assert "max_concurrent_requests" in error.details()  # type: ignore[attr-defined]
    # a busy server says when to come back (a request over a size limit does not: see _refused)
    assert dict(error.trailing_metadata())[RETRY_AFTER] == "100"  # type: ignore[attr-defined]
    assert plane.rejected == rejected + 1
    for future in running:  # the queued one ran after the first: both answered
        assert list(future.result(timeout=120).outputs[0].shape) == [96, 96]
    assert plane.inflight == 0
    assert limited.stub.ModelInfer(quick, timeout=30).outputs


def test_onnxruntime_threads_do_not_spin_by_default(
    server: BackgroundServer, roles: dict[str, str]
) -> None:
    """Spinning pool threads starved the working ones under load (server/runtime.py: 21-43 vs
    147-170 requests/s with 64 clients on 2 busy cores); ServerSettings.spin_wait turns it on."""
    plane = server.app.plane  # type: ignore[union-attr]
    options = plane.model(roles["plain"]).session.get_session_options()
    for pool in ("intra", "inter"):
        assert options.get_session_config_entry(f"session.{pool}_op.allow_spinning") == "0"
