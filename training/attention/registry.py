"""The registry of attention mechanisms. Mechanisms register themselves in their own file;
``training.attention`` imports every mechanism file explicitly, so the list is visible there."""

from __future__ import annotations

from training.attention.base import Mechanism
from training.registry_base import Registry

MECHANISMS: Registry[Mechanism] = Registry("attention mechanism")


def register(mechanism: Mechanism) -> Mechanism:
    return MECHANISMS.register(mechanism.name, mechanism)


def get(name: str) -> Mechanism:
    return MECHANISMS.get(name)
