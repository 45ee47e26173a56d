"""The tiny zoo: every registered model built with its `tiny` preset into one repository.

Built once per test session (and cached across sessions under .pytest-zoo/ keyed by nothing but
the checkpoints' own staleness rules), so export and server tests run against real models.
"""

from __future__ import annotations

from pathlib import Path

from attentive.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def build_tiny_zoo(repository: Path, runs: Path) -> Path:
    from export.build import build
    from training import registry

    settings = Settings()
    build(registry.names(), "tiny", repository, settings.data, runs, jobs=settings.build_jobs)
    return repository
