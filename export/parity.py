"""Parity: the same inputs through PyTorch and onnxruntime must agree, or the export fails."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
import torch

from training.spec import ExportSpec


class ParityError(AssertionError):
    pass


@dataclass
class Parity:
    max_abs_diff: float
    tokens_identical: bool | None


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def check(model: onnx.ModelProto, spec: ExportSpec) -> Parity:
    sess = session(model)
    worst = 0.0
    identical: bool | None = True if spec.exact_outputs else None
    for args in spec.parity_inputs:
        with torch.no_grad():
            expected = spec.module(*args)
        expected = expected if isinstance(expected, tuple) else (expected,)
        feeds = {name: a.numpy() for name, a in zip(spec.input_names, args, strict=True)}
        got = sess.run(spec.output_names, feeds)
        for name, want, have in zip(spec.output_names, expected, got, strict=True):
            want_np = want.detach().numpy()
            if want_np.shape != have.shape:
                raise ParityError(f"{name}: shape {have.shape} from onnxruntime, {want_np.shape}")
            if name in spec.exact_outputs:
                if not np.array_equal(want_np, have):
                    raise ParityError(f"{name}: onnxruntime's tokens differ from PyTorch's")
                continue
            if want_np.size:
                worst = max(worst, float(np.abs(want_np.astype(np.float64) - have).max()))
    if worst > spec.tolerance:
        raise ParityError(f"max |PyTorch - onnxruntime| = {worst:.3g} > {spec.tolerance:g}")
    return Parity(worst, identical)
