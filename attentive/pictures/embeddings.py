"""Dynamic meta-embeddings (DME): each token's weights over the embedding sets, from
``left_set_weights (B, L, n)`` and ``right_set_weights (B, R, n)``: one heatmap, sentence 1's
tokens then sentence 2's on y (a line between them), the embedding sets on x, named from the
outputs' description ``(0 = word2vec, 1 = minilm)``.

INPUT is the two texts separated by a tab, or the first text with ``--second`` the second
(or ``--example``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from attentive.pictures import inputs as read
from attentive.pictures.alignment import Alignment
from attentive.pictures.pairs import tokens
from attentive.pictures.registry import Key, Query, as_text, register
from taxonomy.card import ModelCard, TensorSpec

if TYPE_CHECKING:
    from matplotlib.figure import Figure

OUTPUTS = (("left_set_weights", "L"), ("right_set_weights", "R"))


@dataclass
class SetWeights(Alignment):
    """rows = sentence 1's tokens then sentence 2's; ``split`` rows belong to sentence 1."""

    split: int = 0

    def figure(self) -> Figure:
        figure = super().figure()
        figure.axes[0].axhline(self.split - 0.5, color="white", linewidth=2)
        return figure


def set_names(spec: TensorSpec, count: int) -> list[str]:
    named = dict(re.findall(r"(\d+) = ([^,)]+)", spec.description))
    return [named.get(str(j), f"set {j}").strip() for j in range(count)]


class MetaEmbeddings(read.TextFamily):
    name = "embedding-sets"
    keys = tuple(Key(name, ("B", axis, "n")) for name, axis in OUTPUTS)
    input_help = "two texts separated by a tab, or the first and --second TEXT (or --example)"

    def view(
        self,
        card: ModelCard,
        query: Query,
        inputs: dict[str, np.ndarray],
        outputs: dict[str, np.ndarray],
    ) -> SetWeights:
        specs = {o.name: o for o in card.io.outputs}
        rows: list[str] = []
        blocks: list[np.ndarray] = []
        texts: list[str] = []
        notes: list[str] = []
        for text_spec, (name, _) in zip(card.io.text_inputs[:2], OUTPUTS, strict=True):
            weights = outputs[name][0]  # (L, n)
            text = as_text(inputs[text_spec.name].reshape(-1)[0])
            tok = read.tokenizer(card, query, text_spec.tokenizer)
            if tok is None and not notes:
                notes.append(read.no_tokenizer_note(card, query, text_spec.tokenizer))
            rows += tokens(tok, text, weights.shape[0])
            blocks.append(weights)
            texts.append(text)
        said = read.prediction(card, outputs)
        return SetWeights(
            title=f'{query.model}: "{texts[0]}" / "{texts[1]}"' + (f" → {said}" if said else ""),
            weights=np.concatenate(blocks),  # (L + R, n)
            rows=rows,
            cols=set_names(specs[OUTPUTS[0][0]], blocks[0].shape[1]),
            ylabel="sentence 1 tokens, then sentence 2 tokens",
            xlabel="embedding set",
            top=query.top,
            notes=notes,
            split=len(blocks[0]),
        )


register(MetaEmbeddings())
