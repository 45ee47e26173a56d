"""Typed configs: every model's config is a dataclass passed whole and saved with the weights.

``TrainConfig`` is nested in every model config as ``train``; presets are dicts of overrides
(``{"d_model": 64, "train": {"epochs": 2}}``) applied by :func:`with_overrides`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, TypeVar

C = TypeVar("C")


@dataclasses.dataclass
class TrainConfig:
    seed: int = 0
    epochs: int = 10
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 32
    clip_norm: float | None = 1.0
    patience: int | None = None  # epochs without improvement of the monitored metric
    max_minutes: float | None = None  # wall-clock cap on training
    eval_every: int = 1  # epochs between validations
    threads: int = 2


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Rebuild a (nested) config dataclass from :func:`to_dict`'s output; unknown keys fail."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown config keys {sorted(unknown)}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        default = fields[name].default_factory  # type: ignore[misc]
        if isinstance(value, dict) and default is not dataclasses.MISSING:
            nested = default()
            if dataclasses.is_dataclass(nested):
                value = from_dict(type(nested), value)
        kwargs[name] = value
    return cls(**kwargs)


def with_overrides(config: C, overrides: dict[str, Any]) -> C:
    merged = _merge(to_dict(config), overrides)
    return from_dict(type(config), merged)


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if key not in out:
            raise ValueError(f"unknown config key {key!r}; valid keys: {', '.join(sorted(out))}")
        if isinstance(value, dict) and isinstance(out[key], dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def fingerprint(config: Any) -> str:
    """A short stable hash of a config: a checkpoint is stale when its fingerprint differs."""
    text = json.dumps(to_dict(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
