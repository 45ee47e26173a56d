"""Settings shared by every package: where the model repository and the datasets live.

Read once from the environment with the ``ATTENTIVE_`` prefix (``ATTENTIVE_REPOSITORY``,
``ATTENTIVE_DATA``). Packages with more settings (the server) subclass :class:`Settings`.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_data_dir(root: Path = PROJECT_ROOT) -> Path:
    """Where datasets live when ``ATTENTIVE_DATA`` is unset: ``../shared/data`` beside the
    checkout when it exists (development machines, CI: an offline mirror), else the user's cache
    directory (``$XDG_CACHE_HOME/attentive/data``, default ``~/.cache/attentive/data``), which
    ``attentive data fetch`` and ``attentive build`` fill."""
    mirror = root.parent / "shared" / "data"
    if mirror.is_dir():
        return mirror
    cache = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache) if cache and Path(cache).is_absolute() else Path.home() / ".cache"
    return base / "attentive" / "data"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATTENTIVE_", extra="ignore")

    repository: Path = Field(
        default=PROJECT_ROOT / "model_repository",
        description="The model repository (Triton layout) that build writes and serve reads.",
    )
    data: Path = Field(
        default_factory=default_data_dir,
        description="The datasets directory, laid out as shared/data/README.md describes.",
    )
    runs: Path = Field(
        default=PROJECT_ROOT / "runs",
        description="Checkpoints and training logs written by build.",
    )
    train_device: str = Field(
        default="cpu",
        pattern=r"^(cpu|cuda(:\d+)?)$",
        description="Where `attentive build` trains (cpu, cuda, cuda:N). Checkpoints are saved on "
        "the CPU either way, and export always runs on the CPU.",
    )
    build_jobs: int = Field(
        default_factory=lambda: max(1, min(4, os.cpu_count() or 1)),
        ge=1,
        description="Models that `attentive build` trains at once, each in its own process "
        "with cores // jobs torch threads (most zoo models train on one thread).",
    )


class DataSettings(BaseSettings):
    """How datasets are fetched; read by ``training/datasets`` each time it fetches, so a test or
    a caller that changes the environment is heard. An empty variable counts as unset (compose
    passes ``${ATTENTIVE_OFFLINE:-}`` through)."""

    model_config = SettingsConfigDict(
        env_prefix="ATTENTIVE_", extra="ignore", env_ignore_empty=True
    )

    offline: bool = Field(
        default=False, description="Never download; build names what is missing and how to get it."
    )
    accept_licences: str = Field(
        default="",
        description="`all` or a comma list of datasets whose non-commercial terms are accepted "
        "without a prompt.",
    )
    data_mirrors: str = Field(
        default="",
        description="Comma-separated folders or http(s):// / file:// URLs written by `attentive "
        "data mirror`, tried before GitHub.",
    )


def bad_environment(err: Exception) -> str | None:
    """One line per bad ``ATTENTIVE_*`` variable when ``err`` is a settings class's validation
    error (the CLI prints it instead of a traceback); ``None`` for any other error."""
    from pydantic import ValidationError

    if not isinstance(err, ValidationError):
        return None
    classes, prefix = list(BaseSettings.__subclasses__()), None
    while classes and prefix is None:
        cls = classes.pop()
        classes += cls.__subclasses__()
        if cls.__name__ == err.title:
            prefix = cls.model_config.get("env_prefix", "")
    if prefix is None:
        return None
    lines = []
    for e in err.errors():
        name = prefix + "_".join(str(part) for part in e["loc"]).upper()
        lines.append(f"{name}={e.get('input')!r}: {e['msg']}")
    return "; ".join(lines)
