"""A small client of this server's two services, for the CLI (`attentive infer`, `attentive
taxonomy --server`). Imports grpc and the generated stubs, never onnxruntime or torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import numpy as np

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


class Client:
    def __init__(self, address: str, token: str | None = None, timeout: float = 60.0) -> None:
        self.channel = grpc.insecure_channel(address, options=OPTIONS)
        self.inference = pb_grpc.GRPCInferenceServiceStub(self.channel)
        self.taxonomy = tx_grpc.TaxonomyServiceStub(self.channel)
        self.metadata = [("authorization", f"Bearer {token}")] if token else None
        self.timeout = timeout

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
    with Client(address, timeout=timeout) as client:
        return client.card_entries()
