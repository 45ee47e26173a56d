"""`attentive batch` arguments from the environment (``ATTENTIVE_BATCH_*``), so a container can be
configured without a command line (docker compose's ``batch`` service). A flag given on the
command line wins over its variable.

    ATTENTIVE_BATCH_MODEL=transformer ATTENTIVE_BATCH_INPUT=in.jsonl ATTENTIVE_BATCH_OUTPUT=out.jsonl
    ATTENTIVE_BATCH_SERVER=server:8001          (commas for several)
    ATTENTIVE_BATCH_COLUMNS="title=source_text" (commas or spaces between pairs)
    ATTENTIVE_BATCH_ATTENTION=true  ATTENTIVE_BATCH_BATCH_SIZE=32  ATTENTIVE_BATCH_CONCURRENCY=8
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BatchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATTENTIVE_BATCH_", extra="ignore")

    model: str | None = None
    input: Path | None = None
    output: Path | None = None
    server: str = Field(default="", description="HOST:PORT, comma-separated for several")
    columns: str = Field(default="", description="COLUMN=INPUT pairs, comma or space separated")
    outputs: str = Field(default="", description="output names, comma or space separated")
    attention: bool = False
    batch_size: int = Field(default=32, ge=1)
    concurrency: int = Field(default=4, ge=1)
    id_column: str = "id"

    @staticmethod
    def split(text: str) -> list[str]:
        return [part for part in re.split(r"[,\s]+", text) if part]
