"""Show, Attend and Tell (soft and hard), built with the tiny preset: each mechanism is one named
ONNX local function inside the greedy Loop with its weights as outputs, the exported greedy
captions equal PyTorch's, attention rows are distributions (soft) or one-hot (hard), and the tags
are what the survey says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from tokenizers import Tokenizer

from attentive.settings import Settings
from export.outline import count_ops
from taxonomy.card import ModelCard
from training import checkpoint, registry
from training.data.tokenizer import EOS, PAD, decode
from training.models.sat import GreedyCaptioner

FUNCTIONS = {"sat-soft": "SoftVisualAttention", "sat-hard": "HardVisualAttention"}


@pytest.fixture(scope="module", params=sorted(FUNCTIONS))
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _model_and_task(tiny_zoo: Path, name: str):  # type: ignore[no-untyped-def]
    spec = registry.get(name)
    run_dir = tiny_zoo.parent / "runs" / "tiny" / name
    ckpt = checkpoint.load(run_dir / "model.ckpt", spec)
    model = checkpoint.rebuild(ckpt, spec)
    return model, spec.task(ckpt.config, Settings().data, run_dir)


def _produced_steps(ids: np.ndarray) -> int:
    """Steps up to and including the first [EOS] (all steps if none)."""
    eos = np.flatnonzero(ids == EOS)
    return int(eos[0]) + 1 if eos.size else len(ids)


def test_mechanism_is_one_named_function_inside_the_loop(tiny_zoo: Path, name: str) -> None:
    card = ModelCard.load(tiny_zoo / name / "card.json")
    model = onnx.load(str(tiny_zoo / name / "1" / "model.onnx"))
    op = f"ai.attentive::{FUNCTIONS[name]}"
    assert card.export is not None and card.export.attention_ops == {op: 1}
    ops = count_ops(model.graph)
    assert ops[op] == 1 and ops["Loop"] == 1
    assert "Softmax" not in ops and "Tanh" in ops  # α only inside the function; LSTM tanh outside
    (loop,) = [n for n in model.graph.node if n.op_type == "Loop"]
    body = next(a.g for a in loop.attribute if a.name == "body")
    assert any(n.op_type == FUNCTIONS[name] for n in body.node)
    (fn,) = [f for f in model.functions if f.name == FUNCTIONS[name]]
    assert len(fn.output) == 2  # the context and the attention weights
    assert "Softmax" in {n.op_type for n in fn.node}
    assert [layer.onnx for layer in card.layers] == [op]


def test_tags_are_derived_as_the_survey_has_them(tiny_zoo: Path, name: str) -> None:
    tags = ModelCard.load(tiny_zoo / name / "card.json").tags
    assert {str(v) for v in tags.sequences} == {"distinctive"}
    assert {str(v) for v in tags.levels} == {"single-level"}
    assert {str(v) for v in tags.positions} == {name.removeprefix("sat-")}
    assert {str(v) for v in tags.representations} == {"single"}
    assert {str(v) for v in tags.architecture} == {"encoder-decoder"}


def test_onnx_greedy_captions_equal_pytorch_on_held_out_images(tiny_zoo: Path, name: str) -> None:
    model, task = _model_and_task(tiny_zoo, name)
    images = torch.from_numpy(task.grids("test").images[3:10])  # (7, H, W), unseen handwriting
    with torch.no_grad():
        ids, attention = GreedyCaptioner(model).eval()(images)  # type: ignore[arg-type]
    session = ort.InferenceSession(str(tiny_zoo / name / "1" / "model.onnx"))
    got_ids, got_attention = session.run(None, {"image": images.numpy()})
    assert np.array_equal(got_ids, ids.numpy())
    assert np.allclose(got_attention, attention.numpy(), atol=1e-5)
    L = model.regions  # type: ignore[union-attr]
    assert got_attention.shape == (7, got_ids.shape[1], L)


def test_attention_rows_are_distributions_or_one_hot(tiny_zoo: Path, name: str) -> None:
    _, task = _model_and_task(tiny_zoo, name)
    session = ort.InferenceSession(str(tiny_zoo / name / "1" / "model.onnx"))
    ids, attention = session.run(None, {"image": task.grids("test").images[:16]})
    for row_ids, rows in zip(ids, attention, strict=True):
        steps = _produced_steps(row_ids)
        produced, after = rows[:steps], rows[steps:]
        assert np.allclose(produced.sum(-1), 1.0, atol=1e-5)
        if name == "sat-hard":
            assert set(np.unique(produced).tolist()) <= {0.0, 1.0}
        assert not after.any() and (row_ids[steps:] == PAD).all()


def test_card_io_example_and_tokenizer(tiny_zoo: Path, name: str) -> None:
    card = ModelCard.load(tiny_zoo / name / "card.json")
    cfg = card.training.config if card.training else {}
    H, W = 8 * cfg["data"]["rows"], 8 * cfg["data"]["cols"]
    L = cfg["data"]["rows"] * cfg["data"]["cols"]
    T = L + cfg["extra_output_tokens"]
    (image,) = card.io.inputs
    assert (image.name, image.datatype, image.shape) == ("image", "FP32", [-1, H, W])
    assert not image.allow_nonfinite
    assert [(o.name, o.shape) for o in card.io.outputs] == [
        ("output_ids", [-1, T]),
        ("attention", [-1, T, L]),
    ]
    assert [t.name for t in card.io.text_outputs] == ["output_text"]
    (example,) = card.examples
    (tensor,) = example.inputs
    assert tensor.shape == [1, H, W] and len(tensor.data) == H * W
    tok = Tokenizer.from_file(str(tiny_zoo / name / "tokenizer.json"))
    session = ort.InferenceSession(str(tiny_zoo / name / "1" / "model.onnx"))
    feed = np.asarray(tensor.data, dtype=np.float32).reshape(tensor.shape)
    ids, _ = session.run(None, {"image": feed})
    words = decode(tok, ids[0].tolist()).split()
    vocabulary = set(tok.get_vocab()) - {"[PAD]", "[BOS]", "[EOS]", "[UNK]"}
    assert set(words) <= vocabulary


def test_metrics_are_the_caption_metrics_on_test(tiny_zoo: Path, name: str) -> None:
    card = ModelCard.load(tiny_zoo / name / "card.json")
    names = [m.name for m in card.metrics]
    assert names == ["exact_match", "token_accuracy", "bleu4", "localisation"]
    for m in card.metrics:
        assert m.split == "test"
        assert 0.0 <= m.value <= (100.0 if m.name == "bleu4" else 1.0)
    bleu = next(m for m in card.metrics if m.name == "bleu4")
    assert bleu.paper == {"sat-soft": 19.5, "sat-hard": 21.3}[name]


def test_checkpoint_loads_with_weights_only(tiny_zoo: Path, name: str) -> None:
    path = tiny_zoo.parent / "runs" / "tiny" / name / "model.ckpt"
    raw = torch.load(path, weights_only=True)
    assert raw["model"] == name and raw["config"]["attention"] == name.removeprefix("sat-")
