"""A battery of malformed requests, one table row each, across every RPC and every model family
the repository holds (text, graph, image, plain Triton models). Each row asserts the status code
the server documents and that the message names the offending field; after every row the next
good request of that family must be answered exactly as onnxruntime answers it in this process.

A family absent from the repository (the fake zoo has no image model) skips its rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.gen.attentive.taxonomy.v1 import taxonomy_pb2 as tx
from protos.gen.attentive.taxonomy.v1 import taxonomy_pb2_grpc as tx_grpc
from protos.gen.inference import grpc_service_pb2 as pb
from protos.gen.inference import grpc_service_pb2_grpc as pb_grpc
from server import codecs
from taxonomy.card import TensorSpec
from taxonomy.query import CardEntry
from tests.server.helpers import (
    example_array,
    first_graph_example,
    infer_request,
    outputs_of,
    reference,
)

C = grpc.StatusCode


@dataclass
class Family:
    """One model standing for a family, its good request and the answer it must get."""

    model: str
    arrays: dict[str, np.ndarray]
    want: dict[str, np.ndarray]
    names: dict[str, str] = field(default_factory=dict)  # role -> input name
    spec: dict[str, TensorSpec] = field(default_factory=dict)  # input name -> spec
    max_batch_size: int = 0

    def good(self) -> pb.ModelInferRequest:
        return infer_request(self.model, self.arrays)


def _card_family(entry: CardEntry, repository: Path, names: dict[str, str]) -> Family:
    card = entry.card
    assert card is not None
    arrays = {t.name: example_array(t) for t in first_graph_example(entry).inputs}
    return Family(
        model=entry.name,
        arrays=arrays,
        want=reference(repository / entry.name, arrays),
        names=names,
        spec={t.name: t for t in card.io.inputs},
        max_batch_size=card.io.max_batch_size,
    )


def _families(zoo: list[CardEntry], roles: dict[str, str], repository: Path) -> dict[str, Family]:
    found: dict[str, Family] = {}
    for entry in zoo:
        io = entry.card.io  # type: ignore[union-attr]
        index = [t for t in io.inputs if t.index_of is not None]
        ids = [t for t in io.inputs if t.vocab_size is not None]
        images = [  # fixed height and width (a variable axis would take the rows' changes)
            t
            for t in io.inputs
            if t.datatype.startswith("FP") and len(t.shape) >= 3 and min(t.shape[1:]) > 0
        ]
        single = len(io.inputs) == 1  # the rows send that one input (pair models take two)
        if "text" not in found and io.text_inputs and ids and single:
            text = io.text_inputs[0]
            found["text"] = _card_family(
                entry, repository, {"text": text.name, "ids": text.ids_input}
            )
        elif "graph" not in found and index and len(io.inputs) == 2:
            assert index[0].index_of is not None
            found["graph"] = _card_family(
                entry, repository, {"edges": index[0].name, "nodes": index[0].index_of.input}
            )
        elif "image" not in found and images and single and io.max_batch_size > 0:
            found["image"] = _card_family(entry, repository, {"image": images[0].name})
    x = np.ones((1, 4), np.float32)
    found["plain"] = Family(roles["plain"], {"x": x}, {"y": 2 * x + 1}, {"x": "x"})
    found["corrupt"] = Family(roles["corrupt"], {}, {}, {})
    return found


@dataclass
class Ctx:
    stub: pb_grpc.GRPCInferenceServiceStub
    taxonomy: tx_grpc.TaxonomyServiceStub
    health: health_pb2_grpc.HealthStub
    family: Family

    def infer(self, request: pb.ModelInferRequest) -> Any:
        return self.stub.ModelInfer(request, timeout=60)

    def arrays(self, role: str, change: Callable[[np.ndarray], np.ndarray]) -> dict[str, Any]:
        """The good arrays with the input of ``role`` changed."""
        arrays = dict(self.family.arrays)
        name = self.family.names[role]
        arrays[name] = change(arrays[name].copy())
        return arrays

    def changed(self, role: str, change: Callable[[np.ndarray], np.ndarray]) -> Any:
        return self.infer(infer_request(self.family.model, self.arrays(role, change)))

    def request(self) -> pb.ModelInferRequest:
        return self.family.good()


def _set(index: Any, value: Any) -> Callable[[np.ndarray], np.ndarray]:
    def change(a: np.ndarray) -> np.ndarray:
        a[index] = value
        return a

    return change


def _with_raw(ctx: Ctx, i: int, raw: bytes) -> Any:
    request = ctx.request()
    request.raw_input_contents[i] = raw
    return ctx.infer(request)


def _text(ctx: Ctx, items: list[bytes], shape: list[int] | None = None) -> Any:
    request = pb.ModelInferRequest(model_name=ctx.family.model)
    shape = shape or [len(items)]
    request.inputs.add(name=ctx.family.names["text"], datatype="BYTES", shape=shape)
    request.raw_input_contents.append(b"".join(len(b).to_bytes(4, "little") + b for b in items))
    return ctx.infer(request)


def _text_raw(ctx: Ctx, raw: bytes, shape: list[int]) -> Any:
    request = pb.ModelInferRequest(model_name=ctx.family.model)
    request.inputs.add(name=ctx.family.names["text"], datatype="BYTES", shape=shape)
    request.raw_input_contents.append(raw)
    return ctx.infer(request)


def _renamed(ctx: Ctx, name: str) -> Any:
    request = ctx.request()
    request.model_name = name
    return ctx.infer(request)


def _versioned(ctx: Ctx, version: str) -> Any:
    request = ctx.request()
    request.model_version = version
    return ctx.infer(request)


def _param(ctx: Ctx, key: str, kind: str, value: Any) -> Any:
    request = ctx.request()
    setattr(request.parameters[key], kind, value)
    return ctx.infer(request)


def _first_input(ctx: Ctx, **fields: Any) -> Any:
    request = ctx.request()
    for key, value in fields.items():
        if key == "shape":
            del request.inputs[0].shape[:]
            request.inputs[0].shape.extend(value)
        else:
            setattr(request.inputs[0], key, value)
    return ctx.infer(request)


def _output(ctx: Ctx, *names: str, param: str | None = None) -> Any:
    request = ctx.request()
    for name in names:
        out = request.outputs.add(name=name)
        if param:
            out.parameters[param].string_param = "region0"
    return ctx.infer(request)


def _typed(ctx: Ctx, drop_last: bool = False, datatype: str | None = None) -> Any:
    request = infer_request(ctx.family.model, ctx.family.arrays, raw=False)
    if drop_last:
        contents = request.inputs[0].contents.fp32_contents
        del contents[-1]
    if datatype:
        request.inputs[0].datatype = datatype
    return ctx.infer(request)


def _both_contents(ctx: Ctx) -> Any:
    request = ctx.request()
    request.inputs[0].contents.fp32_contents.extend([1.0])
    return ctx.infer(request)


def _extra_raw(ctx: Ctx) -> Any:
    request = ctx.request()
    request.raw_input_contents.append(b"\x00" * 4)
    return ctx.infer(request)


def _duplicate(ctx: Ctx, role: str) -> Any:
    request = ctx.request()
    name = ctx.family.names[role]
    i = [t.name for t in request.inputs].index(name)
    request.inputs.append(request.inputs[i])
    request.raw_input_contents.append(request.raw_input_contents[i])
    return ctx.infer(request)


def _without(ctx: Ctx, role: str) -> Any:
    arrays = dict(ctx.family.arrays)
    del arrays[ctx.family.names[role]]
    return ctx.infer(infer_request(ctx.family.model, arrays))


def _plus(ctx: Ctx, name: str, array: np.ndarray) -> Any:
    return ctx.infer(infer_request(ctx.family.model, dict(ctx.family.arrays, **{name: array})))


def _text_and_ids(ctx: Ctx) -> Any:
    arrays = dict(ctx.family.arrays)
    arrays[ctx.family.names["text"]] = np.array([b"a cat"], dtype=object)
    return ctx.infer(infer_request(ctx.family.model, arrays))


def _ids_longer_than_allowed(ctx: Ctx) -> Any:
    spec = ctx.family.spec[ctx.family.names["ids"]]
    most = spec.max_shape[1] if spec.max_shape and spec.max_shape[1] >= 0 else 4096
    ids = np.full((1, most + 1), 4, np.int64)
    return ctx.infer(infer_request(ctx.family.model, {spec.name: ids}))


def _ids_length_code(family: Family) -> grpc.StatusCode:
    spec = family.spec[family.names["ids"]]
    bounded = spec.max_shape is not None and spec.max_shape[1] >= 0
    return C.INVALID_ARGUMENT if bounded else C.RESOURCE_EXHAUSTED


def _over_model_batch(ctx: Ctx, role: str) -> Any:
    a = ctx.family.arrays[ctx.family.names[role]]
    reps = ctx.family.max_batch_size // a.shape[0] + 1
    return ctx.infer(
        infer_request(
            ctx.family.model, {k: np.concatenate([v] * reps) for k, v in ctx.family.arrays.items()}
        )
    )


def _load(ctx: Ctx, name: str, **params: tuple[str, Any]) -> Any:
    request = pb.RepositoryModelLoadRequest(model_name=name)
    for key, (kind, value) in params.items():
        setattr(request.parameters[key], kind, value)
    return ctx.stub.RepositoryModelLoad(request, timeout=60)


def _unload(ctx: Ctx, name: str, **params: tuple[str, Any]) -> Any:
    request = pb.RepositoryModelUnloadRequest(model_name=name)
    for key, (kind, value) in params.items():
        setattr(request.parameters[key], kind, value)
    return ctx.stub.RepositoryModelUnload(request, timeout=60)


def _filter(axis: str, value: str) -> tx.ListModelsRequest:
    return tx.ListModelsRequest(all_of=[tx.AxisFilter(axis=axis, values=[value])])


@dataclass(frozen=True)
class Row:
    id: str
    family: str  # whose model the row breaks, and whose good request must answer after it
    call: Callable[[Ctx], Any]
    code: grpc.StatusCode | Callable[[Family], grpc.StatusCode]
    names: Callable[[Family], str] | str | None  # what the message must contain


def _role(role: str) -> Callable[[Family], str]:
    return lambda f: f.names[role]


def _model(f: Family) -> str:
    return f.model


IA, NF, RE, UN, UI = (
    C.INVALID_ARGUMENT,
    C.NOT_FOUND,
    C.RESOURCE_EXHAUSTED,
    C.UNAVAILABLE,
    C.UNIMPLEMENTED,
)
BIG = 2**31 - 1

# fmt: off
ROWS = [
    # ---- ModelInfer: which model ----
    Row("unknown-model", "text", lambda c: _renamed(c, "no_such_model"), NF, "no_such_model"),
    Row("unknown-version", "text", lambda c: _versioned(c, "99"), NF, "'99'"),
    Row("version-not-a-number", "text", lambda c: _versioned(c, "latest"), NF, "'latest'"),
    Row("version-non-ascii-digit", "text", lambda c: _versioned(c, "١"), NF, "version"),
    Row("name-parent-dir", "text", lambda c: _renamed(c, "../gat"), IA, "model_name"),
    Row("name-absolute-path", "text", lambda c: _renamed(c, "/etc/passwd"), IA, "model_name"),
    Row("name-backslash", "text", lambda c: _renamed(c, "..\\gat"), IA, "model_name"),
    Row("name-empty", "text", lambda c: _renamed(c, ""), IA, "model_name"),
    Row("name-nul-byte", "text", lambda c: _renamed(c, "gat\x00x"), IA, "model_name"),
    Row("name-huge", "text", lambda c: _renamed(c, "m" * 100000), IA, "model_name"),
    Row("model-unavailable", "corrupt", lambda c: _plus(c, "x", np.zeros(1)), UN, _model),
    # ---- ModelInfer: ids of a text model ----
    Row("ids-wrong-datatype", "text", lambda c: c.changed("ids", lambda a: a.astype(np.float32)), IA, _role("ids")),
    Row("ids-int32-not-int64", "text", lambda c: c.changed("ids", lambda a: a.astype(np.int32)), IA, _role("ids")),
    Row("ids-unknown-datatype", "text", lambda c: _first_input(c, datatype="FLOAT32"), IA, _role("ids")),
    Row("ids-rank-3", "text", lambda c: c.changed("ids", lambda a: a[..., None]), IA, _role("ids")),
    Row("ids-rank-1", "text", lambda c: c.changed("ids", lambda a: a[0]), IA, _role("ids")),
    Row("ids-outside-vocabulary", "text", lambda c: c.changed("ids", _set((0, 1), 10 ** 9)), IA, _role("ids")),
    Row("ids-negative", "text", lambda c: c.changed("ids", _set((0, 1), -1)), IA, _role("ids")),
    Row("ids-empty-batch", "text", lambda c: c.changed("ids", lambda a: a[:0]), IA, _role("ids")),
    Row("ids-batch-over-model-max", "text", lambda c: _over_model_batch(c, "ids"), IA, _role("ids")),
    Row("ids-enormous-sequence", "text", _ids_longer_than_allowed, _ids_length_code, _role("ids")),
    Row("ids-negative-dimension", "text", lambda c: _first_input(c, shape=[-1, 5]), IA, _role("ids")),
    Row("ids-and-text-both", "text", _text_and_ids, IA, _role("ids")),
    # ---- ModelInfer: text (BYTES) ----
    Row("text-invalid-utf8", "text", lambda c: _text(c, [b"a \xff\xfe cat"]), IA, _role("text")),
    Row("text-empty-string", "text", lambda c: _text(c, [b"a cat", b""]), IA, _role("text")),
    Row("text-only-spaces", "text", lambda c: _text(c, [b"   \t "]), IA, _role("text")),
    Row("text-more-tokens-than-max-length", "text", lambda c: _text(c, [b"a " * 5000]), IA, _role("text")),
    Row("text-over-max-text-bytes", "text", lambda c: _text(c, [b"a" * 70000]), RE, _role("text")),
    Row("text-wrong-shape", "text", lambda c: _text(c, [b"a", b"b"], [1, 2]), IA, _role("text")),
    Row("text-as-int64", "text", lambda c: _plus(c, c.family.names["text"], np.ones(1, np.int64)), IA, _role("text")),
    Row("bytes-cut-length-prefix", "text", lambda c: _text_raw(c, b"\x05\x00", [1]), IA, _role("text")),
    Row("bytes-element-past-end", "text", lambda c: _text_raw(c, b"\t\x00\x00\x00abc", [1]), IA, _role("text")),
    Row("bytes-fewer-elements-than-shape", "text", lambda c: _text(c, [b"a", b"b"], [3]), IA, _role("text")),
    # ---- ModelInfer: outputs and parameters ----
    Row("unknown-output", "text", lambda c: _output(c, "no_such_output"), IA, "no_such_output"),
    Row("duplicate-output", "text", lambda c: _output(c, *[next(iter(c.family.want))] * 2), IA, lambda f: next(iter(f.want))),
    Row("output-shared-memory", "text", lambda c: _output(c, next(iter(c.family.want)), param="shared_memory_region"), UI, "shared_memory_region"),
    Row("param-timeout-string", "text", lambda c: _param(c, "timeout", "string_param", "soon"), IA, "timeout"),
    Row("param-timeout-bool", "text", lambda c: _param(c, "timeout", "bool_param", True), IA, "timeout"),
    Row("param-priority-negative", "text", lambda c: _param(c, "priority", "int64_param", -3), IA, "priority"),
    Row("param-priority-float", "text", lambda c: _param(c, "priority", "double_param", 1.5), IA, "priority"),
    Row("param-sequence-id", "text", lambda c: _param(c, "sequence_id", "int64_param", 7), UI, "sequence_id"),
    # ---- ModelInfer: a graph (GAT) ----
    Row("edges-missing", "graph", lambda c: _without(c, "edges"), IA, _role("edges")),
    Row("nodes-duplicate", "graph", lambda c: _duplicate(c, "nodes"), IA, _role("nodes")),
    Row("unknown-input", "graph", lambda c: _plus(c, "bogus_input", np.zeros(3, np.float32)), IA, "bogus_input"),
    Row("edge-index-negative", "graph", lambda c: c.changed("edges", _set((0, 0), -1)), IA, _role("edges")),
    Row("edge-index-past-last-node", "graph", lambda c: c.changed("edges", _set((1, 0), c.family.arrays[c.family.names["nodes"]].shape[0])), IA, _role("edges")),
    Row("edge-index-huge", "graph", lambda c: c.changed("edges", _set((1, -1), 2 ** 62)), IA, _role("edges")),
    Row("edges-three-rows", "graph", lambda c: c.changed("edges", lambda a: np.concatenate([a, a[:1]])), IA, _role("edges")),
    Row("edges-rank-1", "graph", lambda c: c.changed("edges", lambda a: a.ravel()), IA, _role("edges")),
    Row("edges-as-fp32", "graph", lambda c: c.changed("edges", lambda a: a.astype(np.float32)), IA, _role("edges")),
    Row("nodes-nan", "graph", lambda c: c.changed("nodes", _set((0, 0), np.nan)), IA, _role("nodes")),
    Row("nodes-inf", "graph", lambda c: c.changed("nodes", _set((1, 0), np.inf)), IA, _role("nodes")),
    Row("nodes-minus-inf", "graph", lambda c: c.changed("nodes", _set((1, 1), -np.inf)), IA, _role("nodes")),
    Row("nodes-feature-width", "graph", lambda c: c.changed("nodes", lambda a: np.concatenate([a, a[:, :1]], 1)), IA, _role("nodes")),
    Row("nodes-none", "graph", lambda c: c.changed("nodes", lambda a: a[:0]), IA, _role("nodes")),
    # ---- ModelInfer: an image model, and the wire forms ----
    Row("image-nan", "image", lambda c: c.changed("image", _set((0, 0, 0), np.nan)), IA, _role("image")),
    Row("image-wrong-height", "image", lambda c: c.changed("image", lambda a: np.concatenate([a, a[:, :1]], 1)), IA, _role("image")),
    Row("image-fp64", "image", lambda c: c.changed("image", lambda a: a.astype(np.float64)), IA, _role("image")),
    Row("image-batch-over-model-max", "image", lambda c: _over_model_batch(c, "image"), IA, _role("image")),
    Row("raw-one-byte-short", "image", lambda c: _with_raw(c, 0, c.request().raw_input_contents[0][:-1]), IA, _role("image")),
    Row("raw-four-bytes-long", "image", lambda c: _with_raw(c, 0, c.request().raw_input_contents[0] + b"\x00" * 4), IA, _role("image")),
    Row("raw-more-entries-than-inputs", "image", _extra_raw, IA, "raw_input_contents"),
    Row("raw-and-typed-contents", "image", _both_contents, IA, _role("image")),
    Row("typed-one-value-short", "image", lambda c: _typed(c, drop_last=True), IA, _role("image")),
    Row("typed-fp16", "image", lambda c: _typed(c, datatype="FP16"), IA, _role("image")),
    Row("shape-product-overflows", "image", lambda c: _first_input(c, shape=[BIG, BIG, BIG, 4]), IA, _role("image")),
    Row("shape-dimension-over-int32", "image", lambda c: _first_input(c, shape=[2 ** 40, 0, 1]), IA, _role("image")),
    Row("empty-tensor-huge-shape", "image", lambda c: _shaped_empty(c, [0, BIG, BIG, BIG]), IA, _role("image")),
    Row("empty-typed-bytes-huge-shape", "text", lambda c: _shaped_empty(c, [0, BIG, BIG], "BYTES", raw=False), IA, _role("text")),
    Row("shape-rank-40", "image", lambda c: _first_input(c, shape=[1] * 40), IA, _role("image")),
    Row("input-shared-memory", "image", lambda c: _first_input_param(c, "shared_memory_region"), UI, "shared_memory_region"),
    # ---- ModelInfer: a plain Triton model (config.pbtxt, no card) ----
    Row("plain-wrong-width", "plain", lambda c: c.changed("x", lambda a: np.ones((1, 5), np.float32)), IA, "'x'"),
    Row("plain-fp64", "plain", lambda c: c.changed("x", lambda a: a.astype(np.float64)), IA, "'x'"),
    Row("plain-batch-over-max", "plain", lambda c: c.changed("x", lambda a: np.ones((5, 4), np.float32)), IA, "'x'"),
    # ---- the other RPCs ----
    Row("metadata-unknown-model", "text", lambda c: c.stub.ModelMetadata(pb.ModelMetadataRequest(name="no_such_model"), timeout=10), NF, "no_such_model"),
    Row("metadata-unknown-version", "text", lambda c: c.stub.ModelMetadata(pb.ModelMetadataRequest(name=c.family.model, version="7"), timeout=10), NF, "'7'"),
    Row("metadata-path-name", "text", lambda c: c.stub.ModelMetadata(pb.ModelMetadataRequest(name="a/b"), timeout=10), IA, "model_name"),
    Row("config-unknown-model", "text", lambda c: c.stub.ModelConfig(pb.ModelConfigRequest(name="no_such_model"), timeout=10), NF, "no_such_model"),
    Row("config-unavailable-model", "corrupt", lambda c: c.stub.ModelConfig(pb.ModelConfigRequest(name=c.family.model), timeout=10), UN, _model),
    Row("statistics-unknown-version", "text", lambda c: c.stub.ModelStatistics(pb.ModelStatisticsRequest(name=c.family.model, version="99"), timeout=10), NF, "'99'"),
    Row("ready-path-name", "text", lambda c: c.stub.ModelReady(pb.ModelReadyRequest(name="../../etc"), timeout=10), IA, "model_name"),
    Row("index-other-repository", "text", lambda c: c.stub.RepositoryIndex(pb.RepositoryIndexRequest(repository_name="elsewhere"), timeout=10), IA, "repository_name"),
    Row("load-parent-dir", "text", lambda c: _load(c, "../repository"), IA, "model_name"),
    Row("load-dot-dot", "text", lambda c: _load(c, ".."), IA, "model_name"),
    Row("load-absolute-path", "text", lambda c: _load(c, "/tmp"), IA, "model_name"),
    Row("load-unknown-model", "text", lambda c: _load(c, "no_such_model"), NF, "no_such_model"),
    Row("load-with-file-parameter", "plain", lambda c: _load(c, c.family.model, **{"file:1/model.onnx": ("bytes_param", b"\x08\x07")}), UI, "file:1/model.onnx"),
    Row("load-with-config-parameter", "plain", lambda c: _load(c, c.family.model, config=("string_param", "{}")), UI, "config"),
    Row("load-other-repository", "plain", lambda c: c.stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(repository_name="x", model_name=c.family.model), timeout=60), IA, "repository_name"),
    Row("unload-parent-dir", "plain", lambda c: _unload(c, "../plain"), IA, "model_name"),
    Row("unload-unknown-model", "plain", lambda c: _unload(c, "no_such_model"), NF, "no_such_model"),
    Row("unload-parameter-wrong-type", "plain", lambda c: _unload(c, c.family.model, unload_dependents=("string_param", "yes")), IA, "unload_dependents"),
    Row("card-unknown-model", "text", lambda c: c.taxonomy.GetCard(tx.GetCardRequest(name="no_such_model"), timeout=10), NF, "no_such_model"),
    Row("card-path-name", "text", lambda c: c.taxonomy.GetCard(tx.GetCardRequest(name="../x"), timeout=10), IA, "name"),
    Row("list-unknown-axis", "text", lambda c: c.taxonomy.ListModels(_filter("colour", "red"), timeout=10), IA, "colour"),
    Row("list-unknown-value", "text", lambda c: c.taxonomy.ListModels(_filter("levels", "eleven"), timeout=10), IA, "eleven"),
    Row("coverage-unknown-axis", "text", lambda c: c.taxonomy.Coverage(tx.CoverageRequest(axes=["colour"]), timeout=10), IA, "colour"),
    Row("health-unknown-service", "text", lambda c: c.health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10), NF, None),
]
# fmt: on


def _shaped_empty(ctx: Ctx, shape: list[int], datatype: str = "FP32", raw: bool = True) -> Any:
    """The family's first input (text input for BYTES) with no contents and ``shape``."""
    request = pb.ModelInferRequest(model_name=ctx.family.model)
    name = ctx.family.names["text" if datatype == "BYTES" else next(iter(ctx.family.names))]
    request.inputs.add(name=name, datatype=datatype, shape=shape)
    if raw:
        request.raw_input_contents.append(b"")
    return ctx.infer(request)


