"""The recurrent translation models through the server: one text request answers the output ids,
the German text (BYTES) and the attention matrix (output steps x source tokens), whose rows are
distributions over the real source tokens (at most 1 for local-p, after the Gaussian); the
fixed-vector baseline answers ids and text only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from protos.gen.inference import grpc_service_pb2_grpc as pb_grpc
from taxonomy.query import CardEntry
from tests.server.helpers import infer_request, outputs_of
from training.data.tokenizer import decode

ATTENTION = ("rnnsearch", "luong-dot", "luong-general", "luong-concat", "luong-location")
LOCAL = ("luong-local-m", "luong-local-p")
MODELS = (*ATTENTION, *LOCAL, "seq2seq")
TEXTS = ["A man is riding a bike.", "Two small dogs play in the snow in front of a red house."]


def _entry(zoo: list[CardEntry], name: str) -> CardEntry:
    found = [e for e in zoo if e.name == name]
    if not found:
        pytest.skip(f"{name} is not in the served repository")
    return found[0]


@pytest.mark.parametrize("name", MODELS)
def test_text_request_returns_ids_text_and_attention(
    stub: pb_grpc.GRPCInferenceServiceStub, zoo: list[CardEntry], repository: Path, name: str
) -> None:
    entry = _entry(zoo, name)
    card = entry.card
    assert card is not None
    text = np.array([[t] for t in TEXTS], dtype=object)  # (2, 1) BYTES
    response = stub.ModelInfer(infer_request(name, {"source_text": text}), timeout=60)
    out = outputs_of(response)
    tokenizer = Tokenizer.from_file(str(repository / name / "tokenizer.json"))
    lengths = [len(e.ids) for e in tokenizer.encode_batch(TEXTS)]  # [BOS] ... [EOS]
    ids = out["output_ids"]
    assert ids.shape[0] == 2 and ids.dtype == np.int64
    words = [t.decode() if isinstance(t, bytes) else str(t) for t in out["output_text"].ravel()]
    assert words == [decode(tokenizer, row.tolist()) for row in ids]
    if name == "seq2seq":
        assert "cross_attention" not in out
        return
    attention = out["cross_attention"]
    assert attention.shape == (2, ids.shape[1], max(lengths))
    for b, length in enumerate(lengths):
        steps = int(np.flatnonzero(ids[b] != card.io.pad_id)[-1]) + 1  # [EOS] or own limit
        rows = attention[b, :steps]
        assert np.all(rows[:, length:] == 0)  # nothing on the padding of the shorter sentence
        sums = rows.sum(-1)
        if name == "luong-local-p":
            assert np.all(sums <= 1 + 1e-5) and np.all(sums > 0)
        else:
            assert np.allclose(sums, 1.0, atol=1e-4)
