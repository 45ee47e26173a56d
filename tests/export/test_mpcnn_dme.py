"""Attention MPCNN and DME through export (tiny zoo): each mechanism is one named ONNX function
(``CosineInteractionAttention``, ``MetaEmbeddingAttention``) holding the mechanism's arithmetic;
the exported graph computes what PyTorch computes on padded batches of unequal lengths, and
padded tokens get zero attention in every served attention output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from attentive.settings import Settings
from export.outline import count_ops
from taxonomy.axes import Architecture, Levels, Positions, Representations, Sequences
from taxonomy.card import ModelCard
from training import checkpoint, registry
from training.tasks.sentence_pair import PairHead, PairTask

FUNCTIONS = {
    "mpcnn-attention": "CosineInteractionAttention",
    "dme": "MetaEmbeddingAttention",
}
OUTPUTS = {
    "mpcnn-attention": ["score", "attention", "left_weights", "right_weights"],
    "dme": ["probabilities", "left_set_weights", "right_set_weights"],
}


def _load(tiny_zoo: Path, name: str) -> tuple[onnx.ModelProto, ModelCard]:
    entry = tiny_zoo / name
    return onnx.load(str(entry / "1" / "model.onnx")), ModelCard.load(entry / "card.json")


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_mechanism_is_one_named_function(tiny_zoo: Path, name: str) -> None:
    model, card = _load(tiny_zoo, name)
    op = f"ai.attentive::{FUNCTIONS[name]}"
    assert {(f.domain, f.name) for f in model.functions} == {("ai.attentive", FUNCTIONS[name])}
    assert count_ops(model.graph)[op] == 1  # both sentences in one call
    assert card.export is not None and card.export.attention_ops == {op: 1}
    assert [layer.onnx for layer in card.layers] == [op]
    assert [o.name for o in model.graph.output] == OUTPUTS[name]
    body = {n.op_type for f in model.functions for n in f.node}
    if name == "mpcnn-attention":  # cosine: norms, the pair matrix, the softmax
        assert {"MatMul", "Softmax"} <= body
        assert card.tags.sequences == {Sequences.CO_ATTENTION}
        assert card.tags.architecture == {Architecture.CONV_SENTENCE_PAIR}
    else:
        assert "Softmax" in body
        assert card.tags.representations == {Representations.MULTI_REPRESENTATIONAL}
        assert card.tags.sequences == {Sequences.SELF}
    assert card.tags.positions == {Positions.SOFT} and card.tags.levels == {Levels.SINGLE}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_onnx_equals_pytorch_and_padding_gets_zero_attention(tiny_zoo: Path, name: str) -> None:
    spec = registry.get(name)
    run_dir = tiny_zoo.parent / "runs" / "tiny" / name
    ckpt = checkpoint.load(run_dir / "model.ckpt", spec)
    task = spec.task(ckpt.config, Settings().data, run_dir)
    assert isinstance(task, PairTask)
    rows = task.encode(task.pairs("test"))[5:11]  # unseen pairs of unequal lengths, padded
    left, right, _ = task.collate(rows)
    served = PairHead(checkpoint.rebuild(ckpt, spec), task.kind).eval()
    with torch.no_grad():
        expected = [t.numpy() for t in served(left, right)]
    session = ort.InferenceSession(str(tiny_zoo / name / "1" / "model.onnx"))
    got = session.run(None, {"left_ids": left.numpy(), "right_ids": right.numpy()})
    assert len(got) == len(expected) == len(OUTPUTS[name])
    for g, e in zip(got, expected, strict=True):
        assert np.allclose(g, e, atol=1e-4)
    outputs = dict(zip(OUTPUTS[name], got, strict=True))
    for b, (left_ids, right_ids, *_) in enumerate(rows):
        L, R = len(left_ids), len(right_ids)
        if name == "mpcnn-attention":
            assert (
                not outputs["attention"][b, L:].any() and not outputs["attention"][b, :, R:].any()
            )
            assert not outputs["left_weights"][b, L:].any()
            assert not outputs["right_weights"][b, R:].any()
            assert outputs["left_weights"][b].sum() == pytest.approx(1.0, abs=1e-5)
            assert outputs["right_weights"][b].sum() == pytest.approx(1.0, abs=1e-5)
        else:
            assert not outputs["left_set_weights"][b, L:].any()
            assert not outputs["right_set_weights"][b, R:].any()
            sums = np.concatenate(
                [
                    outputs["left_set_weights"][b, :L].sum(-1),
                    outputs["right_set_weights"][b, :R].sum(-1),
                ]
            )
            assert np.allclose(sums, 1.0, atol=1e-5)
