"""The models `attentive bench perf` measures: each repository entry with a card, its inputs (the
card's first example without text, tiled to a batch), an in-process onnxruntime session, and the
PyTorch module the export came from (rebuilt from the build's checkpoint, no training).

The onnxruntime session gets the server's session options (ServerSettings: intra/inter-op threads,
spinning), so in-process vs served measures what serving adds, not a different tuning."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from server.codecs import from_list
from server.repository import ModelEntry, scan
from taxonomy.card import Example, ModelCard


@dataclass
class BenchModel:
    name: str
    entry: ModelEntry
    card: ModelCard
    example: Example  # no BYTES input: ids / features, as the graph takes them

    @property
    def onnx_path(self) -> Path:
        return self.entry.model_file(self.entry.versions[-1])

    @property
    def max_batch_size(self) -> int:
        return self.card.io.max_batch_size

    def batches(self, wanted: Iterable[int]) -> list[int]:
        """The batch sizes measured for ``wanted``: each capped by max_batch_size, repeats
        dropped; a model that does not batch (max_batch_size 0: one request is one whole input,
        e.g. a graph) is measured at 1 only."""
        cap = self.max_batch_size or 1
        found: list[int] = []
        for batch in (min(w, cap) for w in wanted):
            if batch not in found:
                found.append(batch)
        return found

    def inputs(self, batch: int) -> dict[str, np.ndarray]:
        """The example's tensors, the row repeated ``batch`` times along the batch axis."""
        arrays = {
            t.name: from_list(t.name, t.datatype, t.shape, t.data) for t in self.example.inputs
        }
        if self.max_batch_size == 0:
            return arrays
        return {n: np.ascontiguousarray(np.repeat(a[:1], batch, axis=0)) for n, a in arrays.items()}

    @property
    def outputs(self) -> list[str]:
        """The graph's outputs (what onnxruntime computes; text outputs are the server's)."""
        return [t.name for t in self.card.io.outputs]


def discover(repository: Path, only: list[str] | None = None) -> tuple[list[BenchModel], dict[str, str]]:  # fmt: skip
    """The measurable models, and the skipped ones with why."""
    found, skipped = [], {}
    for entry in scan(repository):
        if only and entry.name not in only:
            continue
        if entry.error or entry.card is None:
            skipped[entry.name] = entry.error or "no card.json"
            continue
        example = next(
            (e for e in entry.card.examples if all(t.datatype != "BYTES" for t in e.inputs)), None
        )
        if example is None:
            skipped[entry.name] = "no example without text inputs"
            continue
        found.append(BenchModel(entry.name, entry, entry.card, example))
    missing = sorted(set(only or ()) - {m.name for m in found} - set(skipped))
    if missing:
        raise SystemExit(f"not in {repository}: {', '.join(missing)}")
    return found, skipped


def sessions(models: list[BenchModel], provider: str) -> dict[str, ort.InferenceSession]:
    """Plain onnxruntime sessions as a user would make them: onnxruntime's default threads (every
    core) unless ATTENTIVE_INTRA_OP_THREADS / _INTER_OP_THREADS say otherwise, spinning as the
    server has it (off unless ATTENTIVE_SPIN_WAIT), providers chosen as the server chooses them
    (``provider`` cpu, cuda, or auto: CUDA where it loads, probed once) with its CUDA options."""
    from server.runtime import policy_for, session_options
    from server.settings import ServerSettings

    s = ServerSettings().model_copy(update={"execution_provider": provider})
    policy = policy_for(s)
    made = {}
    for model in models:
        options = session_options(s.intra_op_threads, s.inter_op_threads, s.spin_wait)
        made[model.name] = policy.session(str(model.onnx_path), options)
    return made


def ort_call(model: BenchModel, made: ort.InferenceSession, batch: int) -> Callable[[], object]:
    feeds, outputs = model.inputs(batch), model.outputs
    return lambda: made.run(outputs, feeds)


@dataclass
class Eager:
    """The PyTorch module the export traced (a decoding loop included), or why there is none."""

    call: Callable[[int], Callable[[], object]] | None  # batch -> one forward pass
    device: str = ""
    reason: str = ""


def eager(model: BenchModel, runs: Path, data: Path, provider: str) -> Eager:
    """Rebuild the exported module from runs/<preset>/<name>/model.ckpt as export does: the
    checkpoint's model, the task (which export reads for its examples), ``spec.export(...)``."""
    try:
        import torch

        from training import checkpoint, registry
        from training.config import to_dict
    except ImportError as error:
        return Eager(None, reason=f"PyTorch not installed ({error.name})")
    training = model.card.training
    if training is None:
        return Eager(None, reason="the card has no training provenance")
    try:
        spec = registry.get(model.name)
    except KeyError:
        return Eager(None, reason="not a registered model")
    run_dir = runs / training.preset / model.name
    path = run_dir / "model.ckpt"
    if not path.is_file():
        return Eager(None, reason=f"no checkpoint {path}")
    try:
        ckpt = checkpoint.load(path, spec)
        if json.loads(json.dumps(to_dict(ckpt.config))) != training.config:
            return Eager(None, reason=f"{path} has another config than the served model")
        task = spec.task(ckpt.config, data, run_dir)  # export reads it for examples
        exported = spec.export(checkpoint.rebuild(ckpt, spec), ckpt.config, task)
    except Exception as error:  # noqa: BLE001 - reported as n/a, the other sections go on
        return Eager(None, reason=f"could not rebuild the module: {type(error).__name__}: {error}")
    threads = os.environ.get("ATTENTIVE_TORCH_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    cuda = provider in ("cuda", "auto") and torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    module = exported.module.to(device).eval()
    names = exported.input_names  # forward()'s arguments, in order

    def calls(default_device: bool) -> Callable[[int], Callable[[], object]]:
        """Inputs moved to the device and outputs back each call, as onnxruntime's run does.
        ``default_device``: factory calls in forward() without device= allocate there too."""

        def call(batch: int) -> Callable[[], object]:
            arrays = model.inputs(batch)
            tensors = [torch.from_numpy(arrays[name]) for name in names]
            where = torch.device(device) if default_device else contextlib.nullcontext()

            def forward() -> object:
                with torch.inference_mode(), where:
                    out = module(*(t.to(device) for t in tensors))
                    return [o.cpu() for o in _tensors(out)]

            return forward

        return call

    failed: Exception | None = None
    for default_device in (False, True) if device.type != "cpu" else (False,):
        try:
            calls(default_device)(1)()  # one pass: does it run here at all?
        except Exception as error:  # noqa: BLE001 - n/a with the reason below
            failed = error
            continue
        # A module that makes CPU tensors in forward() (the decoding loops) runs on CUDA under
        # torch.device(...) as the default device: a torch function mode, some Python per op.
        note = " (torch.device default device)" if default_device else ""
        return Eager(calls(default_device), device=f"{device}{note}")
    return Eager(None, reason=f"the module does not run on {device}: {type(failed).__name__}: {failed}")  # fmt: skip


def _tensors(out: Any) -> list[Any]:
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _tensors(o)]
    return [out]
