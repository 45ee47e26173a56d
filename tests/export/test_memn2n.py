"""The memory network built with the tiny preset: each hop is the named ONNX function MemoryHop
(three calls), the exported graph computes what PyTorch computes on held-out stories (answer ids
exactly), padding slots get zero attention, and the card is tagged as the survey has it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from tokenizers import Tokenizer

from attentive.settings import Settings
from export.outline import count_ops
from taxonomy.card import ModelCard
from training import checkpoint, registry
from training.data.babi import SEP

NAME = "memn2n"
OP = "ai.attentive::MemoryHop"


def _model_and_task(tiny_zoo: Path):  # type: ignore[no-untyped-def]
    spec = registry.get(NAME)
    run_dir = tiny_zoo.parent / "runs" / "tiny" / NAME
    ckpt = checkpoint.load(run_dir / "model.ckpt", spec)
    return checkpoint.rebuild(ckpt, spec), spec.task(ckpt.config, Settings().data, run_dir)


def test_every_hop_is_the_named_function(tiny_zoo: Path) -> None:
    card = ModelCard.load(tiny_zoo / NAME / "card.json")
    model = onnx.load(str(tiny_zoo / NAME / "1" / "model.onnx"))
    hops = card.training.config["hops"] if card.training else 0
    assert card.export is not None and card.export.attention_ops == {OP: hops}
    ops = count_ops(model.graph)
    assert ops[OP] == hops == 3
    assert "Softmax" in ops  # the answer's softmax, outside the hops
    (fn,) = [f for f in model.functions if f.name == "MemoryHop"]  # one body, called 3 times
    assert fn.domain == "ai.attentive" and len(fn.output) == 2  # o and the weights p
    assert "Softmax" in {n.op_type for n in fn.node}
    assert not {"ScatterND", "ScatterElements"} & set(ops)
    assert [layer.onnx for layer in card.layers] == [OP] * 3


def test_tags_are_derived_as_the_survey_has_them(tiny_zoo: Path) -> None:
    tags = ModelCard.load(tiny_zoo / NAME / "card.json").tags
    assert {str(v) for v in tags.sequences} == {"distinctive"}
    assert {str(v) for v in tags.levels} == {"single-level"}
    assert {str(v) for v in tags.positions} == {"soft"}
    assert {str(v) for v in tags.representations} == {"single"}
    assert {str(v) for v in tags.architecture} == {"memory-network"}


def test_onnx_equals_pytorch_on_held_out_stories(tiny_zoo: Path) -> None:
    model, task = _model_and_task(tiny_zoo)
    questions = task.splits.test[::7][:24]
    story, question = task.batch(questions)  # (24, T), (24, W): mixed lengths, padded
    with torch.no_grad():
        probabilities, answer, attention = model(story, question)
    session = ort.InferenceSession(str(tiny_zoo / NAME / "1" / "model.onnx"))
    feeds = {"story_ids": story.numpy(), "question_ids": question.numpy()}
    got_probabilities, got_answer, got_attention = session.run(None, feeds)
    assert np.array_equal(got_answer, answer.numpy())
    assert np.allclose(got_probabilities, probabilities.numpy(), atol=1e-5)
    assert np.allclose(got_attention, attention.numpy(), atol=1e-5)
    sentences = np.array([min(len(q.story), task.cfg.memory) for q in questions])  # (24,)
    slots = np.arange(got_attention.shape[-1])
    padding = slots[None, None, :] >= sentences[:, None, None]  # (24, 1, M)
    assert (got_attention[np.broadcast_to(padding, got_attention.shape)] == 0).all()
    assert np.allclose(got_attention.sum(-1), 1.0, atol=1e-5)


def test_card_io_examples_and_tokenizer(tiny_zoo: Path) -> None:
    card = ModelCard.load(tiny_zoo / NAME / "card.json")
    cfg = card.training.config if card.training else {}
    assert [(t.name, t.shape) for t in card.io.inputs] == [
        ("story_ids", [-1, -1]),
        ("question_ids", [-1, -1]),
    ]
    assert [(t.name, t.shape) for t in card.io.outputs] == [
        ("answer_probabilities", [-1, cfg["vocab_size"]]),
        ("answer_ids", [-1, 1]),
        ("attention", [-1, cfg["hops"], cfg["memory"]]),
    ]
    assert [(t.name, t.ids_input) for t in card.io.text_inputs] == [
        ("story", "story_ids"),
        ("question", "question_ids"),
    ]
    assert [t.name for t in card.io.text_outputs] == ["answer"]
    tok = Tokenizer.from_file(str(tiny_zoo / NAME / "tokenizer.json"))
    ids, text = card.examples
    story = next(t for t in text.inputs if t.name == "story").data[0]
    assert next(t for t in ids.inputs if t.name == "story_ids").data == tok.encode(story).ids
    assert tok.token_to_id(".") == SEP
    names = [m.name for m in card.metrics]
    assert names[:2] == ["mean_error", "failed_tasks"]
    assert names[2:] == [f"error_task_{t}" for t in cfg["tasks"]]
