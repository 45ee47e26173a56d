"""A loopback HTTP server for the downloader tests: serves bytes made by the tests, with Range
support, truncated bodies and 404s on demand. Nothing here reaches beyond 127.0.0.1."""

from __future__ import annotations

import functools
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from training.datasets.registry import Dataset

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@dataclass
class Route:
    body: bytes
    ranges: bool = True  # honour "Range: bytes=N-" with 206
    cuts: int = 0  # how many of the next responses stop half-way through the body
    requests: list[str | None] = field(default_factory=list)  # the Range header of each request


class Server:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.routes))
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{path.lstrip('/')}"

    def add(self, path: str, body: bytes, **kwargs: object) -> str:
        self.routes["/" + path.lstrip("/")] = Route(body, **kwargs)  # type: ignore[arg-type]
        return self.url(path)

    @property
    def hits(self) -> int:
        return sum(len(r.requests) for r in self.routes.values())


def _handler(routes: dict[str, Route]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            route = routes.get(self.path)
            if route is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()
                return
            asked = self.headers.get("Range")
            route.requests.append(asked)
            body, start = route.body, 0
            match = re.fullmatch(r"bytes=(\d+)-", asked or "")
            if route.ranges and match:
                start = int(match.group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            part = body[start:]
            self.send_header("Content-Length", str(len(part)))
            self.send_header("Connection", "close")
            self.end_headers()
            if route.cuts > 0:
                route.cuts -= 1
                self.wfile.write(part[: len(part) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(part)

    return Handler


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any download attempt fails the test (the code under test must not fetch)."""
    from training.datasets import download, store

    def refuse(*args: object, **kwargs: object) -> str:
        raise AssertionError(f"unexpected download: {args[:1]}")

    monkeypatch.setattr(download, "download", refuse)
    monkeypatch.setattr(store, "download", refuse)


@pytest.fixture(autouse=True)
def forget_unreachable_hosts() -> Iterator[None]:
    """Each test starts with no host marked unreachable by an earlier one."""
    from training.datasets import download

    download._unreachable.clear()
    yield
    download._unreachable.clear()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def static_server() -> Iterator[Callable[[Path], str]]:
    """Serve a folder over HTTP on loopback; returns its base URL."""
    servers: list[ThreadingHTTPServer] = []

    def serve(folder: Path) -> str:
        httpd = ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder))
        )
        threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield serve
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


class Blackhole:
    """A host that accepts connections and never answers (a firewall that drops replies)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/{path}"

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def blackhole() -> Iterator[Blackhole]:
    hole = Blackhole()
    try:
        yield hole
    finally:
        hole.close()


@pytest.fixture
def internet_refused(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Name resolution fails for every host but loopback (as on a machine without network);
    returns the names that were looked up."""
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host not in ("127.0.0.1", "localhost", "::1"):
            looked_up.append(str(host))
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (test)")
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return looked_up


def toy_dataset(**fields: object) -> Dataset:
    """A registry entry made by a test: ``toy``, downloaded, CC0, with ``fields`` on top."""
    from training.datasets.registry import Dataset

    defaults: dict[str, object] = {
        "name": "toy",
        "title": "a toy dataset",
        "kind": "download",
        "licence": "CC0",
        "citation": "none",
        "homepage": "http://127.0.0.1/",
    }
    return Dataset(**{**defaults, **fields})  # type: ignore[arg-type]