def _first_input_param(ctx: Ctx, key: str) -> Any:
    request = ctx.request()
    request.inputs[0].parameters[key].string_param = "region0"
    return ctx.infer(request)


def test_the_battery_is_large_and_covers_every_rpc() -> None:
    assert len(ROWS) >= 40
    assert len({r.id for r in ROWS}) == len(ROWS)
    called = " ".join(r.id for r in ROWS)
    for word in ("metadata", "config", "statistics", "ready", "index", "load", "unload", "card"):
        assert word in called


@pytest.fixture(scope="module")
def families(zoo: list[CardEntry], roles: dict[str, str], repository: Path) -> dict[str, Family]:
    return _families(zoo, roles, repository)


@pytest.fixture(scope="module")
def taxonomy(channel: grpc.Channel) -> tx_grpc.TaxonomyServiceStub:
    return tx_grpc.TaxonomyServiceStub(channel)


def _assert_good(stub: pb_grpc.GRPCInferenceServiceStub, family: Family) -> None:
    got = outputs_of(stub.ModelInfer(family.good(), timeout=60))
    assert set(family.want) <= set(got)
    for name, want in family.want.items():
        np.testing.assert_allclose(got[name], want, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_malformed_request(
    row: Row,
    families: dict[str, Family],
    stub: pb_grpc.GRPCInferenceServiceStub,
    taxonomy: tx_grpc.TaxonomyServiceStub,
    channel: grpc.Channel,
) -> None:
    if row.family not in families:
        pytest.skip(f"no {row.family} model in the repository")
    family = families[row.family]
    ctx = Ctx(stub, taxonomy, health_pb2_grpc.HealthStub(channel), family)
    with pytest.raises(grpc.RpcError) as caught:
        row.call(ctx)
    error: Any = caught.value
    code = row.code(family) if callable(row.code) else row.code
    assert error.code() == code, (row.id, error.code(), error.details())
    named = row.names(family) if callable(row.names) else row.names
    if named is not None:
        assert named in (error.details() or ""), (row.id, error.details())
    assert len(error.details() or "") <= 2000  # status details stay small, whatever was echoed
    good = families["text" if row.family == "corrupt" else row.family]
    _assert_good(stub, good)


def test_stream_answers_each_bad_request_with_its_field_and_goes_on(
    families: dict[str, Family], stub: pb_grpc.GRPCInferenceServiceStub
) -> None:
    family = families.get("graph") or families["plain"]
    first = next(iter(family.arrays))
    wrong = family.arrays[first].astype(np.float64 if first != "x" else np.int64)
    bad = [
        (infer_request(family.model, dict(family.arrays, bogus=np.zeros(1, np.float32))), "bogus"),
        (infer_request(family.model, dict(family.arrays, **{first: wrong})), first),
        (infer_request("../" + family.model, family.arrays), "model_name"),
    ]
    requests = [r for b, _ in bad for r in (b, family.good())]
    answers = list(stub.ModelStreamInfer(iter(requests), timeout=60))
    assert len(answers) == len(requests)
    for (_, named), answer in zip(bad, answers[0::2], strict=True):
        assert named in answer.error_message, (named, answer.error_message)
    for answer in answers[1::2]:
        assert not answer.error_message
        response = answer.infer_response
        got = {
            t.name: codecs.from_raw(t.name, t.datatype, list(t.shape), raw)
            for t, raw in zip(response.outputs, response.raw_output_contents, strict=True)
        }
        for name, want in family.want.items():
            np.testing.assert_allclose(got[name], want, rtol=1e-5, atol=1e-6)
