"""Checks a request against a model's io (the card's, or config.pbtxt's) before onnxruntime sees
anything, and turns text inputs into ids. Every failure is InvalidInput naming the input."""

from __future__ import annotations

import numpy as np

from server.errors import InvalidInput
from server.messages import Tensor
from server.runtime import LoadedModel
from taxonomy.card import TensorSpec


def _names(specs: list[TensorSpec]) -> str:
    return ", ".join(t.name for t in specs) or "none"


def _check_tensor(model: LoadedModel, spec: TensorSpec, tensor: Tensor) -> None:
    name = spec.name
    if tensor.datatype != spec.datatype:
        raise InvalidInput(f"input '{name}': datatype {tensor.datatype}, expected {spec.datatype}")
    shape = list(tensor.data.shape)
    if len(shape) != len(spec.shape):
        raise InvalidInput(
            f"input '{name}': rank {len(shape)} (shape {shape}), expected rank {len(spec.shape)} "
            f"(shape {spec.shape})"
        )
    for axis, (got, want) in enumerate(zip(shape, spec.shape, strict=True)):
        if want >= 0 and got != want:
            raise InvalidInput(
                f"input '{name}': dimension {axis} is {got}, expected {want} (shape {spec.shape})"
            )
    batched = model.entry.max_batch_size > 0
    if tensor.data.size == 0:
        what = "empty batch" if batched and shape[0] == 0 else f"empty tensor (shape {shape})"
        raise InvalidInput(f"input '{name}': {what}")
    if batched and shape[0] > model.entry.max_batch_size:
        raise InvalidInput(
            f"input '{name}': batch of {shape[0]} exceeds max_batch_size "
            f"{model.entry.max_batch_size}"
        )
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


def feeds_for(model: LoadedModel, inputs: list[Tensor]) -> dict[str, np.ndarray]:
    """Validated onnxruntime feeds for ``inputs`` (text inputs tokenized into their ids input)."""
    graph = [a.name for a in model.session.get_inputs()]
    specs = {t.name: t for t in model.inputs if t.name in graph}
    text = {t.name: t for t in model.entry.card.io.text_inputs} if model.entry.card else {}
    seen: set[str] = set()
    feeds: dict[str, np.ndarray] = {}
    for tensor in inputs:
        if tensor.name in seen:
            raise InvalidInput(f"input '{tensor.name}' given more than once")
        seen.add(tensor.name)
        if tensor.name not in specs and tensor.name not in text:
            raise InvalidInput(
                f"unexpected input '{tensor.name}'; model '{model.name}' takes: "
                f"{_names(model.inputs)}"
            )
    for tensor in inputs:
        if tensor.name in text:
            t = text[tensor.name]
            if tensor.datatype != "BYTES":
                raise InvalidInput(
                    f"input '{tensor.name}': datatype {tensor.datatype}, expected BYTES"
                )
            if t.ids_input in seen:
                raise InvalidInput(
                    f"input '{tensor.name}' and input '{t.ids_input}' both given; send one"
                )
            ids = model.text[t.tokenizer].encode(tensor.name, tensor.data, t.max_length)
            _check_tensor(
                model, specs[t.ids_input], Tensor(t.ids_input, "INT64", list(ids.shape), ids)
            )
            feeds[t.ids_input] = ids
        else:
            _check_tensor(model, specs[tensor.name], tensor)
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
        return [t.name for t in model.outputs]
    known = {t.name for t in model.outputs}
    seen: set[str] = set()
    for name in requested:
        if name not in known:
            raise InvalidInput(
                f"requested output '{name}' is not an output of model '{model.name}'; outputs: "
                f"{_names(model.outputs)}"
            )
        if name in seen:
            raise InvalidInput(f"output '{name}' requested more than once")
        seen.add(name)
    return list(requested)
