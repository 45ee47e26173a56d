"""Sentence pairs (ABCNN, attention-based MPCNN): the attention matrix between the two sentences,
sentence 1 on y and sentence 2 on x, from a ``(B, L, R)`` output (sentence-1 positions x
sentence-2 positions). Of several, the word-level one is drawn: ``input_attention_1`` (ABCNN-1/3
block 1), else ``attention``, else ``pooling_attention_1`` (ABCNN-2: convolution columns, L + w - 1
of them, labelled by position).

INPUT is the two texts separated by a tab, or the first text with ``--second`` the second
(or ``--example``: the card's text example)."""

from __future__ import annotations

import numpy as np

from attentive.pictures import inputs as read
from attentive.pictures.alignment import Alignment
from attentive.pictures.registry import Key, Query, as_text, key_of, register
from taxonomy.card import ModelCard

AXES = ("B", "L", "R")
# In the order of preference: attention between words first.
OUTPUTS = ("input_attention", "attention", "pooling_attention")


def _layer(name: str) -> int:
    tail = name.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class SentencePair(read.TextFamily):
    name = "pair"
    keys = tuple(Key(o, AXES) for o in OUTPUTS)
    input_help = "two texts separated by a tab, or the first and --second TEXT (or --example)"

    def view(
        self,
        card: ModelCard,
        query: Query,
        inputs: dict[str, np.ndarray],
        outputs: dict[str, np.ndarray],
    ) -> Alignment:
        drawn = [
            (OUTPUTS.index(k.output), _layer(o.name), o.name)
            for o in card.io.outputs
            if (k := key_of(o)) in self.keys and o.name in outputs
        ]
        name = min(drawn)[2]
        matrix = outputs[name][0]  # (L, R)
        notes: list[str] = []
        labels, texts = [], []
        for spec, length in zip(card.io.text_inputs[:2], matrix.shape, strict=True):
            text = as_text(inputs[spec.name].reshape(-1)[0])
            tok = read.tokenizer(card, query, spec.tokenizer)
            if tok is None and not notes:
                notes.append(read.no_tokenizer_note(card, query, spec.tokenizer))
            labels.append(tokens(tok, text, length))
            texts.append(text)
        said = read.prediction(card, outputs)
        return Alignment(
            title=f'{query.model} ({name}): "{texts[0]}" × "{texts[1]}"'
            + (f" → {said}" if said else ""),
            weights=matrix,
            rows=labels[0],
            cols=labels[1],
            ylabel=f"sentence 1 ({card.io.text_inputs[0].name})",
            xlabel=f"sentence 2 ({card.io.text_inputs[1].name})",
            top=query.top,
            notes=notes,
        )


def tokens(tok: object | None, text: str, length: int) -> list[str]:
    """The sentence's token strings where the matrix has one row (column) per token, else
    positions (no tokenizer, or convolution columns)."""
    if tok is not None:
        ids = tok.encode(text).ids  # type: ignore[attr-defined]
        if len(ids) == length:
            return read.token_strings(tok, ids)
    return [f"{j}" for j in range(length)]


register(SentencePair())
