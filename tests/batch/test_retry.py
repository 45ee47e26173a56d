"""Which answers the batch sender retries: a busy server's RESOURCE_EXHAUSTED (it carries the
server's retry-after hint) is retried after at least that long; one without the hint (a request
over a size limit fails the same way every time) is the rows' fault and is not."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from attentive.batch.sender import Rejected, Sender, channel
from server.errors import RETRY_AFTER


def _error(code: grpc.StatusCode, trailers: tuple[tuple[str, str], ...]) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailers), details="busy or too big"
    )


def _run(trailers: tuple[tuple[str, str], ...]) -> tuple[object, list[float]]:
    async def go() -> tuple[object, list[float]]:
        delays: list[float] = []
        sender = Sender(
            channel(["localhost:1"]),
            "m",
            backoff=0.001,
            on_retry=lambda code, message, delay: delays.append(delay),
        )
        calls = 0

        async def call() -> str:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise _error(grpc.StatusCode.RESOURCE_EXHAUSTED, trailers)
            return "answer"

        return await sender._call(call), delays

    return asyncio.run(go())


def test_busy_server_is_retried_after_its_hint() -> None:
    answer, delays = _run(((RETRY_AFTER, "50"),))
    assert answer == "answer"
    assert len(delays) == 1 and delays[0] >= 0.05


def test_resource_exhausted_without_the_hint_rejects_the_rows() -> None:
    with pytest.raises(Rejected) as caught:
        _run(())
    assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
