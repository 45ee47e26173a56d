"""A server on free ports over the hand-built test repository (no torch): the toy translator (text
in, word-for-word German out, cross-attention), the toy GAT and the plain affine model."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.grpc.app import BackgroundServer
from server.settings import ServerSettings
from tests.server import fake_repository
from tests.server.conftest import server_settings

ROOT = Path(__file__).resolve().parents[2]
ENGLISH = fake_repository.ENGLISH
GERMAN = dict(zip(fake_repository.ENGLISH, fake_repository.GERMAN, strict=True))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings(repository: Path, port: int = 0) -> ServerSettings:
    return server_settings(repository, grpc_port=port, metrics_port=None, grace_period_s=2.0)


@pytest.fixture(scope="session")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batch-repository")
    fake_repository.build_zoo(root)
    fake_repository.add_test_models(root)
    return root


@pytest.fixture(scope="session")
def server(repository: Path) -> Iterator[BackgroundServer]:
    with BackgroundServer(settings(repository)) as running:
        yield running


@pytest.fixture(scope="session")
def address(server: BackgroundServer) -> str:
    return f"127.0.0.1:{server.port}"


def sentences(n: int, seed: int = 0) -> list[dict[str, object]]:
    """``n`` rows {"id", "text"} of 1-12 English words of the toy vocabulary."""
    rng = random.Random(seed)
    return [
        {"id": f"r{i}", "text": " ".join(rng.choice(ENGLISH) for _ in range(rng.randint(1, 12)))}
        for i in range(n)
    ]


def translation(text: str) -> str:
    return " ".join(GERMAN[w] for w in text.split())


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def env() -> dict[str, str]:
    return os.environ | {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def batch_command(*argv: str) -> list[str]:
    return [sys.executable, "-m", "attentive", "batch", "--no-progress", *argv]


def run_batch(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        batch_command(*argv), cwd=ROOT, env=env(), capture_output=True, text=True, timeout=timeout
    )


def write_input(path: Path, fmt: str, rows: list[dict[str, object]]) -> Path:
    if fmt == "jsonl":
        return write_jsonl(path, rows)
    if fmt == "csv":
        import csv

        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["id", "text"])
            writer.writeheader()
            writer.writerows(rows)
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=700)
    return path
