"""The Transformer: three kinds of attention, each the standard ONNX Attention op; greedy
decoding inside the graph gives PyTorch's tokens; tags as the survey has them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from attentive.settings import Settings
from export.outline import count_ops
from taxonomy.card import ModelCard
from training import checkpoint, registry
from training.models.transformer import GreedyTranslator
from training.tasks.translation import pad_batch


def test_every_attention_is_the_standard_op(tiny_zoo: Path) -> None:
    card = ModelCard.load(tiny_zoo / "transformer" / "card.json")
    cfg = card.training.config if card.training else {}
    expected = cfg["encoder_layers"] + 2 * cfg["decoder_layers"]
    ops = count_ops(onnx.load(str(tiny_zoo / "transformer" / "1" / "model.onnx")).graph)
    assert ops["Attention"] == expected
    # One Softmax: the served cross-attention's weights, computed beside its Attention op from
    # the op's scores (qk_matmul_output_mode 0, what onnxruntime's CUDA kernel supports); the
    # other layers' weights are unused and dropped, and no attention is decomposed.
    assert ops["Softmax"] == 1 and "Loop" in ops
    kinds = {(layer.query_from, layer.keys_from) for layer in card.layers}
    assert len(kinds) == 3 and all(layer.onnx == "Attention" for layer in card.layers)


def test_tags_are_derived_as_the_survey_has_them(tiny_zoo: Path) -> None:
    tags = ModelCard.load(tiny_zoo / "transformer" / "card.json").tags
    assert {str(v) for v in tags.sequences} == {"self", "distinctive"}
    assert {str(v) for v in tags.levels} == {"single-level"}
    assert {str(v) for v in tags.positions} == {"soft"}
    assert {str(v) for v in tags.representations} == {"single"}
    assert {str(v) for v in tags.architecture} == {"encoder-decoder", "network-without-rnns"}


def test_onnx_greedy_tokens_equal_pytorch_on_unseen_batches(tiny_zoo: Path) -> None:
    spec = registry.get("transformer")
    run_dir = tiny_zoo.parent / "runs" / "tiny" / "transformer"
    ckpt = checkpoint.load(run_dir / "model.ckpt", spec)
    model = checkpoint.rebuild(ckpt, spec)
    task = spec.task(ckpt.config, Settings().data, run_dir)
    translator = GreedyTranslator(model).eval()  # type: ignore[arg-type]
    session = ort.InferenceSession(str(tiny_zoo / "transformer" / "1" / "model.onnx"))
    sources = [ids for ids, _ in task.encode(task.pairs("test")[5:12])]
    batch = pad_batch(sources)  # mixed lengths, padded
    with torch.no_grad():
        ids, attention = translator(batch)
    got_ids, got_attention = session.run(None, {"source_ids": batch.numpy()})
    assert np.array_equal(got_ids, ids.numpy())
    assert np.allclose(got_attention, attention.numpy(), atol=1e-4)
    # cross-attention rows of produced tokens are distributions over real source tokens only
    real = (batch != 0).numpy()
    for b in range(batch.shape[0]):
        steps = int(np.flatnonzero(got_ids[b] != 0)[-1]) + 1  # decoded: [EOS] or own limit
        rows = got_attention[b, :steps]
        assert np.allclose(rows.sum(-1), 1.0, atol=1e-4)
        assert np.all(rows[:, ~real[b]] == 0)


def test_checkpoint_loads_with_weights_only(tiny_zoo: Path) -> None:
    path = tiny_zoo.parent / "runs" / "tiny" / "transformer" / "model.ckpt"
    raw = torch.load(path, weights_only=True)
    assert raw["model"] == "transformer" and "config" in raw and "state_dict" in raw
