"""The gRPC side of a batch job: one grpc.aio channel, requests with bounded concurrency, retries.

Several servers are spread by gRPC's own ``round_robin`` load-balancing policy (set in the
channel's service config), never by a balancer of ours: several ``--server`` addresses become one
``ipv4:`` / ``ipv6:`` multi-address target (host names are resolved once, here), and one DNS name
(``dns:///server:8001``, e.g. a scaled compose service) is resolved by gRPC to all its addresses.

Status codes: UNAVAILABLE, DEADLINE_EXCEEDED and a server-side CANCELLED are retried with exponential backoff and jitter
(the server is down, restarting or busy: not the row's fault), and so is any answer carrying the
server's ``retry-after-ms`` hint (RESOURCE_EXHAUSTED for too many requests in flight, waiting at
least that long); the row-level codes (a request the
server rejects) are returned to the job, which isolates the rows at fault; any other code (no
such model, wrong token, ...) stops the job, which a rerun resumes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
import numpy as np

from protos.gen.attentive.taxonomy.v1 import taxonomy_pb2 as tx
from protos.gen.attentive.taxonomy.v1 import taxonomy_pb2_grpc as tx_grpc
from protos.gen.inference import grpc_service_pb2 as pb
from protos.gen.inference import grpc_service_pb2_grpc as pb_grpc
from server import codecs
from server.errors import RETRY_AFTER
from taxonomy.card import ModelCard, ModelIO, TensorSpec

# CANCELLED: a call this client did not cancel (its own cancellation raises CancelledError) is
# one a stopping server cut off (a GOAWAY race, or the grace period ending): inference is
# idempotent and rows are journalled by id, so it is resent.
RETRYABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)
ROW_LEVEL = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.INTERNAL,
    }
)
SERVICE_CONFIG = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})
MAX_MESSAGE = 1 << 30

T = TypeVar("T")


def retry_after_s(error: grpc.aio.AioRpcError) -> float | None:
    """The server's retry hint (a busy server's RESOURCE_EXHAUSTED carries one), in seconds."""
    for key, value in error.trailing_metadata() or ():
        if key == RETRY_AFTER:
            try:
                return max(0.0, int(value) / 1000)
            except (TypeError, ValueError):
                return None
    return None


class Fatal(Exception):
    """The job cannot go on (the server keeps failing, or refuses the job as a whole)."""


class Rejected(Exception):
    """The server rejected a request with a row-level code."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code, self.message = code, message


def _split(server: str) -> tuple[str, str]:
    """(host, port) of HOST:PORT, [V6]:PORT or V6 with a port after the last colon."""
    if server.startswith("["):
        host, _, port = server[1:].partition("]:")
        return host, port
    host, _, port = server.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--server {server!r}: expected HOST:PORT")
    return host, port


def target(servers: Sequence[str]) -> str:
    """The channel target for one or several servers (see the module docstring)."""
    if len(servers) == 1:
        server = servers[0]
        return server if ":///" in server or server.startswith(("ipv4:", "ipv6:", "unix:")) else f"dns:///{server}"  # fmt: skip
    v4, v6 = [], []
    for server in servers:
        host, port = _split(server)
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:  # a host name: every address it has now
            infos = socket.getaddrinfo(host, int(port), proto=socket.IPPROTO_TCP)
            addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        for address in dict.fromkeys(addresses):
            if address.version == 4:
                v4.append(f"{address}:{port}")
            else:
                v6.append(f"[{address}]:{port}")
    if v4 and v6:  # one target holds one family: IPv4-mapped IPv6 joins them
        v6 += [f"[::ffff:{a.rpartition(':')[0]}]:{a.rpartition(':')[2]}" for a in v4]
        v4 = []
    return f"ipv4:{','.join(v4)}" if v4 else f"ipv6:{','.join(v6)}"


