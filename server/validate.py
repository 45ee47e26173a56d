"""Checks a request against a model's io (the card's, or config.pbtxt's) and the server's limits
before onnxruntime sees anything, and turns text inputs into ids.

Codes: what the *model* cannot take (datatype, rank, shape, its card's max_batch_size and
max_shape, ids outside its vocabulary, edge indices outside the graph, NaN/Inf, malformed text)
is InvalidInput (INVALID_ARGUMENT), naming the input; what exceeds a *server* limit (Limits, from
ServerSettings: batch, sequence length, graph nodes and edges, text bytes) is TooLarge
(RESOURCE_EXHAUSTED). Model names, request parameters and repository requests are checked here
too, so every check a client can fail lives in one module."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from server.errors import InvalidInput, NotSupported, TooLarge
from server.messages import Tensor
from server.repository import MODEL_NAME
from server.runtime import LoadedModel
from taxonomy.card import TensorSpec, TextInput


@dataclass(frozen=True)
class Limits:
    """The server's request limits (ServerSettings' max_* fields)."""

    max_batch_size: int = 256
    max_sequence_length: int = 4096
    max_graph_nodes: int = 200_000
    max_graph_edges: int = 2_000_000
    max_text_bytes: int = 64 * 1024

    @classmethod
    def of(cls, settings: Any) -> Limits:
        return cls(**{f: getattr(settings, f) for f in cls.__dataclass_fields__})


def shown(value: str, limit: int = 80) -> str:
    """A client-supplied string as it may appear in a message: quoted, escaped, cut."""
    text = repr(value[:limit])
    return text + ("..." if len(value) > limit else "")


def model_name(name: str, field: str = "model_name") -> str:
    """``name`` if it can name a model folder; never a path out of the repository."""
    if not MODEL_NAME.fullmatch(name):
        raise InvalidInput(
            f"{field} {shown(name)} is not a model name (letters, digits, '.', '_', '-'; "
            "no path separators; at most 128 characters)"
        )
    return name


def _names(specs: list[TensorSpec]) -> str:
    return ", ".join(t.name for t in specs) or "none"


def _check_batch(model: LoadedModel, name: str, size: int, limits: Limits) -> None:
    if size == 0:
        raise InvalidInput(f"input '{name}': empty batch")
    if size > model.entry.max_batch_size:
        raise InvalidInput(
            f"input '{name}': batch of {size} exceeds max_batch_size {model.entry.max_batch_size}"
        )
    if size > limits.max_batch_size:
        raise TooLarge(
            f"input '{name}': batch of {size} exceeds the server's max_batch_size "
            f"{limits.max_batch_size}"
        )


def _check_dims(model: LoadedModel, spec: TensorSpec, shape: list[int], limits: Limits) -> None:
    """Fixed dimensions match, the card's max_shape holds, dynamic axes stay within limits."""
    name = spec.name
    if len(shape) != len(spec.shape):
        raise InvalidInput(
            f"input '{name}': rank {len(shape)} (shape {shape}), expected rank {len(spec.shape)} "
            f"(shape {spec.shape})"
        )
    batched = model.entry.max_batch_size > 0
    nodes = model.node_axes
    for axis, (got, want) in enumerate(zip(shape, spec.shape, strict=True)):
        if want >= 0 and got != want:
            raise InvalidInput(
                f"input '{name}': dimension {axis} is {got}, expected {want} (shape {spec.shape})"
            )
        if spec.max_shape is not None and axis < len(spec.max_shape):
            most = spec.max_shape[axis]
            if most >= 0 and got > most:
                raise InvalidInput(
                    f"input '{name}': dimension {axis} is {got}, more than the model's "
                    f"{most} (max_shape {spec.max_shape})"
                )
        if want >= 0 or (batched and axis == 0):
            continue
        if (name, axis) in nodes:
            what, most = "graph nodes", limits.max_graph_nodes
        elif spec.index_of is not None:
            what, most = "graph edges", limits.max_graph_edges
        else:
            what, most = "sequence length", limits.max_sequence_length
        if got > most:
            raise TooLarge(
                f"input '{name}': dimension {axis} is {got}, more than the server's {what} "
                f"limit {most}"
            )
    if batched:
        _check_batch(model, name, shape[0], limits)


