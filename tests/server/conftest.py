"""One server for the whole session, on free ports, over a repository built from tiny models.

The repository is the zoo (every model with a card) plus the test models every repository gets
(a plain model without a card, a corrupt model, a slow model). Tests iterate over the cards'
io and examples, so they hold for whatever the zoo contains."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from protos.gen.inference import grpc_service_pb2 as pb
from protos.gen.inference import grpc_service_pb2_grpc as pb_grpc
from server.grpc.app import BackgroundServer
from server.settings import MiB, ServerSettings
from taxonomy.query import CardEntry, load_cards
from tests.server import fake_repository

# Small enough that a test can exceed it cheaply; every example fits.
MAX_MESSAGE_BYTES = 4 * MiB
CLIENT_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * MiB),
    ("grpc.max_send_message_length", 64 * MiB),
]


@pytest.fixture(scope="session")
def repository(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """The real tiny zoo (every registered model) plus the test models every repository gets.

    ATTENTIVE_TEST_ZOO=<repository> serves a zoo built beforehand instead (quicker iteration);
    ATTENTIVE_TEST_ZOO=fake serves the hand-built models of fake_repository (no torch needed).
    """
    root = tmp_path_factory.mktemp("repository")
    prebuilt = os.environ.get("ATTENTIVE_TEST_ZOO")
    if prebuilt == "fake":
        fake_repository.build_zoo(root)
    elif prebuilt:
        shutil.copytree(prebuilt, root, dirs_exist_ok=True)
    else:  # the session's tiny zoo (tests/conftest.py), copied: tests here load/unload models
        shutil.copytree(request.getfixturevalue("tiny_zoo"), root, dirs_exist_ok=True)
    fake_repository.add_test_models(root)
    return root


@pytest.fixture(scope="session")
def roles() -> dict[str, str]:
    return {
        "plain": fake_repository.PLAIN,
        "corrupt": fake_repository.CORRUPT,
        "slow": fake_repository.SLOW,
    }


@pytest.fixture(scope="session")
def zoo(repository: Path) -> list[CardEntry]:
    """The models with a valid card."""
    return [e for e in load_cards(repository) if e.card is not None]


def server_settings(repository: Path, **overrides: object) -> ServerSettings:
    values: dict[str, object] = {
        "repository": repository,
        "host": "127.0.0.1",
        "grpc_port": 0,
        "metrics_port": 0,
        "execution_provider": "auto",
        "max_message_bytes": MAX_MESSAGE_BYTES,
        "grace_period_s": 5.0,
        "inference_workers": 2,
    }
    values.update(overrides)
    return ServerSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def server(repository: Path) -> Iterator[BackgroundServer]:
    with BackgroundServer(server_settings(repository)) as running:
        yield running


@pytest.fixture(scope="session")
def address(server: BackgroundServer) -> str:
    return f"127.0.0.1:{server.port}"


@pytest.fixture(scope="session")
def channel(address: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(address, options=CLIENT_OPTIONS) as ch:
        grpc.channel_ready_future(ch).result(timeout=30)
        yield ch


@pytest.fixture(scope="session")
def stub(channel: grpc.Channel) -> pb_grpc.GRPCInferenceServiceStub:
    return pb_grpc.GRPCInferenceServiceStub(channel)


@pytest.fixture
def healthy(stub: pb_grpc.GRPCInferenceServiceStub, zoo: list[CardEntry]) -> Iterator[None]:
    """After the test: the server is still ready and still answers a valid request."""
    yield
    assert stub.ServerReady(pb.ServerReadyRequest(), timeout=10).ready
    from tests.server.helpers import example_request

    entry = zoo[0]
    response = stub.ModelInfer(example_request(entry, entry.card.examples[0]), timeout=30)  # type: ignore[union-attr]
    assert response.outputs
