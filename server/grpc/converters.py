"""Protobuf messages (protos/gen) <-> the data plane's protocol-free dataclasses."""

from __future__ import annotations

from typing import Any

from protos.gen.inference import grpc_service_pb2 as pb
from server import codecs
from server.errors import InvalidInput, NotSupported
from server.messages import (
    IndexEntry,
    InferRequest,
    InferResponse,
    ModelMetadata,
    ModelStats,
    ServerMetadata,
    Tensor,
)

# KServe v2 datatype -> the InferTensorContents field that carries it (FP16/BF16: raw only).
CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def parameters(params: Any) -> dict[str, Any]:
    out = {}
    for key, value in params.items():
        choice = value.WhichOneof("parameter_choice")
        out[key] = getattr(value, choice) if choice else None
    return out


def _has_contents(tensor: pb.ModelInferRequest.InferInputTensor) -> bool:
    return tensor.HasField("contents") and any(
        len(getattr(tensor.contents, f)) for f in set(CONTENTS_FIELD.values())
    )


# Triton's shared-memory and classification extensions: refused by name, never half-honoured.
UNSUPPORTED_TENSOR_PARAMETERS = (
    "shared_memory_region",
    "shared_memory_offset",
    "shared_memory_byte_size",
    "classification",
)


def _tensor_parameters(kind: str, name: str, params: Any) -> None:
    for key in UNSUPPORTED_TENSOR_PARAMETERS:
        if key in params:
            raise NotSupported(f"{kind} '{name}': parameter '{key}' is not supported")


def infer_request(message: pb.ModelInferRequest) -> InferRequest:
    raw = message.raw_input_contents
    if raw and len(raw) != len(message.inputs):
        raise InvalidInput(
            f"raw_input_contents has {len(raw)} entries for {len(message.inputs)} inputs"
        )
    inputs = []
    for i, tensor in enumerate(message.inputs):
        name, datatype, shape = tensor.name, tensor.datatype, list(tensor.shape)
        _tensor_parameters("input", name, tensor.parameters)
        if raw:
            if _has_contents(tensor):
                raise InvalidInput(
                    f"input '{name}': both contents and raw_input_contents given; use one"
                )
            data = codecs.from_raw(name, datatype, shape, raw[i], copy=False)
        else:
            codecs.check_datatype(name, datatype)
            field = CONTENTS_FIELD.get(datatype)
            if field is None:
                raise InvalidInput(f"input '{name}': {datatype} must be sent in raw_input_contents")
            data = codecs.from_list(name, datatype, shape, getattr(tensor.contents, field))
        inputs.append(Tensor(name, datatype, list(data.shape), data))
    for output in message.outputs:
        _tensor_parameters("output", output.name, output.parameters)
    return InferRequest(
        model_name=message.model_name,
        model_version=message.model_version,
        id=message.id,
        inputs=inputs,
        outputs=[o.name for o in message.outputs] or None,
        parameters=parameters(message.parameters),
    )


def infer_response(response: InferResponse) -> pb.ModelInferResponse:
    """Outputs as raw_output_contents, the form every Triton client reads."""
    message = pb.ModelInferResponse(
        model_name=response.model_name, model_version=response.model_version, id=response.id
    )
    for tensor in response.outputs:
        message.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
        message.raw_output_contents.append(codecs.to_raw(tensor.data, tensor.datatype))
    return message


def model_metadata(meta: ModelMetadata) -> pb.ModelMetadataResponse:
    message = pb.ModelMetadataResponse(
        name=meta.name, versions=meta.versions, platform=meta.platform
    )
    for t in meta.inputs:
        message.inputs.add(name=t.name, datatype=t.datatype, shape=t.shape)
    for t in meta.outputs:
        message.outputs.add(name=t.name, datatype=t.datatype, shape=t.shape)
    return message


def server_metadata(meta: ServerMetadata) -> pb.ServerMetadataResponse:
    return pb.ServerMetadataResponse(
        name=meta.name, version=meta.version, extensions=meta.extensions
    )


def statistics(stats: list[ModelStats]) -> pb.ModelStatisticsResponse:
    message = pb.ModelStatisticsResponse()
    for s in stats:
        m = message.model_stats.add(
            name=s.name,
            version=s.version,
            last_inference=s.last_inference_ms,
            inference_count=s.inference_count,
            execution_count=s.execution_count,
        )
        for field in (
            "success",
            "fail",
            "queue",
            "compute_input",
            "compute_infer",
            "compute_output",
        ):
            d = getattr(s, field)
            getattr(m.inference_stats, field).CopyFrom(pb.StatisticDuration(count=d.count, ns=d.ns))
    return message


def repository_index(entries: list[IndexEntry]) -> pb.RepositoryIndexResponse:
    message = pb.RepositoryIndexResponse()
    for e in entries:
        message.models.add(name=e.name, version=e.version, state=e.state, reason=e.reason)
    return message
