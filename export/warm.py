"""The warm start of build workers: importing this module loads what every model's build needs
and runs one tiny export, so that a process forked afterwards starts warm.

`attentive build` builds each model in a fresh process (see :func:`export.build.build`). Spawned
from nothing, each paid ~4 s of imports and ~3-6 s of torch.onnx's first export (its tracing and
decomposition machinery) - a fifth of a quick model's build. With the ``forkserver`` start
method, the server process imports this module once (``set_forkserver_preload``) and every
worker is forked from it: each model still starts from the same state, untouched by any other
model's build, only a warm one.

The export runs with one torch thread and without onnxruntime, so the forkserver holds no
OpenMP or onnxruntime thread pool that a fork would copy half-alive.
"""

from __future__ import annotations

import warnings

import torch

import export.build  # noqa: F401  (the build's imports: onnx, onnxruntime, every model)
from export.onnx import OPSET


def _export_once() -> None:
    torch.set_num_threads(1)  # no OpenMP pool before the forks; workers set their own count
    module = torch.nn.Sequential(torch.nn.Embedding(8, 4), torch.nn.Linear(4, 2)).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.zeros(1, 3, dtype=torch.long),),
            dynamo=True,
            opset_version=OPSET,
            verbose=False,
        )


_export_once()
