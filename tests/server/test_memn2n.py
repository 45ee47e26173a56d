"""The memory network through the server: a story and a question as text answer the answer word
(BYTES), its id, the answer distribution and each hop's attention over the story's sentences —
zero on the memory slots that hold no sentence; the same request as ids answers the same."""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Tokenizer

from protos.gen.inference import grpc_service_pb2_grpc as pb_grpc
from taxonomy.query import CardEntry
from tests.server.helpers import infer_request, outputs_of

NAME = "memn2n"
STORIES = [
    "Mary moved to the bathroom. John went to the hallway.",
    "Daniel went back to the kitchen. Sandra journeyed to the garden. Mary went to the office.",
]
QUESTIONS = ["Where is Mary?", "Where is Sandra?"]


def _entry(zoo: list[CardEntry]) -> CardEntry:
    found = [e for e in zoo if e.name == NAME]
    if not found:
        pytest.skip(f"{NAME} is not in the served repository")
    return found[0]


def test_text_request_returns_answer_and_attention_per_hop(
    stub: pb_grpc.GRPCInferenceServiceStub, zoo: list[CardEntry]
) -> None:
    entry = _entry(zoo)
    card = entry.card
    assert card is not None
    story = np.array([[s] for s in STORIES], dtype=object)  # (2, 1) BYTES
    question = np.array([[q] for q in QUESTIONS], dtype=object)
    request = infer_request(NAME, {"story": story, "question": question})
    out = outputs_of(stub.ModelInfer(request, timeout=60))
    assert {"answer_probabilities", "answer_ids", "attention", "answer"} <= set(out)
    V = card.io.outputs[0].shape[1]
    K, M = card.io.outputs[2].shape[1:]
    probabilities, ids, attention = out["answer_probabilities"], out["answer_ids"], out["attention"]
    assert probabilities.shape == (2, V) and ids.shape == (2, 1) and attention.shape == (2, K, M)
    assert np.allclose(probabilities.sum(-1), 1.0, atol=1e-5)
    assert np.array_equal(ids[:, 0], probabilities.argmax(-1))
    tok = Tokenizer.from_file(str(entry.path / "tokenizer.json"))
    answers = [a.decode() if isinstance(a, bytes) else str(a) for a in out["answer"].ravel()]
    assert answers == [tok.id_to_token(int(i)) for i in ids[:, 0]]
    for b, sentences in enumerate((2, 3)):
        assert np.allclose(attention[b, :, :sentences].sum(-1), 1.0, atol=1e-5)
        assert not attention[b, :, sentences:].any()  # slots without a sentence
    # The same questions as ids (the tokenizer's own encoding, padded) answer the same.
    rows = [tok.encode(s).ids for s in STORIES]
    width = max(len(r) for r in rows)
    story_ids = np.array([r + [0] * (width - len(r)) for r in rows], dtype=np.int64)
    question_rows = [tok.encode(q).ids for q in QUESTIONS]
    question_ids = np.array(question_rows, dtype=np.int64)
    again = outputs_of(
        stub.ModelInfer(
            infer_request(NAME, {"story_ids": story_ids, "question_ids": question_ids}),
            timeout=60,
        )
    )
    assert np.array_equal(again["answer_ids"], ids)
    assert np.allclose(again["attention"], attention, atol=1e-6)