def _check_tensor(model: LoadedModel, spec: TensorSpec, tensor: Tensor, limits: Limits) -> None:
    name = spec.name
    if tensor.datatype != spec.datatype:
        raise InvalidInput(f"input '{name}': datatype {tensor.datatype}, expected {spec.datatype}")
    shape = list(tensor.data.shape)
    _check_dims(model, spec, shape, limits)
    if tensor.data.size == 0:
        raise InvalidInput(f"input '{name}': empty tensor (shape {shape})")
    data = tensor.data
    if data.dtype.kind == "f" and not spec.allow_nonfinite and not np.isfinite(data).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(data))[0])
        raise InvalidInput(f"input '{name}': NaN or Inf at index {bad} is not allowed")
    if spec.vocab_size is not None and data.dtype.kind in "iu":
        outside = (data < 0) | (data >= spec.vocab_size)
        if outside.any():
            at = tuple(int(i) for i in np.argwhere(outside)[0])
            raise InvalidInput(
                f"input '{name}': token id {int(data[at])} at index {at} is outside the "
                f"vocabulary [0, {spec.vocab_size})"
            )


def _check_index(spec: TensorSpec, data: np.ndarray, feeds: dict[str, np.ndarray]) -> None:
    bound = spec.index_of
    if bound is None or bound.input not in feeds:
        return
    ref = feeds[bound.input]
    if bound.dim >= ref.ndim:
        return
    limit = int(ref.shape[bound.dim])
    outside = (data < 0) | (data >= limit)
    if outside.any():
        at = tuple(int(i) for i in np.argwhere(outside)[0])
        raise InvalidInput(
            f"input '{spec.name}': index {int(data[at])} at {at} is outside [0, {limit}) "
            f"(dimension {bound.dim} of input '{bound.input}')"
        )


def _check_text(model: LoadedModel, text: TextInput, tensor: Tensor, limits: Limits) -> None:
    """A text input before tokenizing: BYTES [B] or [B, 1], UTF-8, not empty, not too long."""
    name = tensor.name
    if tensor.datatype != "BYTES":
        raise InvalidInput(f"input '{name}': datatype {tensor.datatype}, expected BYTES")
    data = tensor.data
    if data.ndim not in (1, 2) or (data.ndim == 2 and data.shape[1] != 1):
        raise InvalidInput(f"input '{name}': text must have shape [B] or [B, 1], got {data.shape}")
    _check_batch(model, name, int(data.shape[0]), limits)
    for row, item in enumerate(data.reshape(-1)):
        raw = bytes(item)
        if len(raw) > limits.max_text_bytes:
            raise TooLarge(
                f"input '{name}': element {row} holds {len(raw)} bytes, more than the server's "
                f"max_text_bytes {limits.max_text_bytes}"
            )
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidInput(
                f"input '{name}': element {row} is not UTF-8 text: {error}"
            ) from None
        if not decoded.strip():
            raise InvalidInput(f"input '{name}': element {row} is empty text")


