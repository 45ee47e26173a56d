"""The server's settings: environment variables with the ``ATTENTIVE_`` prefix (e.g.
``ATTENTIVE_GRPC_PORT=9001``), overridable by ``attentive serve`` flags. Nothing else in server/
hard-codes a port, path or limit."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from attentive.settings import Settings

MiB = 1024 * 1024


class ServerSettings(Settings):
    host: str = Field(default="0.0.0.0", description="Address the gRPC and metrics servers bind.")
    grpc_port: int = Field(default=8001, ge=0, le=65535, description="gRPC port (0: any free).")
    metrics_port: int | None = Field(
        default=8002, ge=0, le=65535, description="Prometheus port (0: any free; unset: off)."
    )
    execution_provider: Literal["auto", "cuda", "cpu"] = Field(
        default="auto",
        description="auto: CUDA when it loads on this machine, CPU otherwise; cuda: CUDA only "
        "(models fail to load without it); cpu: CPU only.",
    )
    intra_op_threads: int = Field(default=0, ge=0, description="onnxruntime threads (0: default).")
    inter_op_threads: int = Field(default=0, ge=0, description="onnxruntime threads (0: default).")
    inference_workers: int = Field(
        default=4, ge=1, description="Threads that run onnxruntime off the event loop."
    )
    max_message_bytes: int = Field(
        default=256 * MiB,
        ge=1024,
        description="Largest gRPC message received or sent (Cora's features alone are 15 MB).",
    )
    auth_token: SecretStr | None = Field(
        default=None,
        description="When set, every call but health must send 'authorization: Bearer <token>'.",
    )
    grace_period_s: float = Field(
        default=30.0, ge=0, description="On SIGTERM/SIGINT: time in-flight requests get to finish."
    )
    log_level: str = Field(default="INFO")
