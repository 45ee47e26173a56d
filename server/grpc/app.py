"""Lifecycle: build the grpc.aio server (inference + taxonomy + health + reflection), load the
repository, serve metrics, and stop gracefully on SIGTERM / SIGINT: health goes NOT_SERVING, new
calls are refused with UNAVAILABLE, in-flight calls get ``grace_period_s`` to finish (the
transport stays open until they have: the drain), then the transport closes, exit 0.

Access (SECURITY.md): TLS or mutual TLS on the gRPC port when ServerSettings names a certificate,
and an optional bearer token checked by AuthInterceptor before any servicer runs."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from protos.gen.attentive.taxonomy.v1 import taxonomy_pb2, taxonomy_pb2_grpc
from protos.gen.inference import grpc_service_pb2, grpc_service_pb2_grpc
from server.dataplane import DataPlane
from server.grpc.servicers import InferenceServicer, TaxonomyServicer
from server.metrics import StatsCollector, serve_metrics
from server.settings import ServerSettings

log = logging.getLogger("attentive.server")

INFERENCE_SERVICE = grpc_service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
TAXONOMY_SERVICE = taxonomy_pb2.DESCRIPTOR.services_by_name["TaxonomyService"].full_name
HEALTH_PREFIX = "/grpc.health.v1.Health/"

# (request streaming, response streaming) -> the handler factory of that kind
_HANDLERS: dict[tuple[bool, bool], Callable[..., grpc.RpcMethodHandler]] = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """With a token configured every call needs ``authorization: Bearer <token>`` (one such
    header, compared in constant time), reflection included; health stays open when
    ``health_open`` (load balancers probe without credentials). Anything else: UNAUTHENTICATED,
    before a servicer or the data plane sees the request."""

    def __init__(self, token: str, health_open: bool = True) -> None:
        self.expected = f"Bearer {token}".encode()
        self.open = (HEALTH_PREFIX,) if health_open else ()

    def allowed(self, metadata: Any) -> bool:
        values = [v for k, v in (metadata or ()) if k == "authorization"]
        if len(values) != 1:
            return False
        value = values[0]
        given = value.encode("utf-8", "replace") if isinstance(value, str) else bytes(value)
        return hmac.compare_digest(given, self.expected)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = details.method or ""
        if (self.open and method.startswith(self.open)) or self.allowed(
            details.invocation_metadata
        ):
            return await continuation(details)
        handler = await continuation(details)

        async def deny(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong auth token")

        kind = (
            (handler.request_streaming, handler.response_streaming) if handler else (False, False)
        )
        return _HANDLERS[kind](
            deny,
            request_deserializer=handler.request_deserializer if handler else None,
            response_serializer=handler.response_serializer if handler else None,
        )


def server_credentials(settings: ServerSettings) -> grpc.ServerCredentials | None:
    """TLS credentials from the settings' PEM files (None: plaintext)."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    client_ca = settings.tls_client_ca_file
    return grpc.ssl_server_credentials(
        [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())],
        root_certificates=client_ca.read_bytes() if client_ca else None,
        require_client_auth=client_ca is not None,
    )


