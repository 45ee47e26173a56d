"""Memory networks (end-to-end MemN2N): each hop's weights over the story's sentences (the
memory slots), from ``attention (B, K, M)`` (hop k, slot i = the i-th of the story's last M
sentences, oldest first); sentences on y, hops on x.

INPUT is the story and the question separated by a tab (or the story, with ``--second`` the
question; or ``--example``); the story's sentences are its lines, or else it is split after
. ! ?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attentive.pictures import draw
from attentive.pictures import inputs as read
from attentive.pictures.alignment import Alignment
from attentive.pictures.registry import Key, Query, as_text, key_of, register
from taxonomy.card import ModelCard

OUTPUT = "attention"


@dataclass
class Hops(Alignment):
    """rows = memory slots (sentences), cols = hops; the text lists each hop's strongest slots."""

    def text(self) -> str:
        lines = [self.title]
        for h, hop in enumerate(self.cols):
            weights = self.weights[:, h]  # (M,)
            strongest = float(weights.max()) if weights.size else 0.0
            lines.append(f"{hop}:")
            for m in np.argsort(-weights, kind="stable")[: self.top]:
                shade = draw.shade(float(weights[m]), strongest)
                lines.append(f"  {shade} {weights[m]:.2f}  {self.rows[m]}")
        return "\n".join(lines)


class MemoryNetwork(read.TextFamily):
    name = "memory"
    keys = (Key(OUTPUT, ("B", "K", "M")),)
    input_help = "the story and the question separated by a tab, or the story and --second"

    def view(
        self,
        card: ModelCard,
        query: Query,
        inputs: dict[str, np.ndarray],
        outputs: dict[str, np.ndarray],
    ) -> Hops:
        name = next(o.name for o in card.io.outputs if key_of(o) in self.keys and o.name in outputs)
        weights = outputs[name][0]  # (K, M)
        texts = [as_text(inputs[t.name].reshape(-1)[0]) for t in card.io.text_inputs]
        story = read.sentences(texts[0])
        notes = []
        slots = weights.shape[1]
        if len(story) > slots:
            notes.append(f"{len(story)} sentences; the memory holds the last {slots}")
            story = story[-slots:]
        answer = [as_text(outputs[t.name].reshape(-1)[0]) for t in card.io.text_outputs]
        question = f' "{texts[1]}"' if len(texts) > 1 else ""
        said = f" → {answer[0]}" if answer else ""
        return Hops(
            title=f"{query.model}:{question}{said}",
            weights=weights[:, : len(story)].T,  # (n, K): the slots holding a sentence
            rows=story,
            cols=[f"hop {h + 1}" for h in range(weights.shape[0])],
            ylabel="story sentences (memory)",
            xlabel="hop",
            top=query.top,
            notes=notes,
        )


register(MemoryNetwork())
