"""Every error code the server promises, each asserted exactly, with the server healthy after.

The INVALID_ARGUMENT cases are made by breaking each card's first graph-only example in every way
its io allows; the test fails if the repository's models leave one of the kinds untried."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from protos.gen.inference import grpc_service_pb2 as pb
from protos.gen.inference import grpc_service_pb2_grpc as pb_grpc
from server.grpc.app import BackgroundServer
from taxonomy.card import ModelCard, TensorSpec
from taxonomy.query import CardEntry
from tests.server.conftest import MAX_MESSAGE_BYTES, server_settings
from tests.server.helpers import example_array, first_graph_example, infer_request

pytestmark = pytest.mark.usefixtures("healthy")

Case = tuple[str, pb.ModelInferRequest, str]  # (kind, request, name the message must contain)


def _code(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value  # type: ignore[return-value]


def _arrays(entry: CardEntry) -> dict[str, np.ndarray]:
    return {t.name: example_array(t) for t in first_graph_example(entry).inputs}


def _broken(entry: CardEntry) -> Iterator[Case]:
    card: ModelCard = entry.card  # type: ignore[assignment]
    name = entry.name
    base = _arrays(entry)
    first: TensorSpec = card.io.inputs[0]
    arrays = dict(base)
    other = np.float32 if first.datatype != "FP32" else np.int64
    arrays[first.name] = base[first.name].astype(other)
    yield "datatype", infer_request(name, arrays), first.name
    arrays = dict(base)
    arrays[first.name] = base[first.name][..., None]
    yield "rank", infer_request(name, arrays), first.name
    for spec in card.io.inputs:
        fixed = [i for i, d in enumerate(spec.shape) if d > 0]
        if fixed:
            axis = fixed[0]
            arrays = dict(base)
            arrays[spec.name] = np.concatenate([base[spec.name]] * 2, axis=axis)
            yield "shape", infer_request(name, arrays), spec.name
    arrays = dict(base)
    del arrays[first.name]
    yield "missing", infer_request(name, arrays), first.name
    arrays = dict(base, bogus_input=np.zeros(1, np.float32))
    yield "unexpected", infer_request(name, arrays), "bogus_input"
    for spec in card.io.inputs:
        if spec.vocab_size is not None:
            arrays = dict(base)
            bad = base[spec.name].copy()
            bad.flat[-1] = spec.vocab_size
            arrays[spec.name] = bad
            yield "vocabulary", infer_request(name, arrays), spec.name
        if spec.index_of is not None:
            arrays = dict(base)
            bad = base[spec.name].copy()
            bad.flat[-1] = base[spec.index_of.input].shape[spec.index_of.dim]
            arrays[spec.name] = bad
            yield "index", infer_request(name, arrays), spec.name
        if spec.datatype.startswith("FP") and not spec.allow_nonfinite:
            for value in (np.nan, np.inf):
                arrays = dict(base)
                bad = base[spec.name].copy()
                bad.flat[0] = value
                arrays[spec.name] = bad
                yield "nonfinite", infer_request(name, arrays), spec.name
    if card.io.max_batch_size > 0:
        arrays = {k: v[:0] for k, v in base.items()}
        yield "empty batch", infer_request(name, arrays), first.name
        reps = card.io.max_batch_size // base[first.name].shape[0] + 1
        arrays = {k: np.concatenate([v] * reps) for k, v in base.items()}
        yield "batch over max", infer_request(name, arrays), first.name
    request = infer_request(name, base)
    request.raw_input_contents[0] = request.raw_input_contents[0][:-1]
    yield "raw length", request, request.inputs[0].name
    request = infer_request(name, base)
    request.outputs.add(name="no_such_output")
    yield "unknown output", request, "no_such_output"
    request = infer_request(name, base, raw=False)
    del request.inputs[0].shape[-1]
    yield "typed count", request, request.inputs[0].name


KINDS = {
    "datatype", "rank", "shape", "missing", "unexpected", "vocabulary", "index", "nonfinite",
    "empty batch", "batch over max", "raw length", "unknown output", "typed count",
}  # fmt: skip


def test_invalid_requests_are_invalid_argument_naming_the_input(
    stub: pb_grpc.GRPCInferenceServiceStub, zoo: list[CardEntry]
) -> None:
    tried: set[str] = set()
    for entry in zoo:
        for kind, request, named in _broken(entry):
            error = _code(lambda r=request: stub.ModelInfer(r, timeout=30))
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (entry.name, kind, error)
            assert named in error.details(), (entry.name, kind, error.details())
            tried.add(kind)
    assert tried == KINDS, f"no model exercised: {sorted(KINDS - tried)}"


def test_text_input_errors(stub: pb_grpc.GRPCInferenceServiceStub, zoo: list[CardEntry]) -> None:
    def fits(entry: CardEntry) -> bool:
        """One text input standing for the only graph input. Tokenizers saved with truncation
        count too: the server tokenizes without it, so an over-long text is refused, not cut."""
        io = entry.card.io  # type: ignore[union-attr]
        return len(io.text_inputs) == 1 and len(io.inputs) == 1

    texts = [e for e in zoo if e.card and e.card.io.text_inputs and fits(e)]
    if not texts:
        pytest.skip("no single-input text model in the repository")
    for entry in texts:
        text = entry.card.io.text_inputs[0]  # type: ignore[union-attr]
        too_long = np.array([" ".join(["a"] * (text.max_length + 1)).encode()], dtype=object)
        long_request = infer_request(entry.name, {text.name: too_long})
        error = _code(lambda r=long_request: stub.ModelInfer(r, timeout=30))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert text.name in error.details()
        both = {
            text.name: np.array([b"a"], dtype=object),
            text.ids_input: np.ones((1, 3), np.int64),
        }
        error = _code(lambda e=entry, b=both: stub.ModelInfer(infer_request(e.name, b), timeout=30))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert text.ids_input in error.details()


def test_unknown_model_or_version_is_not_found(
    stub: pb_grpc.GRPCInferenceServiceStub, zoo: list[CardEntry]
) -> None:
    entry = zoo[0]
    request = infer_request("no_such_model", _arrays(entry))
    assert _code(lambda: stub.ModelInfer(request, timeout=10)).code() == grpc.StatusCode.NOT_FOUND
    request = infer_request(entry.name, _arrays(entry))
    request.model_version = "99"
    error = _code(lambda: stub.ModelInfer(request, timeout=10))
    assert error.code() == grpc.StatusCode.NOT_FOUND and "99" in error.details()
    for call in (
        lambda: stub.ModelMetadata(pb.ModelMetadataRequest(name="no_such_model"), timeout=10),
        lambda: stub.ModelConfig(pb.ModelConfigRequest(name="no_such_model"), timeout=10),
        lambda: stub.ModelStatistics(pb.ModelStatisticsRequest(name="no_such_model"), timeout=10),
    ):
        assert _code(call).code() == grpc.StatusCode.NOT_FOUND
    ready = stub.ModelReady(pb.ModelReadyRequest(name="no_such_model"), timeout=10)
    assert ready.ready is False


def test_corrupt_model_is_unavailable(
    stub: pb_grpc.GRPCInferenceServiceStub, roles: dict[str, str]
) -> None:
    request = infer_request(roles["corrupt"], {"x": np.zeros(1, np.float32)})
    error = _code(lambda: stub.ModelInfer(request, timeout=10))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert roles["corrupt"] in error.details()


def test_request_over_the_size_limit_is_resource_exhausted(
    stub: pb_grpc.GRPCInferenceServiceStub, zoo: list[CardEntry]
) -> None:
    request = infer_request(
        zoo[0].name, {"padding": np.zeros(MAX_MESSAGE_BYTES // 4 + 1024, np.float32)}
    )
    error = _code(lambda: stub.ModelInfer(request, timeout=30))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_past_the_deadline_is_deadline_exceeded_and_inference_stops(
    server: BackgroundServer, stub: pb_grpc.GRPCInferenceServiceStub, roles: dict[str, str]
) -> None:
    slow = infer_request(roles["slow"], {"iterations": np.array([10_000_000], np.int64)})
    error = _code(lambda: stub.ModelInfer(slow, timeout=0.5))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # onnxruntime was told to stop: the abandoned run ends instead of holding a thread.
    assert server.app is not None
    model = server.app.plane.model(roles["slow"])
    deadline = time.monotonic() + 20
    while model.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert model.running == 0
    quick = infer_request(roles["slow"], {"iterations": np.array([3], np.int64)})
    assert stub.ModelInfer(quick, timeout=30).outputs


def test_unexpected_exception_is_internal_with_a_request_id(
    server: BackgroundServer,
    stub: pb_grpc.GRPCInferenceServiceStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom() -> None:
        raise RuntimeError("a bug")

    assert server.app is not None
    monkeypatch.setattr(server.app.plane, "server_metadata", boom)
    error = _code(lambda: stub.ServerMetadata(pb.ServerMetadataRequest(), timeout=10))
    assert error.code() == grpc.StatusCode.INTERNAL
    assert "request id" in error.details() and "a bug" not in error.details()
    monkeypatch.undo()
    assert stub.ServerMetadata(pb.ServerMetadataRequest(), timeout=10).name == "attentive"


def test_stream_reports_errors_on_the_stream_and_goes_on(
    stub: pb_grpc.GRPCInferenceServiceStub, zoo: list[CardEntry]
) -> None:
    entry = zoo[0]
    good = infer_request(entry.name, _arrays(entry))
    bad = infer_request("no_such_model", _arrays(entry))
    responses = list(stub.ModelStreamInfer(iter([good, bad, good]), timeout=30))
    assert [bool(r.error_message) for r in responses] == [False, True, False]
    assert "no_such_model" in responses[1].error_message
    assert responses[0].infer_response.model_name == entry.name


def test_auth_token_is_required_when_configured(repository: Path, zoo: list[CardEntry]) -> None:
    settings = server_settings(repository, auth_token="s3cret", metrics_port=None)
    with (
        BackgroundServer(settings) as secured,
        grpc.insecure_channel(f"127.0.0.1:{secured.port}") as ch,
    ):
        guarded = pb_grpc.GRPCInferenceServiceStub(ch)
        error = _code(lambda: guarded.ServerMetadata(pb.ServerMetadataRequest(), timeout=10))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        answer = guarded.ServerMetadata(
            pb.ServerMetadataRequest(), timeout=10, metadata=[("authorization", "Bearer s3cret")]
        )
        assert answer.name == "attentive"
