"""Checkpoints carry their config, so export rebuilds the model from the checkpoint alone.

Everything in the file is a tensor or a plain JSON-like value: it loads with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training.config import fingerprint, from_dict, to_dict
from training.spec import ModelSpec

FORMAT = 1


@dataclass
class Checkpoint:
    model: str
    preset: str
    config: Any
    state_dict: dict[str, torch.Tensor]
    provenance: dict[str, Any]  # seed, epochs, steps, wall time, commit, validation metrics

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.config)


def save(path: Path, ckpt: Checkpoint) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "format": FORMAT,
            "model": ckpt.model,
            "preset": ckpt.preset,
            "config": to_dict(ckpt.config),
            "fingerprint": ckpt.fingerprint,
            "state_dict": ckpt.state_dict,
            "provenance": ckpt.provenance,
        },
        tmp,
    )
    tmp.replace(path)  # never leave a half-written checkpoint behind


def load(path: Path, spec: ModelSpec) -> Checkpoint:
    raw = torch.load(path, map_location="cpu", weights_only=True)
    if raw.get("format") != FORMAT or raw.get("model") != spec.name:
        raise ValueError(f"{path}: not a format-{FORMAT} checkpoint of {spec.name}")
    config = from_dict(type(spec.config()), raw["config"])
    return Checkpoint(spec.name, raw["preset"], config, raw["state_dict"], raw["provenance"])


def rebuild(ckpt: Checkpoint, spec: ModelSpec) -> nn.Module:
    model = spec.build(ckpt.config)
    model.load_state_dict(ckpt.state_dict)
    return model.eval()
