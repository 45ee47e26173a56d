"""Settings shared by every package: where the model repository and the datasets live.

Read once from the environment with the ``ATTENTIVE_`` prefix (``ATTENTIVE_REPOSITORY``,
``ATTENTIVE_DATA``). Packages with more settings (the server) subclass :class:`Settings`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATTENTIVE_", extra="ignore")

    repository: Path = Field(
        default=PROJECT_ROOT / "model_repository",
        description="The model repository (Triton layout) that build writes and serve reads.",
    )
    data: Path = Field(
        default=PROJECT_ROOT.parent / "shared" / "data",
        description="The datasets directory, laid out as shared/data/README.md describes.",
    )
    runs: Path = Field(
        default=PROJECT_ROOT / "runs",
        description="Checkpoints and training logs written by build.",
    )
