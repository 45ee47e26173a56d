"""The recurrent encoder-decoders (RNNsearch, Luong's six, the fixed-vector baseline): each
mechanism is one named ONNX function inside the greedy Loop, the exported graph gives PyTorch's
tokens and attention, attention rows are distributions (at most 1 for local-p) over the real
source tokens, and the tags and card say what the survey says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from attentive.settings import Settings
from export.outline import BOUNDARY_DOMAIN, count_ops
from taxonomy.card import ModelCard
from training import checkpoint, registry
from training.attention.owned import BOUNDARY_DOMAIN as MARKED_DOMAIN
from training.data.tokenizer import PAD
from training.models.recurrent import GreedyRecurrent
from training.tasks.translation import pad_batch

FUNCTIONS = {
    "rnnsearch": "AdditiveAttention",
    "luong-dot": "LuongDot",
    "luong-general": "LuongGeneral",
    "luong-concat": "LuongConcat",
    "luong-location": "LuongLocation",
    "luong-local-m": "LocalMonotonic",
    "luong-local-p": "LocalPredictive",
}
ATTENTION_MODELS = sorted(FUNCTIONS)
MODELS = [*ATTENTION_MODELS, "seq2seq"]


def _model(tiny_zoo: Path, name: str) -> onnx.ModelProto:
    return onnx.load(str(tiny_zoo / name / "1" / "model.onnx"))


@pytest.mark.parametrize("name", ATTENTION_MODELS)
def test_mechanism_is_one_named_function_inside_the_loop(tiny_zoo: Path, name: str) -> None:
    model = _model(tiny_zoo, name)
    fname = FUNCTIONS[name]
    assert {(f.domain, f.name) for f in model.functions} == {("ai.attentive", fname)}
    (loop,) = [n for n in model.graph.node if n.op_type == "Loop"]
    body = loop.attribute[0].g
    assert count_ops(body)[f"ai.attentive::{fname}"] == 1  # the call is in the Loop body
    ops = count_ops(model.graph)  # graph and bodies, not function bodies
    assert "Softmax" not in ops  # the softmax lives in the function only
    assert not any(BOUNDARY_DOMAIN in op for op in ops)  # markers removed
    (function,) = model.functions
    assert "Softmax" in {n.op_type for n in function.node}
    card = ModelCard.load(tiny_zoo / name / "card.json")
    assert card.export is not None and card.export.attention_ops == {f"ai.attentive::{fname}": 1}
    assert [layer.onnx for layer in card.layers] == [f"ai.attentive::{fname}"]


def test_marker_domain_is_shared() -> None:
    assert BOUNDARY_DOMAIN == MARKED_DOMAIN


@pytest.mark.parametrize("name", MODELS)
def test_onnx_greedy_equals_pytorch_and_rows_are_distributions(tiny_zoo: Path, name: str) -> None:
    spec = registry.get(name)
    run_dir = tiny_zoo.parent / "runs" / "tiny" / name
    ckpt = checkpoint.load(run_dir / "model.ckpt", spec)
    greedy = GreedyRecurrent(checkpoint.rebuild(ckpt, spec)).eval()  # type: ignore[arg-type]
    task = spec.task(ckpt.config, Settings().data, run_dir)
    batch = pad_batch([ids for ids, _ in task.encode(task.pairs("test")[3:9])])  # unseen, padded
    session = ort.InferenceSession(str(tiny_zoo / name / "1" / "model.onnx"))
    with torch.no_grad():
        expected = greedy(batch)
    got = session.run(None, {"source_ids": batch.numpy()})
    assert np.array_equal(got[0], expected[0].numpy())
    if name == "seq2seq":
        assert len(got) == 1 and [o.name for o in session.get_outputs()] == ["output_ids"]
        return
    ids, attention = got
    assert np.allclose(attention, expected[1].numpy(), atol=1e-4)
    assert attention.shape == (batch.shape[0], ids.shape[1], batch.shape[1])
    real = (batch != PAD).numpy()
    for b in range(batch.shape[0]):
        steps = int(np.flatnonzero(ids[b] != PAD)[-1]) + 1  # decoded: [EOS] or own limit
        rows = attention[b, :steps]
        assert np.all(rows[:, ~real[b]] == 0)  # nothing on padding
        assert np.all(attention[b, steps:] == 0)  # nothing after [EOS]
        sums = rows.sum(-1)
        if name == "luong-local-p":  # the Gaussian shrinks the window's distribution
            assert np.all(sums <= 1 + 1e-5) and np.all(sums > 0)
        else:
            assert np.allclose(sums, 1.0, atol=1e-4)


@pytest.mark.parametrize("name", MODELS)
def test_tags_as_the_survey_has_them(tiny_zoo: Path, name: str) -> None:
    card = ModelCard.load(tiny_zoo / name / "card.json")
    tags = card.tags
    assert {str(v) for v in tags.architecture} == {"encoder-decoder"}
    if name == "seq2seq":
        assert not card.layers and not tags.has_attention
        assert not tags.sequences and not tags.positions and not tags.levels
        assert [t.name for t in card.io.outputs] == ["output_ids"]
        return
    assert {str(v) for v in tags.sequences} == {"distinctive"}
    assert {str(v) for v in tags.levels} == {"single-level"}
    assert {str(v) for v in tags.representations} == {"single"}
    local = name in ("luong-local-m", "luong-local-p")
    assert {str(v) for v in tags.positions} == ({"local"} if local else {"soft"})
    assert [t.name for t in card.io.outputs] == ["output_ids", "cross_attention"]


@pytest.mark.parametrize("name", MODELS)
def test_metrics_are_bleu_from_onnx_and_perplexity(tiny_zoo: Path, name: str) -> None:
    card = ModelCard.load(tiny_zoo / name / "card.json")
    metrics = {m.name: m for m in card.metrics}
    assert set(metrics) == {"bleu", "perplexity"}
    assert metrics["perplexity"].value > 1 and "PyTorch" in metrics["perplexity"].note
    assert card.training is not None and card.training.config["train"]["threads"] == 1
