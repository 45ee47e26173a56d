"""BCNN / ABCNN through export: each match score is one named ONNX function
(``EuclideanMatchAttention``), one call per attention the variant computes; the exported graph
computes what PyTorch computes on padded batches of unequal lengths, and gives padding zero
attention; BCNN exports no attention at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from attentive.settings import Settings
from export.outline import count_ops
from taxonomy.axes import Architecture, Levels, Sequences
from taxonomy.card import ModelCard
from training import checkpoint, registry
from training.tasks.sentence_pair import PairHead, PairTask

FUNCTION = "ai.attentive::EuclideanMatchAttention"
CALLS = {"abcnn-1": 1, "abcnn-2": 1, "abcnn-3": 4}  # tiny: one block (abcnn-3: two)


def _load(tiny_zoo: Path, name: str) -> tuple[onnx.ModelProto, ModelCard]:
    entry = tiny_zoo / name
    return onnx.load(str(entry / "1" / "model.onnx")), ModelCard.load(entry / "card.json")


@pytest.mark.parametrize("name", sorted(CALLS))
def test_match_score_is_one_named_function_per_attention(tiny_zoo: Path, name: str) -> None:
    model, card = _load(tiny_zoo, name)
    assert {(f.domain, f.name) for f in model.functions} == {
        ("ai.attentive", "EuclideanMatchAttention")
    }
    ops = count_ops(model.graph)  # the graph, not the function bodies
    assert ops[FUNCTION] == CALLS[name]
    assert "Sqrt" not in ops  # the distance lives in the function only
    assert any(n.op_type == "Sqrt" for f in model.functions for n in f.node)
    assert card.export is not None and card.export.attention_ops == {FUNCTION: CALLS[name]}
    assert [layer.onnx for layer in card.layers] == [FUNCTION] * CALLS[name]
    assert card.tags.sequences == {Sequences.CO_ATTENTION}
    assert card.tags.levels == {Levels.SINGLE}
    assert card.tags.architecture == {Architecture.CONV_SENTENCE_PAIR}


def test_bcnn_has_no_attention(tiny_zoo: Path) -> None:
    model, card = _load(tiny_zoo, "bcnn")
    assert not model.functions and FUNCTION not in count_ops(model.graph)
    assert [o.name for o in model.graph.output] == ["probabilities"]
    assert card.layers == [] and not card.tags.has_attention
    assert card.tags.architecture == {Architecture.CONV_SENTENCE_PAIR}


@pytest.mark.parametrize("name", ["bcnn", *sorted(CALLS)])
def test_onnx_equals_pytorch_and_padding_gets_zero_attention(tiny_zoo: Path, name: str) -> None:
    spec = registry.get(name)
    run_dir = tiny_zoo.parent / "runs" / "tiny" / name
    ckpt = checkpoint.load(run_dir / "model.ckpt", spec)
    task = spec.task(ckpt.config, Settings().data, run_dir)
    assert isinstance(task, PairTask)
    rows = task.encode(task.pairs("test"))[5:11]  # unseen pairs of unequal lengths, padded
    left, right, _ = task.collate(rows)
    assert left.shape[1] != right.shape[1]
    served = PairHead(checkpoint.rebuild(ckpt, spec), task.kind).eval()
    with torch.no_grad():
        expected = [t.numpy() for t in served(left, right)]
    session = ort.InferenceSession(str(tiny_zoo / name / "1" / "model.onnx"))
    got = session.run(None, {"left_ids": left.numpy(), "right_ids": right.numpy()})
    assert len(got) == len(expected) == 1 + CALLS.get(name, 0)
    for g, e in zip(got, expected, strict=True):
        assert np.allclose(g, e, atol=1e-4)
    assert np.allclose(got[0].sum(-1), 1.0, atol=1e-5)  # class probabilities
    lengths_l = [len(r[0]) for r in rows]
    lengths_r = [len(r[1]) for r in rows]
    for attention in got[1:]:
        extra = attention.shape[1] - left.shape[1]  # w - 1 for the pooling attention
        for b in range(len(rows)):
            assert not attention[b, lengths_l[b] + extra :].any()
            assert not attention[b, :, lengths_r[b] + extra :].any()
            assert (attention[b, : lengths_l[b] + extra, : lengths_r[b] + extra] > 0).all()
