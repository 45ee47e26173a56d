"""Write one model's entry in the model repository (Triton's layout, see docs/repository.md).

The entry is assembled in a temporary folder beside its final place and renamed into place, so a
repository never holds a half-written model.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import onnx

from taxonomy.card import CARD_FILE, CARD_METADATA_KEY, ModelCard, ModelIO, TensorSpec

MODEL_FILE = "model.onnx"
VERSION = "1"

_TRITON_TYPES = {
    "BOOL": "TYPE_BOOL",
    "INT8": "TYPE_INT8",
    "INT16": "TYPE_INT16",
    "INT32": "TYPE_INT32",
    "INT64": "TYPE_INT64",
    "UINT8": "TYPE_UINT8",
    "FP16": "TYPE_FP16",
    "FP32": "TYPE_FP32",
    "FP64": "TYPE_FP64",
    "BYTES": "TYPE_STRING",
}


def _tensor(spec: TensorSpec, batched: bool) -> str:
    dims = spec.shape[1:] if batched else spec.shape
    return (
        f'  {{ name: "{spec.name}" data_type: {_TRITON_TYPES[spec.datatype]} '
        f"dims: [ {', '.join(str(d) for d in dims)} ] }}"
    )


def config_pbtxt(
    name: str, io: ModelIO, preferred_batch_sizes: list[int], max_queue_delay_us: int
) -> str:
    """Triton model configuration: graph tensors only (BYTES text inputs are the server's
    extension, described in the card). As in Triton, dims exclude the batch dimension when
    max_batch_size > 0."""
    batched = io.max_batch_size > 0
    lines = [
        f'name: "{name}"',
        'platform: "onnxruntime_onnx"',
        f"max_batch_size: {io.max_batch_size}",
        "input [",
        ",\n".join(_tensor(t, batched) for t in io.inputs),
        "]",
        "output [",
        ",\n".join(_tensor(t, batched) for t in io.outputs),
        "]",
    ]
    if batched:
        sizes = [s for s in preferred_batch_sizes if s <= io.max_batch_size]
        lines += [
            "dynamic_batching {",
            f"  preferred_batch_size: [ {', '.join(map(str, sizes))} ]" if sizes else "",
            f"  max_queue_delay_microseconds: {max_queue_delay_us}",
            "}",
        ]
    lines += [
        "instance_group [ { kind: KIND_AUTO count: 1 } ]",
        "version_policy: { latest: { num_versions: 1 } }",
    ]
    return "\n".join(line for line in lines if line) + "\n"


def write_entry(
    repository: Path,
    card: ModelCard,
    model: onnx.ModelProto,
    config: str,
    files: dict[str, Path],
) -> Path:
    onnx.helper.set_model_props(model, {CARD_METADATA_KEY: card.to_json()})
    repository.mkdir(parents=True, exist_ok=True)
    final = repository / card.name
    staging = Path(tempfile.mkdtemp(prefix=f".{card.name}.", dir=repository))
    staging.chmod(0o755)
    try:
        (staging / VERSION).mkdir()
        onnx.save_model(model, str(staging / VERSION / MODEL_FILE))
        (staging / "config.pbtxt").write_text(config, encoding="utf-8")
        (staging / CARD_FILE).write_text(card.to_json(), encoding="utf-8")
        for name, source in files.items():
            shutil.copyfile(source, staging / name)
        if final.exists():
            old = final.with_name(f".{card.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
            staging.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def read_card(entry: Path) -> ModelCard | None:
    path = entry / CARD_FILE
    return ModelCard.load(path) if path.exists() else None