class App:
    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.plane = DataPlane(settings)
        self.health = HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.port = 0
        self.metrics_port: int | None = None
        self._metrics_httpd: Any = None
        self._stop = asyncio.Event()

    async def start(self) -> None:
        s = self.settings
        options = [
            ("grpc.max_receive_message_length", s.max_message_bytes),
            ("grpc.max_send_message_length", s.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
        interceptors = (
            [AuthInterceptor(s.auth_token.get_secret_value(), s.health_open)]
            if s.auth_token
            else []
        )
        server = grpc.aio.server(options=options, interceptors=interceptors)
        grpc_service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
            InferenceServicer(self.plane), server
        )
        taxonomy_pb2_grpc.add_TaxonomyServiceServicer_to_server(
            TaxonomyServicer(self.plane), server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        names = (
            INFERENCE_SERVICE,
            TAXONOMY_SERVICE,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        )
        reflection.enable_server_reflection(names, server)
        for service in ("", INFERENCE_SERVICE, TAXONOMY_SERVICE):
            await self.health.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
        credentials = server_credentials(s)
        address = f"{s.host}:{s.grpc_port}"
        if credentials is None:
            self.port = server.add_insecure_port(address)
        else:
            self.port = server.add_secure_port(address, credentials)
        if self.port == 0:
            raise OSError(f"cannot bind gRPC to {s.host}:{s.grpc_port}")
        await server.start()
        self.server = server
        transport = (
            "plaintext" if credentials is None else "mutual TLS" if s.tls_client_ca_file else "TLS"
        )
        log.info(
            "gRPC listening on %s:%d (%s%s, loading models)",
            s.host,
            self.port,
            transport,
            ", token required" if s.auth_token else "",
        )
        if s.metrics_port is not None:
            collector = StatsCollector(
                lambda: self.plane.statistics(),
                lambda: dict(self.plane.pending),
                self.plane.ready_models,
                lambda: {"in_flight": self.plane.inflight, "rejected": self.plane.rejected},
            )
            self._metrics_httpd, self.metrics_port = serve_metrics(
                collector, s.host, s.metrics_port
            )
        await self.plane.load_all()
        await self._publish_health()
        failed = self.plane.loadable_failures()
        if failed:
            log.warning("not ready: %s (see RepositoryIndex for the reasons)", ", ".join(failed))

    async def _publish_health(self) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if self.plane.ready()
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        await self.health.set("", status)
        await self.health.set(INFERENCE_SERVICE, status)
        await self.health.set(TAXONOMY_SERVICE, health_pb2.HealthCheckResponse.SERVING)

    def request_stop(self) -> None:
        self._stop.set()

    async def wait(self) -> None:
        await self._stop.wait()
        await self.stop()

    async def stop(self) -> None:
        log.info("shutting down: refusing new requests, %.0fs grace", self.settings.grace_period_s)
        self.plane.begin_shutdown()
        await self.health.enter_graceful_shutdown()
        if self.server is not None:
            # Drain first, with the transport still open: a new request gets the data plane's
            # UNAVAILABLE ("server is shutting down"), where a stopped grpc server answers
            # CANCELLED or UNAVAILABLE depending on how the call races its GOAWAY.
            start = time.monotonic()
            await self.plane.drained(self.settings.grace_period_s)
            left = max(0.0, self.settings.grace_period_s - (time.monotonic() - start))
            await self.server.stop(left)
        # Calls still running were cancelled at the grace period's end; their onnxruntime runs
        # would go on in the worker threads (and hold the exit) unless told to stop.
        stopped = self.plane.terminate_runs()
        if stopped:
            log.warning("grace period over: stopped %d inference runs", stopped)
        self.plane.close()
        if self._metrics_httpd is not None:
            self._metrics_httpd.shutdown()
            self._metrics_httpd.server_close()
        log.info("stopped")


async def serve(settings: ServerSettings, on_ready: Callable[[App], None] | None = None) -> int:
    """Run until SIGTERM / SIGINT, then stop gracefully. Returns the exit status (0)."""
    app = App(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, app.request_stop)
    await app.start()
    if on_ready is not None:
        on_ready(app)
    await app.wait()
    return 0


class BackgroundServer:
    """A server on its own event loop in a daemon thread (tests, notebooks). Use as a context
    manager; ``port`` / ``metrics_port`` are the bound ports once it has started."""

    def __init__(self, settings: ServerSettings, start_timeout_s: float = 120.0) -> None:
        self.settings = settings
        self.timeout = start_timeout_s
        self.app: App | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="attentive-server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self.app = App(self.settings)
            try:
                await self.app.start()
            except BaseException as error:
                self._error = error
                raise
            finally:
                self._ready.set()
            await self.app.wait()

        with contextlib.suppress(BaseException):  # a start failure is reported through _error
            self._loop.run_until_complete(main())

    def start(self) -> BackgroundServer:
        self._thread.start()
        if not self._ready.wait(self.timeout):
            raise TimeoutError(f"server did not start within {self.timeout}s")
        if self._error is not None:
            raise RuntimeError(f"server failed to start: {self._error}") from self._error
        return self

    @property
    def port(self) -> int:
        assert self.app is not None
        return self.app.port

    @property
    def metrics_port(self) -> int | None:
        return self.app.metrics_port if self.app else None

    def call(self, coro: Awaitable[Any], timeout: float = 60.0) -> Any:
        """Run a coroutine on the server's loop (e.g. ``plane.load(name)``) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)  # type: ignore[arg-type]

    def stop(self, timeout: float = 60.0) -> None:
        if self.app is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.app.request_stop)
        self._thread.join(timeout)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
