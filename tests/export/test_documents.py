"""The document models (HAN, Lin et al.'s structured self-attention, the DiSAN-style network),
built with the tiny preset: every mechanism is a named ONNX local function with its weights as
outputs, onnxruntime computes what PyTorch computes on fresh documents of other lengths, the
attention outputs are distributions where they should be, and the tags are the survey's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from attentive.settings import Settings
from export.outline import count_ops
from taxonomy.card import ModelCard
from training import checkpoint, registry
from training.tasks.documents import SEP, DocumentTask, Served, pad_rows

FUNCTIONS = {
    "han": {"WordAttention": 1, "SentenceAttention": 1},
    "lin": {"StructuredSelfAttention": 1},
    "disan": {"MultiDimensionalAttention": 2, "MultiDimensionalSource2Token": 1},
}
TAGS = {
    "han": ("multi-level", "single", "encoder-decoder"),
    "lin": ("single-level", "multi-dimensional", "encoder-decoder"),
    "disan": ("single-level", "multi-dimensional", "network-without-rnns"),
}


@pytest.fixture(scope="module", params=sorted(FUNCTIONS))
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _model_and_task(tiny_zoo: Path, name: str) -> tuple[torch.nn.Module, DocumentTask]:
    spec = registry.get(name)
    run_dir = tiny_zoo.parent / "runs" / "tiny" / name
    ckpt = checkpoint.load(run_dir / "model.ckpt", spec)
    task = spec.task(ckpt.config, Settings().data, run_dir)
    assert isinstance(task, DocumentTask)
    return checkpoint.rebuild(ckpt, spec), task


def _run(tiny_zoo: Path, name: str, ids: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(
        str(tiny_zoo / name / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"document_ids": ids}), strict=True))


def test_mechanisms_are_named_functions(tiny_zoo: Path, name: str) -> None:
    card = ModelCard.load(tiny_zoo / name / "card.json")
    model = onnx.load(str(tiny_zoo / name / "1" / "model.onnx"))
    expected = {f"ai.attentive::{f}": n for f, n in FUNCTIONS[name].items()}
    assert card.export is not None and card.export.attention_ops == expected
    ops = count_ops(model.graph)
    for op, n in expected.items():
        assert ops[op] == n
    for function in FUNCTIONS[name]:
        bodies = [f for f in model.functions if f.name == function]
        assert bodies and all(len(f.output) >= 2 for f in bodies)  # the output and the weights
        kinds = {n.op_type for f in bodies for n in f.node}
        assert {
            "Softmax",
            "Tanh" if name != "disan" or "Source" not in function else "Elu",
        } <= kinds
    assert sorted({layer.onnx for layer in card.layers}) == sorted(expected)
    assert "ScatterND" not in ops and "ScatterElements" not in ops


def test_tags_are_the_surveys(tiny_zoo: Path, name: str) -> None:
    tags = ModelCard.load(tiny_zoo / name / "card.json").tags
    levels, representations, architecture = TAGS[name]
    assert tags.sequences == {"self"} and tags.positions == {"soft"}
    assert tags.levels == {levels}
    assert tags.representations == {representations}
    assert tags.architecture == {architecture}


def test_parity_on_fresh_documents_of_other_lengths(tiny_zoo: Path, name: str) -> None:
    model, task = _model_and_task(tiny_zoo, name)
    served = Served(
        model, [o.name for o in ModelCard.load(tiny_zoo / name / "card.json").io.outputs][1:]
    )
    rows = [r[0] for r in task.encoded("test")[:5]]
    for batch in (pad_rows(rows), pad_rows(rows[:1]), pad_rows([rows[2][:3], rows[3]])):
        with torch.no_grad():
            want = [t.numpy() for t in served(batch)]
        got = _run(tiny_zoo, name, batch.numpy())
        for spec_name, expected in zip(
            served.names and ["probabilities", *served.names], want, strict=True
        ):
            assert got[spec_name].shape == expected.shape
            assert np.abs(got[spec_name] - expected).max() < 1e-4, spec_name


def test_attention_outputs_are_distributions(tiny_zoo: Path, name: str) -> None:
    _, task = _model_and_task(tiny_zoo, name)
    rows = [r[0] for r in task.encoded("test")[:4]]
    ids = pad_rows(rows).numpy()  # (B, L)
    real = ids != 0
    out = _run(tiny_zoo, name, ids)
    assert np.allclose(out["probabilities"].sum(-1), 1.0, atol=1e-5)
    if name == "han":
        sentences = out["sentence_attention"]  # (B, S)
        assert np.allclose(sentences.sum(-1), 1.0, atol=1e-5)
        words = out["word_attention"]  # (B, L)
        assert not words[~real].any() and not words[ids == SEP].any()
        index = np.cumsum(ids == SEP, axis=1)
        for b in range(len(rows)):
            for s in np.unique(index[b][real[b]]):
                if s < sentences.shape[1]:
                    assert words[b][(index[b] == s) & real[b]].sum() == pytest.approx(1, abs=1e-5)
    elif name == "lin":
        attention = out["attention"]  # (B, R, L)
        assert np.allclose(attention.sum(-1), 1.0, atol=1e-5)
        assert not attention.transpose(0, 2, 1)[~real].any()
    else:
        pooled = out["source2token_attention"]  # (B, L, 2D)
        assert np.allclose(pooled.sum(1), 1.0, atol=1e-5) and not pooled[~real].any()
        ahead, behind = out["forward_attention"], out["backward_attention"]  # (B, L, L)
        L = ids.shape[1]
        assert not (ahead * np.triu(np.ones((L, L)))).any()  # only earlier keys, no diagonal
        assert not (behind * np.tril(np.ones((L, L)))).any()  # only later keys
        lengths = real.sum(1)
        for b, n in enumerate(lengths):
            assert np.allclose(ahead[b, 1:n].sum(-1), 1.0, atol=1e-5)
            assert np.allclose(behind[b, : n - 1].sum(-1), 1.0, atol=1e-5)
