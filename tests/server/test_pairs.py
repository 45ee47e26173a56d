"""Sentence-pair models through the server (every zoo entry that takes ``text_a`` / ``text_b``):
a request with two texts per row answers the prediction and the attention tensors, each zero on
the padding of the shorter sentences along every axis its legend names L or R (sentence-1 or
sentence-2 positions, "L + 3" for wide-convolution columns),
and the same as a request with the ids the model's own tokenizer gives."""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Tokenizer

from protos.gen.inference import grpc_service_pb2_grpc as pb_grpc
from taxonomy.query import CardEntry
from tests.server.helpers import infer_request, outputs_of

LEFT = ["how are glacier caves formed ?", "who wrote the song ?"]
RIGHT = [
    "A partly submerged glacier cave on Perito Moreno Glacier .",
    "The song was written by two people in the band and a friend of theirs .",
]


def _pair_models(zoo: list[CardEntry]) -> list[CardEntry]:
    found = [
        e
        for e in zoo
        if e.card is not None and {t.name for t in e.card.io.text_inputs} == {"text_a", "text_b"}
    ]
    if not found:
        pytest.skip("no sentence-pair model in the served repository")
    return found


def _position_axes(legend: str) -> dict[int, tuple[str, int]]:
    """Axes of an output that run over sentence positions, from its legend: "(B, L + 3, R + 3)"
    -> {1: ("L", 3), 2: ("R", 3)}; other axes (embedding sets, classes) are left out."""
    dims = legend.split(")")[0].lstrip("(").split(",")
    axes = {}
    for axis, dim in enumerate(dims):
        symbol, _, extra = dim.strip().partition("+")
        if axis and symbol.strip() in ("L", "R"):
            axes[axis] = (symbol.strip(), int(extra) if extra.strip() else 0)
    return axes


def _pad(rows: list[list[int]]) -> np.ndarray:
    out = np.zeros((len(rows), max(len(r) for r in rows)), dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def test_two_texts_answer_prediction_and_masked_attention(
    stub: pb_grpc.GRPCInferenceServiceStub, zoo: list[CardEntry]
) -> None:
    for entry in _pair_models(zoo):
        card = entry.card
        assert card is not None
        texts = {
            "text_a": np.array([[t] for t in LEFT], dtype=object),  # (2, 1) BYTES
            "text_b": np.array([[t] for t in RIGHT], dtype=object),
        }
        out = outputs_of(stub.ModelInfer(infer_request(entry.name, texts), timeout=60))
        assert [o.name for o in card.io.outputs] == list(out)
        tok = Tokenizer.from_file(str(entry.path / "tokenizer.json"))
        left = [e.ids for e in tok.encode_batch(LEFT)]
        right = [e.ids for e in tok.encode_batch(RIGHT)]
        prediction = out[card.io.outputs[0].name]
        assert prediction.shape[0] == 2 and np.isfinite(prediction).all()
        if prediction.ndim == 2:  # class probabilities
            assert np.allclose(prediction.sum(-1), 1.0, atol=1e-5)
        lengths = {"L": [len(r) for r in left], "R": [len(r) for r in right]}
        if len(card.io.outputs) > 1:  # attention outputs: their legends name the positions
            assert any(_position_axes(o.legend or "") for o in card.io.outputs[1:]), entry.name
        for spec in card.io.outputs[1:]:
            value = out[spec.name]
            for axis, (symbol, extra) in _position_axes(spec.legend or "").items():
                assert value.shape[axis] == max(lengths[symbol]) + extra, (entry.name, spec.name)
                for b in range(2):
                    beyond = np.take(
                        value[b],
                        range(lengths[symbol][b] + extra, value.shape[axis]),
                        axis=axis - 1,
                    )
                    assert not beyond.any(), (entry.name, spec.name, b)  # padding: zero
        ids = {"left_ids": _pad(left), "right_ids": _pad(right)}
        by_ids = outputs_of(stub.ModelInfer(infer_request(entry.name, ids), timeout=60))
        for name, value in out.items():
            assert np.allclose(by_ids[name], value, atol=1e-6)
