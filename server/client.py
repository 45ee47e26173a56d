"""A small client of this server's two services, for the CLI (`attentive infer`, `attentive
taxonomy --server`). Imports grpc and the generated stubs, never onnxruntime or torch.

Access: ``token`` is sent as ``authorization: Bearer <token>``; ``tls`` (a :class:`Tls`) makes the
channel TLS, mutual when it names a client certificate. :class:`ClientSettings` reads both from the
environment (``ATTENTIVE_AUTH_TOKEN``, ``ATTENTIVE_TLS``, ``ATTENTIVE_TLS_CA_FILE``, ...), so every
command that talks to the server takes them the same way."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from pydantic import Field, SecretStr

from attentive.settings import Settings
from protos.gen.attentive.taxonomy.v1 import taxonomy_pb2 as tx
from protos.gen.attentive.taxonomy.v1 import taxonomy_pb2_grpc as tx_grpc
from protos.gen.inference import grpc_service_pb2 as pb
from protos.gen.inference import grpc_service_pb2_grpc as pb_grpc
from server import codecs
from taxonomy.card import ModelCard
from taxonomy.query import CardEntry

OPTIONS = [
    ("grpc.max_receive_message_length", 1 << 30),
    ("grpc.max_send_message_length", 1 << 30),
]


@dataclass(frozen=True)
class Tls:
    """How a client reaches a TLS server: the roots it trusts (None: the system's), and for
    mutual TLS its own certificate and key (PEM files)."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    server_name: str | None = None  # check the certificate for this name instead of the host

    def credentials(self) -> grpc.ChannelCredentials:
        def read(path: Path | None) -> bytes | None:
            return Path(path).read_bytes() if path else None

        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("a client certificate needs its key (and the other way round)")
        return grpc.ssl_channel_credentials(
            root_certificates=read(self.ca_file),
            private_key=read(self.key_file),
            certificate_chain=read(self.cert_file),
        )

    def options(self) -> list[tuple[str, Any]]:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


class ClientSettings(Settings):
    """What a client of the server reads from the environment (``ATTENTIVE_`` prefix)."""

    auth_token: SecretStr | None = Field(default=None, description="Bearer token to send.")
    tls: bool = Field(default=False, description="Connect with TLS (implied by the files below).")
    tls_ca_file: Path | None = Field(default=None, description="PEM roots to trust (server CA).")
    tls_client_cert_file: Path | None = Field(default=None, description="Mutual TLS: my cert.")
    tls_client_key_file: Path | None = Field(default=None, description="Mutual TLS: my key.")
    tls_server_name: str | None = Field(default=None, description="Name the cert must carry.")

    def token(self) -> str | None:
        return self.auth_token.get_secret_value() if self.auth_token else None

    def tls_config(self) -> Tls | None:
        files = (self.tls_ca_file, self.tls_client_cert_file, self.tls_client_key_file)
        if not self.tls and not any(files) and not self.tls_server_name:
            return None
        return Tls(*files, server_name=self.tls_server_name)


def open_channel(address: str, tls: Tls | None = None) -> grpc.Channel:
    if tls is None:
        return grpc.insecure_channel(address, options=OPTIONS)
    return grpc.secure_channel(address, tls.credentials(), options=OPTIONS + tls.options())


class Client:
    def __init__(
        self,
        address: str,
        token: str | None = None,
        timeout: float = 60.0,
        tls: Tls | None = None,
    ) -> None:
        self.channel = open_channel(address, tls)
        self.inference = pb_grpc.GRPCInferenceServiceStub(self.channel)
        self.taxonomy = tx_grpc.TaxonomyServiceStub(self.channel)
        self.metadata = [("authorization", f"Bearer {token}")] if token else None
        self.timeout = timeout

    @classmethod
    def from_env(
        cls,
        address: str,
        timeout: float = 60.0,
        token: str | None = None,
        tls: Tls | None = None,
    ) -> Client:
        """A client with the token and TLS of ClientSettings, unless given here."""
        settings = ClientSettings()
        return cls(address, token or settings.token(), timeout, tls or settings.tls_config())

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _kw(self) -> dict[str, Any]:
        return {"timeout": self.timeout, "metadata": self.metadata}

    def infer(
        self, model: str, inputs: dict[str, np.ndarray], outputs: list[str] | None = None
    ) -> dict[str, np.ndarray]:
        request = pb.ModelInferRequest(model_name=model)
        for name, array in inputs.items():
            request.inputs.add(name=name, datatype=codecs.datatype_of(array), shape=array.shape)
            request.raw_input_contents.append(codecs.to_raw(array))
        for name in outputs or []:
            request.outputs.add(name=name)
        response = self.inference.ModelInfer(request, **self._kw())
        return {
            t.name: codecs.from_raw(t.name, t.datatype, list(t.shape), raw)
            for t, raw in zip(response.outputs, response.raw_output_contents, strict=True)
        }

    def card(self, model: str) -> tuple[tx.ModelSummary, ModelCard | None]:
        answer = self.taxonomy.GetCard(tx.GetCardRequest(name=model), **self._kw())
        card = ModelCard.from_json(answer.card_json) if answer.card_json else None
        return answer.summary, card

    def card_entries(self) -> list[CardEntry]:
        """What the server's repository holds, as taxonomy.query entries (same answers as the
        repository on disk: the server reads it with taxonomy.query.load_cards)."""
        listed = self.taxonomy.ListModels(tx.ListModelsRequest(), **self._kw()).models
        entries = []
        for summary in listed:
            where = Path(f"grpc/{summary.name}")
            if summary.status == "tagged":
                _, card = self.card(summary.name)
                entries.append(CardEntry(name=summary.name, path=where, card=card))
            else:
                entries.append(CardEntry(summary.name, where, None, summary.error or None))
        return entries


def card_entries(address: str, timeout: float = 30.0) -> list[CardEntry]:
    """``attentive taxonomy --server`` data source: the server's cards as taxonomy.query entries."""
    with Client.from_env(address, timeout=timeout) as client:
        return client.card_entries()