def feeds_for(
    model: LoadedModel, inputs: list[Tensor], limits: Limits | None = None
) -> dict[str, np.ndarray]:
    """Validated onnxruntime feeds for ``inputs`` (text inputs tokenized into their ids input)."""
    limits = limits or Limits()
    graph = model.graph_inputs
    specs = model.input_specs
    text = model.text_inputs
    seen: set[str] = set()
    feeds: dict[str, np.ndarray] = {}
    for tensor in inputs:
        if tensor.name in seen:
            raise InvalidInput(f"input '{tensor.name}' given more than once")
        seen.add(tensor.name)
        if tensor.name not in specs and tensor.name not in text:
            raise InvalidInput(
                f"unexpected input {shown(tensor.name)}; model '{model.name}' takes: "
                f"{_names(model.inputs)}"
            )
    for tensor in inputs:
        if tensor.name in text:
            t = text[tensor.name]
            if t.ids_input in seen:
                raise InvalidInput(
                    f"input '{tensor.name}' and input '{t.ids_input}' both given; send one"
                )
            _check_text(model, t, tensor, limits)
            ids = model.text[t.tokenizer].encode(tensor.name, tensor.data, t.max_length)
            _check_tensor(
                model,
                specs[t.ids_input],
                Tensor(t.ids_input, "INT64", list(ids.shape), ids),
                limits,
            )
            feeds[t.ids_input] = ids
        else:
            _check_tensor(model, specs[tensor.name], tensor, limits)
            feeds[tensor.name] = tensor.data
    missing = [name for name in graph if name not in feeds]
    if missing:
        alternatives = {t.ids_input: t.name for t in text.values()}
        described = [
            f"'{m}'" + (f" (or text input '{alternatives[m]}')" if m in alternatives else "")
            for m in missing
        ]
        raise InvalidInput(f"missing input {', '.join(described)} for model '{model.name}'")
    if model.entry.max_batch_size > 0:
        batches = {name: int(a.shape[0]) for name, a in feeds.items()}
        if len(set(batches.values())) > 1:
            raise InvalidInput(f"inputs disagree on the batch size: {batches}")
    for name, data in feeds.items():
        _check_index(specs[name], data, feeds)
    return feeds


def output_names(model: LoadedModel, requested: list[str] | None) -> list[str]:
    """The outputs to return, in order: those requested, or every output of the model."""
    if not requested:
        return list(model.output_names)
    known = model.output_names
    seen: set[str] = set()
    for name in requested:
        if name not in known:
            raise InvalidInput(
                f"requested output {shown(name)} is not an output of model '{model.name}'; "
                f"outputs: {_names(model.outputs)}"
            )
        if name in seen:
            raise InvalidInput(f"output '{name}' requested more than once")
        seen.add(name)
    return list(requested)


# ---- request parameters ----

# Triton's request parameters this server understands: name -> what it must be.
INTEGER_PARAMETERS = ("timeout", "priority")
SEQUENCE_PARAMETERS = ("sequence_id", "sequence_start", "sequence_end")


def infer_parameters(params: Mapping[str, Any]) -> float | None:
    """Check the parameters of an inference request; returns the ``timeout`` in seconds (Triton:
    microseconds, 0 = none). Parameters this server does not know are ignored, as Triton
    forwards them to backends that may not read them either."""
    for key in INTEGER_PARAMETERS:
        value = params.get(key)
        if value is None:
            continue
        if type(value) is not int or value < 0:
            raise InvalidInput(
                f"parameter '{key}': expected a non-negative integer, got "
                f"{type(value).__name__} {shown(str(value), 40)}"
            )
    for key in SEQUENCE_PARAMETERS:
        value = params.get(key)
        if value:
            raise NotSupported(
                f"parameter '{key}': sequence batching is not offered; the models are stateless"
            )
    timeout = params.get("timeout")
    return timeout / 1e6 if timeout else None


def repository_name(name: str) -> None:
    if name:
        raise InvalidInput(
            f"repository_name {shown(name)}: this server serves one repository; leave it empty"
        )


def load_parameters(params: Mapping[str, Any]) -> None:
    """A load request may not carry a config or files (Triton's override): models come from the
    repository's folder only, never from the request."""
    for key in params:
        raise NotSupported(
            f"parameter {shown(key)}: load requests cannot carry configs or model files; place "
            "them in the repository and load the model by name"
        )


def unload_parameters(params: Mapping[str, Any]) -> None:
    for key, value in params.items():
        if key != "unload_dependents":
            raise NotSupported(f"parameter {shown(key)}: unload takes only 'unload_dependents'")
        if type(value) is not bool:
            raise InvalidInput(
                f"parameter 'unload_dependents': expected a bool, got {type(value).__name__}"
            )
