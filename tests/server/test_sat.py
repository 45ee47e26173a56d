"""Show, Attend and Tell through the server: one request answers output ids, the caption as
BYTES and the attention matrix (output steps x image regions), whose rows are distributions for
soft attention and one-hot for hard attention."""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Tokenizer

from protos.gen.inference import grpc_service_pb2_grpc as pb_grpc
from taxonomy.query import CardEntry
from tests.server.helpers import example_array, first_graph_example, infer_request, outputs_of

MODELS = ("sat-soft", "sat-hard")


def _entry(zoo: list[CardEntry], name: str) -> CardEntry:
    found = [e for e in zoo if e.name == name]
    if not found:
        pytest.skip(f"{name} is not in the served repository")
    return found[0]


@pytest.mark.parametrize("name", MODELS)
def test_caption_request_returns_ids_text_and_attention(
    stub: pb_grpc.GRPCInferenceServiceStub, zoo: list[CardEntry], name: str
) -> None:
    entry = _entry(zoo, name)
    card = entry.card
    assert card is not None
    (image,) = first_graph_example(entry).inputs
    one = example_array(image)  # (1, H, W)
    batch = np.concatenate([one, one[:, ::-1], np.zeros_like(one)])  # (3, H, W)
    response = stub.ModelInfer(infer_request(name, {"image": batch}), timeout=60)
    out = outputs_of(response)
    assert {"output_ids", "output_text", "attention"} <= set(out)
    ids, text, attention = out["output_ids"], out["output_text"], out["attention"]
    T, L = card.io.outputs[1].shape[1:]
    assert ids.shape == (3, T) and attention.shape == (3, T, L) and text.shape[0] == 3
    tok = Tokenizer.from_file(str(entry.path / "tokenizer.json"))
    eos, pad, bos = card.io.eos_id, card.io.pad_id, card.io.bos_id
    for row_ids, row_text, rows in zip(ids, text, attention, strict=True):
        ended = np.flatnonzero(row_ids == eos)
        steps = int(ended[0]) + 1 if ended.size else T
        kept = [int(i) for i in row_ids[: steps - 1 if ended.size else T] if i not in (pad, bos)]
        caption = row_text.decode() if isinstance(row_text, bytes) else str(row_text)
        assert caption == tok.decode(kept)
        produced = rows[:steps]
        assert np.allclose(produced.sum(-1), 1.0, atol=1e-5)
        if name == "sat-hard":
            assert np.all((produced == 0.0) | (produced == 1.0))
            assert np.all((produced == 1.0).sum(-1) == 1)
        else:
            assert np.all(produced >= 0.0)
        assert not rows[steps:].any()


@pytest.mark.parametrize("name", MODELS)
def test_nonfinite_image_is_refused(
    stub: pb_grpc.GRPCInferenceServiceStub, zoo: list[CardEntry], name: str
) -> None:
    import grpc

    entry = _entry(zoo, name)
    (image,) = first_graph_example(entry).inputs
    bad = example_array(image).copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(infer_request(name, {"image": bad}), timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
