"""Translation (Transformer, RNNsearch, Luong): the alignment of output tokens (y) with source
tokens (x), from ``cross_attention (B, T, S)``, labelled with the tokenizer's token strings."""

from __future__ import annotations

import numpy as np

from attentive.pictures import inputs as read
from attentive.pictures.alignment import Alignment
from attentive.pictures.registry import Key, Query, as_text, register
from taxonomy.card import ModelCard

OUTPUT = "cross_attention"


class Translation(read.TextFamily):
    name = "translation"
    keys = (Key(OUTPUT, ("B", "T", "S")),)
    input_help = "a sentence to translate"

    def view(
        self,
        card: ModelCard,
        query: Query,
        inputs: dict[str, np.ndarray],
        outputs: dict[str, np.ndarray],
    ) -> Alignment:
        source_spec, target_spec = card.io.text_inputs[0], card.io.text_outputs[0]
        source = as_text(inputs[source_spec.name].reshape(-1)[0])
        weights = outputs[OUTPUT][0]  # (T, S)
        ids = outputs[target_spec.ids_output][0]  # (T,)
        steps = read.produced(ids, card.io.eos_id)
        notes = []
        tok = read.tokenizer(card, query, source_spec.tokenizer)
        if tok is None:
            notes.append(read.no_tokenizer_note(card, query, source_spec.tokenizer))
        cols = source_tokens(tok, source, weights.shape[1], notes)
        target = as_text(outputs[target_spec.name].reshape(-1)[0])
        return Alignment(
            title=f'{query.model}: "{source}" → "{target}"',
            weights=weights[:steps],  # (steps, S)
            rows=read.token_strings(tok, ids[:steps]),
            cols=cols,
            ylabel="output tokens",
            xlabel="source tokens",
            top=query.top,
            notes=notes,
        )


def source_tokens(tok: object | None, text: str, length: int, notes: list[str]) -> list[str]:
    """The token strings the server made of ``text`` (the same tokenizer file), or positions
    when there is no tokenizer or its tokens do not match the attention's length."""
    if tok is not None:
        ids = tok.encode(text).ids  # type: ignore[attr-defined]
        if len(ids) == length:
            return read.token_strings(tok, ids)
        notes.append(f"{len(ids)} source tokens here, {length} attended: columns are positions")
    return [f"s{j}" for j in range(length)]


register(Translation())
