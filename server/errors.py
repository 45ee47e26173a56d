"""Domain errors, the ONE table mapping them to gRPC status codes, and the ONE decorator every
servicer method uses. Anything else raised becomes INTERNAL with a request id in the log (and in
the message, so a user can quote it), and the server keeps serving."""

from __future__ import annotations

import functools
import inspect
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import grpc

log = logging.getLogger("attentive.server")


class ServerError(Exception):
    """Base of the errors a client is told about."""

    # When set, the answer carries trailing metadata RETRY_AFTER = this many milliseconds: the
    # request itself was fine and may be sent again (the server was busy), unlike the other
    # RESOURCE_EXHAUSTED answers (a request over a size limit fails the same way every time).
    retry_after_ms: int | None = None


RETRY_AFTER = "retry-after-ms"


class ModelNotFound(ServerError):
    """Unknown model or version."""


class InvalidInput(ServerError):
    """The request does not match the model's inputs; the message names the input."""


class ModelUnavailable(ServerError):
    """The model exists but is not loaded (failed to load, unloaded)."""


class TooLarge(ServerError):
    """The request exceeds a limit the server sets (ServerSettings: batch, length, graph size)."""


class Overloaded(ServerError):
    """More requests in flight than max_concurrent_requests; the client may retry later."""

    retry_after_ms = 100


class DeadlineExceeded(ServerError):
    """The client's deadline passed before the work was done."""


class ShuttingDown(ServerError):
    """The server is stopping and takes no new requests."""


class Unauthenticated(ServerError):
    """Missing or wrong auth token."""


class NotSupported(ServerError):
    """A protocol feature this server does not offer."""


STATUS: dict[type[ServerError], grpc.StatusCode] = {
    ModelNotFound: grpc.StatusCode.NOT_FOUND,
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    ModelUnavailable: grpc.StatusCode.UNAVAILABLE,
    TooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    ShuttingDown: grpc.StatusCode.UNAVAILABLE,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    NotSupported: grpc.StatusCode.UNIMPLEMENTED,
}


# Status details travel in trailing metadata (8 KiB by default): a longer message, e.g. one that
# echoes a huge field, would turn the answer into a transport error.
MAX_MESSAGE_CHARS = 2000


def _short(message: str) -> str:
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[: MAX_MESSAGE_CHARS - 20] + " ... (message cut)"


def trailers_of(error: BaseException) -> tuple[tuple[str, str], ...]:
    """Trailing metadata for ``error``'s answer: a retry hint for errors that carry one."""
    after = getattr(error, "retry_after_ms", None) if isinstance(error, ServerError) else None
    return ((RETRY_AFTER, str(after)),) if after is not None else ()


def status_of(error: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status and message a client gets for ``error`` (INTERNAL + request id if unexpected)."""
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind], _short(str(error))  # type: ignore[index]
    request_id = uuid.uuid4().hex[:12]
    log.error("internal error (request id %s)", request_id, exc_info=error)
    return grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})"


F = TypeVar("F", bound=Callable[..., Any])


def grpc_errors(method: F) -> F:
    """Wrap a servicer method ``(self, request, context)``: domain errors abort with their code."""
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream(self: Any, request: Any, context: Any) -> AsyncIterator[Any]:
            try:
                async for item in method(self, request, context):
                    yield item
            except Exception as error:  # noqa: BLE001 - mapped to a status, never swallowed
                code, message = status_of(error)
                await context.abort(code, message, trailers_of(error))

        return stream  # type: ignore[return-value]

    @functools.wraps(method)
    async def unary(self: Any, request: Any, context: Any) -> Any:
        try:
            return await method(self, request, context)
        except Exception as error:  # noqa: BLE001
            code, message = status_of(error)
            await context.abort(code, message, trailers_of(error))

    return unary  # type: ignore[return-value]
