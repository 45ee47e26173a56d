"""Requests from cards' examples, and in-process onnxruntime references, for the server tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from protos.gen.inference import grpc_service_pb2 as pb
from server import codecs
from taxonomy.card import Example, ExampleTensor
from taxonomy.query import CardEntry


def example_array(tensor: ExampleTensor) -> np.ndarray:
    return codecs.from_list(tensor.name, tensor.datatype, tensor.shape, tensor.data)


def graph_only(entry: CardEntry, example: Example) -> bool:
    graph = {t.name for t in entry.card.io.inputs}  # type: ignore[union-attr]
    return all(t.name in graph for t in example.inputs)


def first_graph_example(entry: CardEntry) -> Example:
    return next(e for e in entry.card.examples if graph_only(entry, e))  # type: ignore[union-attr]


def infer_request(
    model: str, arrays: dict[str, np.ndarray], raw: bool = True, outputs: list[str] | None = None
) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model)
    for name, array in arrays.items():
        datatype = codecs.datatype_of(array)
        tensor = request.inputs.add(name=name, datatype=datatype, shape=list(array.shape))
        if raw:
            request.raw_input_contents.append(codecs.to_raw(array))
        else:
            field = {
                "INT64": "int64_contents",
                "FP32": "fp32_contents",
                "BYTES": "bytes_contents",
                "INT32": "int_contents",
                "FP64": "fp64_contents",
                "BOOL": "bool_contents",
            }[datatype]
            getattr(tensor.contents, field).extend(array.ravel().tolist())
    for name in outputs or []:
        request.outputs.add(name=name)
    return request


def example_request(entry: CardEntry, example: Example, raw: bool = True) -> pb.ModelInferRequest:
    return infer_request(entry.name, {t.name: example_array(t) for t in example.inputs}, raw)


def outputs_of(response: pb.ModelInferResponse) -> dict[str, np.ndarray]:
    out = {}
    for tensor, raw in zip(response.outputs, response.raw_output_contents, strict=True):
        out[tensor.name] = codecs.from_raw(tensor.name, tensor.datatype, list(tensor.shape), raw)
    return out


_SESSIONS: dict[Path, ort.InferenceSession] = {}


def reference(model_dir: Path, feeds: dict[str, np.ndarray], version: int = 1) -> dict[str, Any]:
    """onnxruntime in this process, CPU, on the repository's model file."""
    path = model_dir / str(version) / "model.onnx"
    if path not in _SESSIONS:
        _SESSIONS[path] = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    session = _SESSIONS[path]
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))
