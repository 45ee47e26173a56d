"""`attentive health`: ask a server's gRPC health service; exit 0 when it answers SERVING.

    attentive health [--server HOST:PORT] [--service NAME] [--timeout S]

For container health checks (docker compose) and scripts. The empty service name (the default)
is the server as a whole: SERVING once every model has been tried, NOT_SERVING while loading or
shutting down. Exit 1 otherwise (printing the status or the error). Imports grpc only.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--server", metavar="HOST:PORT", help="default localhost:<grpc port>")
    parser.add_argument("--service", default="", help="service name (default: the whole server)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds (default 5)")


def run(args: argparse.Namespace) -> int:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from server.settings import ServerSettings

    address = args.server or f"localhost:{ServerSettings().grpc_port}"
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            answer = stub.Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout
            )
        except grpc.RpcError as error:
            print(f"{address}: {error.code().name}: {error.details()}", file=sys.stderr)  # type: ignore[attr-defined]
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    print(f"{address}: {status}")
    return 0 if answer.status == health_pb2.HealthCheckResponse.SERVING else 1