def channel(servers: Sequence[str]) -> grpc.aio.Channel:
    options = [
        ("grpc.service_config", SERVICE_CONFIG),
        ("grpc.max_receive_message_length", MAX_MESSAGE),
        ("grpc.max_send_message_length", MAX_MESSAGE),
        ("grpc.enable_retries", 0),  # our loop retries, with the codes above only
    ]
    return grpc.aio.insecure_channel(target(servers), options=options)


class Sender:
    def __init__(
        self,
        chan: grpc.aio.Channel,
        model: str,
        outputs: Sequence[str] = (),
        *,
        concurrency: int = 4,
        timeout: float = 60.0,
        retries: int = 8,
        backoff: float = 0.25,
        max_backoff: float = 10.0,
        token: str | None = None,
        on_retry: Callable[[grpc.StatusCode, str, float], None] | None = None,
    ) -> None:
        self.inference = pb_grpc.GRPCInferenceServiceStub(chan)
        self.taxonomy = tx_grpc.TaxonomyServiceStub(chan)
        self.model, self.outputs = model, list(outputs)
        self.slots = asyncio.Semaphore(concurrency)
        self.timeout, self.retries = timeout, retries
        self.backoff, self.max_backoff = backoff, max_backoff
        self.metadata = (("authorization", f"Bearer {token}"),) if token else None
        self.on_retry = on_retry
        self.retried = 0

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call`` with retries on RETRYABLE; row-level codes raise Rejected, others Fatal."""
        attempt = 0
        while True:
            try:
                return await call()
            except grpc.aio.AioRpcError as error:
                code, message = error.code(), error.details() or ""
                pushback = retry_after_s(error)
                if code in ROW_LEVEL and pushback is None:
                    raise Rejected(code, message) from None
                if code not in RETRYABLE and pushback is None:
                    raise Fatal(f"{code.name}: {message}") from None
                if attempt >= self.retries:
                    raise Fatal(f"{code.name} after {attempt + 1} attempts: {message}") from None
                delay = min(self.max_backoff, self.backoff * 2**attempt) * random.uniform(0.5, 1)
                delay = max(delay, pushback or 0.0)
                attempt += 1
                self.retried += 1
                if self.on_retry is not None:
                    self.on_retry(code, message, delay)
                await asyncio.sleep(delay)

    async def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        request = pb.ModelInferRequest(model_name=self.model)
        for name, array in inputs.items():
            request.inputs.add(name=name, datatype=codecs.datatype_of(array), shape=array.shape)
            request.raw_input_contents.append(codecs.to_raw(array))
        for name in self.outputs:
            request.outputs.add(name=name)
        async with self.slots:
            response = await self._call(
                lambda: self.inference.ModelInfer(
                    request, timeout=self.timeout, metadata=self.metadata
                )
            )
        return {
            t.name: codecs.from_raw(t.name, t.datatype, list(t.shape), raw)
            for t, raw in zip(response.outputs, response.raw_output_contents, strict=True)
        }

    async def model_io(self) -> ModelIO:
        """The model's io: its card's, or (no card) the server's ModelMetadata + ModelConfig."""
        kw: dict[str, Any] = {"timeout": self.timeout, "metadata": self.metadata}
        try:
            answer = await self._call(
                lambda: self.taxonomy.GetCard(tx.GetCardRequest(name=self.model), **kw)
            )
        except Rejected as error:
            raise Fatal(f"model {self.model!r}: {error}") from None
        if answer.card_json:
            return ModelCard.from_json(answer.card_json).io
        meta = await self._call(
            lambda: self.inference.ModelMetadata(pb.ModelMetadataRequest(name=self.model), **kw)
        )
        config = await self._call(
            lambda: self.inference.ModelConfig(pb.ModelConfigRequest(name=self.model), **kw)
        )

        def specs(tensors: Any) -> list[TensorSpec]:
            return [
                TensorSpec(name=t.name, datatype=t.datatype, shape=list(t.shape)) for t in tensors
            ]

        return ModelIO(
            max_batch_size=config.config.max_batch_size,
            inputs=specs(meta.inputs),
            outputs=specs(meta.outputs),
        )
