"""`attentive serve`: serve the model repository over gRPC (KServe v2 + taxonomy service).

    attentive serve [--repository DIR] [--host H] [--port N] [--metrics-port N]
                    [--execution-provider auto|cuda|cpu]

Defaults come from ServerSettings (``ATTENTIVE_*`` environment variables). Stops gracefully on
SIGTERM / SIGINT and exits 0. Imports onnxruntime and grpc, never torch.
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
    parser.add_argument("--log-level", help="ATTENTIVE_LOG_LEVEL (default INFO)")


def _settings(args: argparse.Namespace) -> Any:
    from server.settings import ServerSettings

    overrides: dict[str, Any] = {
        "repository": args.repository,
        "host": args.host,
        "grpc_port": args.port,
        "metrics_port": args.metrics_port,
        "execution_provider": args.execution_provider,
        "log_level": args.log_level,
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
    from server.grpc.app import serve

    settings = _settings(args)
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
