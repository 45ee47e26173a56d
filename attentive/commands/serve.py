"""`attentive serve`: serve the model repository over gRPC (KServe v2 + taxonomy service).

    attentive serve [--repository DIR] [--host H] [--port N] [--metrics-port N]
                    [--execution-provider auto|cuda|cpu] [--[no-]dynamic-batching]
                    [--grace-period S]
                    [--tls-cert PEM --tls-key PEM [--tls-client-ca PEM]]

Defaults come from ServerSettings (``ATTENTIVE_*`` environment variables; the auth token only from
ATTENTIVE_AUTH_TOKEN, never a flag that `ps` would show; limits: ATTENTIVE_MAX_*). Stops
gracefully on SIGTERM / SIGINT and exits 0. Imports onnxruntime and grpc, never torch.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--repository", type=Path, help="model repository (ATTENTIVE_REPOSITORY)")
    parser.add_argument("--host", help="bind address (ATTENTIVE_HOST, default 0.0.0.0)")
    parser.add_argument("--port", type=int, help="gRPC port, 0 = any free (ATTENTIVE_GRPC_PORT)")
    parser.add_argument(
        "--metrics-port", type=int, help="Prometheus port, 0 = any free (ATTENTIVE_METRICS_PORT)"
    )
    parser.add_argument("--no-metrics", action="store_true", help="do not serve metrics")
    parser.add_argument(
        "--execution-provider",
        choices=["auto", "cuda", "cpu"],
        help="ATTENTIVE_EXECUTION_PROVIDER (default auto: CUDA when it loads, else CPU)",
    )
    parser.add_argument(
        "--dynamic-batching",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="merge requests that arrive together per model, as config.pbtxt says "
        "(ATTENTIVE_DYNAMIC_BATCHING, default on)",
    )
    parser.add_argument("--log-level", help="ATTENTIVE_LOG_LEVEL (default INFO)")
    parser.add_argument(
        "--grace-period", type=float, help="seconds in-flight requests get on SIGTERM (30)"
    )
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate (ATTENTIVE_TLS_CERT_FILE)")
    parser.add_argument("--tls-key", type=Path, help="PEM private key (ATTENTIVE_TLS_KEY_FILE)")
    parser.add_argument(
        "--tls-client-ca", type=Path, help="mutual TLS: PEM CA (ATTENTIVE_TLS_CLIENT_CA_FILE)"
    )


def _settings(args: argparse.Namespace) -> Any:
    from server.settings import ServerSettings

    overrides: dict[str, Any] = {
        "repository": args.repository,
        "host": args.host,
        "grpc_port": args.port,
        "metrics_port": args.metrics_port,
        "execution_provider": args.execution_provider,
        "dynamic_batching": args.dynamic_batching,
        "log_level": args.log_level,
        "grace_period_s": args.grace_period,
        "tls_cert_file": args.tls_cert,
        "tls_key_file": args.tls_key,
        "tls_client_ca_file": args.tls_client_ca,
    }
    settings = ServerSettings(**{k: v for k, v in overrides.items() if v is not None})
    if args.no_metrics:
        settings = settings.model_copy(update={"metrics_port": None})
    return settings


def _example(app: Any, host: str) -> str:
    """One call a user can paste, for the first ready model (text if there is one)."""
    plane = app.plane
    ready = [n for n in sorted(plane.models) if plane.model_ready(n)]
    address = f"{host}:{app.port}"
    for name in ready:
        card = plane.models[name].entry.card
        if card and card.io.text_inputs:
            return f'attentive infer {name} --server {address} --text "a cat sat on the mat"'
    if ready:
        return f"attentive infer {ready[0]} --server {address} --example"
    return f"attentive taxonomy list --server {address}"


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from server.grpc.app import serve

    try:
        settings = _settings(args)
    except ValidationError as error:
        problems = "; ".join(e["msg"] for e in error.errors())
        print(f"attentive serve: error: {problems}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not Path(settings.repository).is_dir():
        print(
            f"attentive serve: error: model repository {settings.repository} does not exist; "
            "run `attentive build` (or `make run`) first",
            file=sys.stderr,
        )
        return 1
    shown = "localhost" if settings.host in ("0.0.0.0", "::", "") else settings.host

    def ready(app: Any) -> None:
        plane = app.plane
        up = [n for n in sorted(plane.models) if plane.model_ready(n)]
        print(f"attentive serve: listening on {shown}:{app.port}", flush=True)
        print(f"  models ready: {len(up)} of {len(plane.models)} ({', '.join(up) or 'none'})")
        print(
            "  services: inference.GRPCInferenceService (KServe v2), "
            "attentive.taxonomy.v1.TaxonomyService, grpc.health.v1.Health, reflection"
        )
        if app.metrics_port is not None:
            print(f"  metrics: http://{shown}:{app.metrics_port}/metrics")
        print(f"  try: {_example(app, shown)}", flush=True)

    return asyncio.run(serve(settings, on_ready=ready))
