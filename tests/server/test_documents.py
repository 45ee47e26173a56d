"""The document models through the server: a text request (tokenized by the server with the
model's own tokenizer, sentences marked) answers the class probabilities and the attention of
every level or hop, equal to onnxruntime run on the ids the tokenizer gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from protos.gen.inference import grpc_service_pb2_grpc as pb_grpc
from taxonomy.query import CardEntry
from tests.server.helpers import infer_request, outputs_of, reference

MODELS = ("han", "lin", "disan")
TEXTS = [
    "Meanwhile the report said a new match. Crucially they talk about the bank today.",
    "Oil prices rise again. Stocks fall in Tokyo! Analysts expect more news.",
]


def _entry(zoo: list[CardEntry], name: str) -> CardEntry:
    found = [e for e in zoo if e.name == name]
    if not found:
        pytest.skip(f"{name} is not in the served repository")
    return found[0]


@pytest.mark.parametrize("name", MODELS)
def test_text_request_returns_probabilities_and_attention(
    stub: pb_grpc.GRPCInferenceServiceStub, zoo: list[CardEntry], repository: Path, name: str
) -> None:
    card = _entry(zoo, name).card
    assert card is not None
    text = np.array([[t] for t in TEXTS], dtype=object)  # (2, 1) BYTES
    response = stub.ModelInfer(infer_request(name, {"document_text": text}), timeout=60)
    out = outputs_of(response)
    assert set(out) == {t.name for t in card.io.outputs}
    tokenizer = Tokenizer.from_file(str(repository / name / "tokenizer.json"))
    encoded = [e.ids for e in tokenizer.encode_batch(TEXTS)]
    assert all(e.count(4) == 1 + i for i, e in enumerate(encoded))  # 2 and 3 sentences
    ids = np.zeros((2, max(map(len, encoded))), dtype=np.int64)
    for row, e in zip(ids, encoded, strict=True):
        row[: len(e)] = e
    expected = reference(repository / name, {"document_ids": ids})
    for spec in card.io.outputs:
        got = out[spec.name]
        assert got.shape == expected[spec.name].shape
        assert len(got.shape) == len(spec.shape)
        assert np.allclose(got, expected[spec.name], atol=1e-5)
    classes = card.io.outputs[0].shape[1]
    assert out["probabilities"].shape == (2, classes)
    assert np.allclose(out["probabilities"].sum(-1), 1.0, atol=1e-5)
    if name == "han":
        assert out["sentence_attention"][0, 2:].sum() == 0  # two sentences, the rest absent
        assert np.allclose(out["sentence_attention"].sum(-1), 1.0, atol=1e-5)
        assert out["word_attention"].shape == ids.shape
    elif name == "lin":
        assert out["attention"].shape[::2] == (2, ids.shape[1])
    else:
        assert out["forward_attention"].shape == (2, ids.shape[1], ids.shape[1])
