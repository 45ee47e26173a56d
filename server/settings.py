"""The server's settings: environment variables with the ``ATTENTIVE_`` prefix (e.g.
``ATTENTIVE_GRPC_PORT=9001``), overridable by ``attentive serve`` flags. Nothing else in server/
hard-codes a port, path or limit.

Limits (docs: SECURITY.md): a request over a limit the *server* sets here is refused with
RESOURCE_EXHAUSTED before any model work is done; a request a *model* cannot take (its card's
max_batch_size or max_shape, its vocabulary) is INVALID_ARGUMENT."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

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
    cuda_device_id: int = Field(default=0, ge=0, description="GPU the CUDA provider runs on.")
    cuda_conv_algo_search: Literal["EXHAUSTIVE", "HEURISTIC", "DEFAULT"] = Field(
        default="HEURISTIC",
        description="cuDNN convolution algorithm search: EXHAUSTIVE benchmarks every algorithm "
        "on each new input shape (slow first requests for variable lengths), HEURISTIC asks cuDNN.",
    )
    cuda_tf32: bool = Field(
        default=False,
        description="Allow TF32 matrix products on CUDA (faster on Ampere and later, but about "
        "1e-3 relative error: off so GPU answers match the CPU's and the export's parity).",
    )
    cuda_mem_limit_mb: int = Field(
        default=0, ge=0, description="CUDA memory arena limit in MiB (0: no limit)."
    )
    cuda_io_binding: bool = Field(
        default=True,
        description="On CUDA, bind inputs and the requested outputs with onnxruntime's I/O "
        "binding: one host-to-device copy per input, one device-to-host per requested output.",
    )
    intra_op_threads: int = Field(
        default=0,
        ge=0,
        description="onnxruntime threads per session (0: the cores this process may use, divided "
        "by the runs of the model that may go at once: its instance count, at most "
        "inference_workers).",
    )
    inter_op_threads: int = Field(default=0, ge=0, description="onnxruntime threads (0: default).")
    inference_workers: int = Field(
        default=4,
        ge=1,
        description="Threads that run onnxruntime off the event loop (shared by every model; a "
        "model's config.pbtxt instance_group count bounds its own runs at once).",
    )
    dynamic_batching: bool = Field(
        default=True,
        description="Merge requests that arrive together into one onnxruntime run, per model, as "
        "its config.pbtxt's dynamic_batching block says (preferred sizes, max queue delay); off: "
        "every request runs by itself.",
    )
    dynamic_batching_skip_delay_when_quiet: bool = Field(
        default=True,
        description="With dynamic batching, a request that finds its model quiet (no other "
        "request of it in the server, an instance free, and no traffic within 10 max_queue_delays: "
        "no request arrived while another was in, no merged run ended) runs at once instead of "
        "waiting the delay for company; under traffic requests gather as config.pbtxt says. "
        "false: Triton's exact behaviour (every request may wait up to max_queue_delay).",
    )
    small_run_threshold_us: int = Field(
        default=1000,
        ge=0,
        description="A CPU model whose card example runs in under this many microseconds at load "
        "also gets a single-threaded session, used for the runs expected to stay under it too "
        "(inputs up to the example's size times this threshold over its time): waking "
        "onnxruntime's pool threads costs more than they save on such runs (0: off; only when "
        "intra_op_threads is 0, the server choosing the threads).",
    )
    spin_wait: bool = Field(
        default=False,
        description="Let onnxruntime's threads busy-wait between operators: lower latency for a "
        "lone request on idle dedicated cores, far lower throughput under concurrent load or on "
        "shared CPUs (server/runtime.py has the figures).",
    )
    # ---- limits ----
    max_message_bytes: int = Field(
        default=256 * MiB,
        ge=1024,
        description="Largest gRPC message received or sent (Cora's features alone are 15 MB).",
    )
    max_concurrent_requests: int = Field(
        default=128,
        ge=1,
        description="Inference requests admitted at once (running on the inference_workers "
        "threads or queued for one, FIFO); one more is refused with RESOURCE_EXHAUSTED.",
    )
    max_batch_size: int = Field(
        default=256, ge=1, description="Largest batch (first dimension of a batching model)."
    )
    max_sequence_length: int = Field(
        default=4096,
        ge=1,
        description="Largest variable-length axis of an input (tokens, after tokenizing text).",
    )
    max_graph_nodes: int = Field(
        default=200_000, ge=1, description="Most nodes in one graph request (Pubmed: 19,717)."
    )
    max_graph_edges: int = Field(
        default=2_000_000, ge=1, description="Most edges in one graph request (Pubmed: 88,648)."
    )
    max_text_bytes: int = Field(
        default=64 * 1024, ge=1, description="Largest text element (UTF-8 bytes) before tokenizing."
    )
    # ---- access ----
    auth_token: SecretStr | None = Field(
        default=None,
        description="When set, every call must send 'authorization: Bearer <token>' (health "
        "too, unless health_open).",
    )
    health_open: bool = Field(
        default=True, description="With auth_token set: grpc.health.v1 still answers without it."
    )
    tls_cert_file: Path | None = Field(
        default=None, description="PEM certificate chain: serve gRPC over TLS (with the key)."
    )
    tls_key_file: Path | None = Field(default=None, description="PEM private key of tls_cert_file.")
    tls_client_ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle: clients must present a certificate it signed (mutual TLS).",
    )
    # ---- lifecycle ----
    grace_period_s: float = Field(
        default=30.0, ge=0, description="On SIGTERM/SIGINT: time in-flight requests get to finish."
    )
    log_level: str = Field(default="INFO")

    @model_validator(mode="after")
    def _tls_pair(self) -> ServerSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together: set both or neither")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file (mutual TLS) needs tls_cert_file and tls_key_file")
        for name in ("tls_cert_file", "tls_key_file", "tls_client_ca_file"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{name} {path} is not a file")
        return self
