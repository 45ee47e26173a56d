"""Attention MPCNN and DME through the server: one request with two texts per row (of unequal
lengths, so the batch is padded) answers the prediction and the attention outputs with the
right shapes, zero attention on padding, distributions over the real words / embedding sets, and
the same answers as a request with the ids the model's own tokenizer gives."""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Tokenizer

from protos.gen.inference import grpc_service_pb2_grpc as pb_grpc
from taxonomy.query import CardEntry
from tests.server.helpers import infer_request, outputs_of

LEFT = ["A man is playing a guitar .", "Two dogs are running through a field of tall grass ."]
RIGHT = ["A woman is slicing an onion into small pieces on a board .", "Dogs run ."]


def _entry(zoo: list[CardEntry], name: str) -> CardEntry:
    found = [e for e in zoo if e.name == name]
    if not found:
        pytest.skip(f"{name} is not in the served repository")
    return found[0]


def _pad(rows: list[list[int]]) -> np.ndarray:
    out = np.zeros((len(rows), max(len(r) for r in rows)), dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def _request(stub: pb_grpc.GRPCInferenceServiceStub, entry: CardEntry) -> tuple[dict, list, list]:
    texts = {
        "text_a": np.array([[t] for t in LEFT], dtype=object),  # (2, 1) BYTES
        "text_b": np.array([[t] for t in RIGHT], dtype=object),
    }
    out = outputs_of(stub.ModelInfer(infer_request(entry.name, texts), timeout=60))
    tok = Tokenizer.from_file(str(entry.path / "tokenizer.json"))
    left = [e.ids for e in tok.encode_batch(LEFT)]
    right = [e.ids for e in tok.encode_batch(RIGHT)]
    ids = {"left_ids": _pad(left), "right_ids": _pad(right)}
    by_ids = outputs_of(stub.ModelInfer(infer_request(entry.name, ids), timeout=60))
    assert set(by_ids) == set(out)
    for name, value in out.items():
        assert np.allclose(by_ids[name], value, atol=1e-6), name
    return out, left, right


def test_mpcnn_serves_score_attention_matrix_and_word_weights(
    stub: pb_grpc.GRPCInferenceServiceStub, zoo: list[CardEntry]
) -> None:
    entry = _entry(zoo, "mpcnn-attention")
    out, left, right = _request(stub, entry)
    assert list(out) == ["score", "attention", "left_weights", "right_weights"]
    L, R = max(map(len, left)), max(map(len, right))
    score, attention = out["score"], out["attention"]
    assert score.shape == (2,) and np.all((score >= 1.0 - 1e-5) & (score <= 5.0 + 1e-5))
    assert attention.shape == (2, L, R) and np.all(np.abs(attention) <= 1 + 1e-5)
    assert out["left_weights"].shape == (2, L) and out["right_weights"].shape == (2, R)
    for b in range(2):
        n, m = len(left[b]), len(right[b])
        assert not attention[b, n:].any() and not attention[b, :, m:].any()
        assert not out["left_weights"][b, n:].any() and not out["right_weights"][b, m:].any()
        assert out["left_weights"][b].sum() == pytest.approx(1.0, abs=1e-5)
        assert out["right_weights"][b].sum() == pytest.approx(1.0, abs=1e-5)
        assert np.all(out["left_weights"][b, :n] > 0)


def test_dme_serves_probabilities_and_weights_over_embedding_sets(
    stub: pb_grpc.GRPCInferenceServiceStub, zoo: list[CardEntry]
) -> None:
    entry = _entry(zoo, "dme")
    out, left, right = _request(stub, entry)
    assert list(out) == ["probabilities", "left_set_weights", "right_set_weights"]
    L, R = max(map(len, left)), max(map(len, right))
    assert out["probabilities"].shape == (2, 3)
    assert np.allclose(out["probabilities"].sum(-1), 1.0, atol=1e-5)
    sets = out["left_set_weights"].shape[-1]
    assert sets >= 2
    assert out["left_set_weights"].shape == (2, L, sets)
    assert out["right_set_weights"].shape == (2, R, sets)
    for b in range(2):
        for weights, n in (
            (out["left_set_weights"][b], len(left[b])),
            (out["right_set_weights"][b], len(right[b])),
        ):
            assert not weights[n:].any()  # padding: zero weight on every set
            assert np.allclose(weights[:n].sum(-1), 1.0, atol=1e-5)
