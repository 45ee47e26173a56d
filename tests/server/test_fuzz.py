"""Property-based fuzzing of ModelInfer (hypothesis): requests made of random datatypes, shapes,
names and bytes, and good requests with random damage. Whatever arrives, the server answers in
time with OK or a client-error code; INTERNAL (or UNKNOWN, or a hang) never answers an input
error, and the server serves the next good request.

A few hundred cases run in the default suite (derandomized: the same cases every run); thousands
run under ``-m slow`` (make test-slow) with fresh random cases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protos.gen.inference import grpc_service_pb2 as pb
from protos.gen.inference import grpc_service_pb2_grpc as pb_grpc
from server import codecs
from server.grpc.app import BackgroundServer
from taxonomy.query import CardEntry
from tests.server.helpers import example_request, infer_request

pytestmark = pytest.mark.usefixtures("healthy")

# What an input error may be answered with; anything else (INTERNAL, UNKNOWN, a passed deadline
# for a request that has no reason to be slow, UNAVAILABLE from a served model) is a bug.
CLIENT_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNIMPLEMENTED,
}
DATATYPES = [*codecs.DATATYPES, "BF16", "FLOAT", "", "int64", "FP32 "]
CONTENT_FIELDS = {
    "bool_contents": st.booleans(),
    "int_contents": st.integers(-(2**31), 2**31 - 1),
    "int64_contents": st.integers(-(2**63), 2**63 - 1),
    "uint_contents": st.integers(0, 2**32 - 1),
    "uint64_contents": st.integers(0, 2**64 - 1),
    "fp32_contents": st.floats(width=32),
    "fp64_contents": st.floats(),
    "bytes_contents": st.binary(max_size=16),
}
FAST = settings(
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
SLOW = settings(FAST, max_examples=2000, derandomize=False)


def _dims() -> st.SearchStrategy[int]:
    return st.one_of(st.integers(0, 6), st.integers(-2, 2**40), st.sampled_from([2**31, 2**63 - 1]))


@st.composite
def _raw(draw: Any, datatype: str, shape: list[int]) -> bytes:
    """Bytes of the right length for (datatype, shape) when that is small, else anything."""
    count = codecs.element_count(shape) if all(0 <= d < 2**20 for d in shape) else -1
    if datatype == "BYTES" and 0 <= count <= 64 and draw(st.booleans()):
        items = draw(st.lists(st.binary(max_size=12), min_size=count, max_size=count))
        return b"".join(len(b).to_bytes(4, "little") + b for b in items)
    size = codecs.NUMPY[datatype].itemsize if datatype in codecs.NUMPY else 1
    if datatype != "BYTES" and 0 <= count * size <= 4096 and draw(st.booleans()):
        return bytes(draw(st.binary(min_size=count * size, max_size=count * size)))
    return bytes(draw(st.binary(max_size=256)))


@st.composite
def random_requests(draw: Any, models: dict[str, list[str]]) -> pb.ModelInferRequest:
    """Requests built from nothing: names, datatypes, shapes and contents all drawn."""
    model = draw(st.sampled_from(sorted(models)))
    names = models[model]
    request = pb.ModelInferRequest(
        model_name=draw(st.one_of(st.just(model), st.just(model), st.text(max_size=12)))
    )
    raw = draw(st.booleans())
    for _ in range(draw(st.integers(0, 3))):
        datatype = draw(st.sampled_from(DATATYPES))
        shape = draw(st.lists(_dims(), max_size=5))
        tensor = request.inputs.add(
            name=draw(st.one_of(st.sampled_from(names), st.text(max_size=6))),
            datatype=datatype,
            shape=shape,
        )
        if raw:
            request.raw_input_contents.append(draw(_raw(datatype, shape)))
        elif draw(st.booleans()):
            field = draw(st.sampled_from(sorted(CONTENT_FIELDS)))
            values = draw(st.lists(CONTENT_FIELDS[field], max_size=40))
            getattr(tensor.contents, field).extend(values)
    if raw and draw(st.integers(0, 9)) == 0:  # a stray extra entry
        request.raw_input_contents.append(b"\x00")
    for name in draw(st.lists(st.text(max_size=8), max_size=2)):
        request.outputs.add(name=name)
    if draw(st.booleans()):
        key = draw(st.sampled_from(["timeout", "priority", "sequence_id", "anything"]))
        kind = draw(st.sampled_from(["int64_param", "string_param", "bool_param", "double_param"]))
        value = {"int64_param": 5, "string_param": "x", "bool_param": True, "double_param": 0.5}
        setattr(request.parameters[key], kind, value[kind])
    return request


@st.composite
def damaged_requests(draw: Any, goods: list[pb.ModelInferRequest]) -> pb.ModelInferRequest:
    """A good request (a card example) with a few random changes: bytes overwritten inside the
    raw contents (NaN, ids out of range, huge indices...), a dimension, a datatype."""
    request = pb.ModelInferRequest()
    request.CopyFrom(draw(st.sampled_from(goods)))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(request.inputs) - 1))
        what = draw(st.sampled_from(["bytes", "bytes", "bytes", "dim", "datatype", "cut"]))
        raw = bytearray(request.raw_input_contents[i])
        if what == "bytes" and raw:
            at = draw(st.integers(0, len(raw) - 1))
            patch = draw(st.binary(min_size=1, max_size=8))
            raw[at : at + len(patch)] = patch
            request.raw_input_contents[i] = bytes(raw[: len(request.raw_input_contents[i])])
        elif what == "cut":
            request.raw_input_contents[i] = bytes(raw[: draw(st.integers(0, len(raw)))])
        elif what == "dim" and request.inputs[i].shape:
            axis = draw(st.integers(0, len(request.inputs[i].shape) - 1))
            request.inputs[i].shape[axis] = draw(_dims())
        elif what == "datatype":
            request.inputs[i].datatype = draw(st.sampled_from(DATATYPES))
    return request


def _answer(stub: pb_grpc.GRPCInferenceServiceStub, request: pb.ModelInferRequest) -> None:
    try:
        stub.ModelInfer(request, timeout=30)
    except grpc.RpcError as error:
        code: Any = error.code()  # type: ignore[attr-defined]
        assert code in CLIENT_CODES, (code, error.details(), request)  # type: ignore[attr-defined]


def _models(zoo: list[CardEntry], roles: dict[str, str]) -> dict[str, list[str]]:
    out = {roles["plain"]: ["x"]}
    for entry in zoo:
        io = entry.card.io  # type: ignore[union-attr]
        out[entry.name] = [t.name for t in io.inputs] + [t.name for t in io.text_inputs]
    return out


def _goods(zoo: list[CardEntry], roles: dict[str, str]) -> list[pb.ModelInferRequest]:
    goods = [infer_request(roles["plain"], {"x": np.ones((2, 4), np.float32)})]
    for entry in zoo:
        for example in entry.card.examples:  # type: ignore[union-attr]
            goods.append(example_request(entry, example))
    return goods


def _fuzz(
    strategy: st.SearchStrategy[pb.ModelInferRequest],
    budget: settings,
    stub: pb_grpc.GRPCInferenceServiceStub,
    server: BackgroundServer,
) -> None:
    sent = [0]

    @budget
    @given(strategy)
    def prop(request: pb.ModelInferRequest) -> None:
        sent[0] += 1
        _answer(stub, request)

    prop()
    assert sent[0] >= budget.max_examples  # every case reached the server
    assert server.app is not None
    assert server.app.plane.inflight == 0  # every admitted request was answered


Fuzz = Callable[[st.SearchStrategy[pb.ModelInferRequest], settings], None]


@pytest.fixture
def fuzz(stub: pb_grpc.GRPCInferenceServiceStub, server: BackgroundServer) -> Fuzz:
    return lambda strategy, budget: _fuzz(strategy, budget, stub, server)


def test_random_requests(fuzz: Fuzz, zoo: list[CardEntry], roles: dict[str, str]) -> None:
    fuzz(random_requests(_models(zoo, roles)), FAST)


def test_damaged_good_requests(fuzz: Fuzz, zoo: list[CardEntry], roles: dict[str, str]) -> None:
    fuzz(damaged_requests(_goods(zoo, roles)), FAST)


@pytest.mark.slow
def test_random_requests_thousands(fuzz: Fuzz, zoo: list[CardEntry], roles: dict[str, str]) -> None:
    fuzz(random_requests(_models(zoo, roles)), SLOW)


@pytest.mark.slow
def test_damaged_good_requests_thousands(
    fuzz: Fuzz, zoo: list[CardEntry], roles: dict[str, str]
) -> None:
    fuzz(damaged_requests(_goods(zoo, roles)), SLOW)
