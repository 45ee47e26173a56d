"""The model registry: survey system name -> :class:`ModelSpec`."""

from __future__ import annotations

from training.registry_base import Registry
from training.spec import ModelSpec

MODELS: Registry[ModelSpec] = Registry("model")


def register(spec: ModelSpec) -> ModelSpec:
    return MODELS.register(spec.name, spec)


def get(name: str) -> ModelSpec:
    import training.models  # noqa: F401  (registers every model)

    return MODELS.get(name)


def names() -> list[str]:
    import training.models  # noqa: F401

    return MODELS.names()
