"""Hierarchical attention (HAN): each sentence's weight in the document and each word's weight in
its sentence, from ``word_attention (B, L)`` (one weight per token of the document's ids, within
its sentence; 0 on separators) and ``sentence_attention (B, S)`` (sentence s = the text after the
s-th separator): one line per sentence, its weight as a bar, its words shaded by their weight.

INPUT is the document (or ``--example``). The sentences are found as the server finds them: the
model's tokenizer (read from the repository; required here) marks each boundary with the
separator token, so the client tokenizes the document with the same file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from attentive.pictures import draw
from attentive.pictures import inputs as read
from attentive.pictures.registry import Key, Query, View, as_text, register
from taxonomy.card import ModelCard

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# The sentence separator of the document tokenizer (training/tasks/documents.py SEPARATOR).
SEPARATOR = "¶"
WORDS = "word_attention"
SENTENCES = "sentence_attention"
CHAR_INCHES = 0.085  # width of one character of a word at the font size used


@dataclass
class Document(View):
    title: str
    words: list[list[str]]  # S sentences of their words
    word_weights: list[np.ndarray]  # S arrays (W_s,): word weights within each sentence
    sentence_weights: np.ndarray  # (S,)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.words) != len(self.word_weights) or len(self.words) != len(
            self.sentence_weights
        ):
            raise ValueError("one word-weight row and one sentence weight per sentence")
        for words, weights in zip(self.words, self.word_weights, strict=True):
            if len(words) != len(weights):
                raise ValueError(f"{len(words)} words with {len(weights)} weights")

    def figure(self) -> Figure:
        from matplotlib import colormaps

        cmap = colormaps["Oranges"]
        count = len(self.words)
        longest = max((sum(len(w) + 1 for w in s) for s in self.words), default=1)
        figure = draw.new_figure(2.2 + CHAR_INCHES * longest * 1.25, 0.9 + 0.38 * count)
        draw.title(figure, self.title)
        bars, text = figure.subplots(1, 2, width_ratios=[1, 5], sharey=True)
        rows = np.arange(count)
        bars.barh(rows, self.sentence_weights, color=colormaps[draw.CMAP](0.55))
        bars.set_xlim(0, 1)
        bars.set_yticks(rows, labels=[f"sentence {s + 1}" for s in rows])
        bars.invert_yaxis()
        bars.set_xlabel("sentence weight")
        for s, (words, weights) in enumerate(zip(self.words, self.word_weights, strict=True)):
            strongest = float(weights.max()) if len(weights) else 1.0
            x = 0.0
            for word, weight in zip(words, weights, strict=True):
                text.text(x, s, word, va="center", ha="left", fontsize=9, gid="word",
                          bbox={"boxstyle": "square,pad=0.15", "ec": "none",
                                "fc": cmap(float(weight) / strongest if strongest else 0.0)})  # fmt: skip
                x += len(word) + 1
        text.set_xlim(-0.5, longest + 0.5)
        text.set_xticks([])
        text.tick_params(left=False)
        text.set_xlabel("words, shaded by their weight within the sentence")
        for side in ("top", "right", "bottom", "left"):
            text.spines[side].set_visible(False)
        return figure

    def text(self) -> str:
        lines = [self.title]
        strongest = float(self.sentence_weights.max()) if len(self.sentence_weights) else 0.0
        for s, (words, weights) in enumerate(zip(self.words, self.word_weights, strict=True)):
            top = float(weights.max()) if len(weights) else 0.0
            shaded = " ".join(
                f"{w}[{draw.shade(float(v), top)}]" for w, v in zip(words, weights, strict=True)
            )
            weight = float(self.sentence_weights[s])
            lines.append(f"{draw.shade(weight, strongest)} {weight:.2f} | {shaded}")
        return "\n".join(lines)


class Hierarchy(read.TextFamily):
    name = "hierarchy"
    keys = (Key(WORDS, ("B", "L")), Key(SENTENCES, ("B", "S")))
    input_help = "a document (or --example); needs the model's tokenizer (--repository)"

    def view(
        self,
        card: ModelCard,
        query: Query,
        inputs: dict[str, np.ndarray],
        outputs: dict[str, np.ndarray],
    ) -> Document:
        spec = card.io.text_inputs[0]
        document = as_text(inputs[spec.name].reshape(-1)[0])
        words, sentences = outputs[WORDS][0], outputs[SENTENCES][0]  # (L,), (S,)
        tok = read.tokenizer(card, query, spec.tokenizer)
        if tok is None:
            raise ValueError(
                f"{read.no_tokenizer_note(card, query, spec.tokenizer)}; without it the "
                "sentences of the document cannot be found"
            )
        ids = tok.encode(document).ids  # the server's ids: (L,)
        if len(ids) != len(words):
            raise ValueError(f"{len(ids)} tokens here, {len(words)} attended: another tokenizer?")
        separator = tok.token_to_id(SEPARATOR)
        grouped: list[list[int]] = [[]]  # token positions of each sentence
        for position, token in enumerate(ids):
            if token == separator:
                grouped.append([])
            elif token != card.io.pad_id:
                grouped[-1].append(position)
        notes = []
        if len(grouped) > len(sentences):
            notes.append(f"{len(grouped)} sentences; the model reads the first {len(sentences)}")
            grouped = grouped[: len(sentences)]
        said = read.prediction(card, outputs)
        return Document(
            title=f"{query.model}" + (f" → {said}" if said else ""),
            words=[read.token_strings(tok, [ids[p] for p in group]) for group in grouped],
            word_weights=[words[group] for group in grouped],
            sentence_weights=sentences[: len(grouped)],
            notes=notes,
        )


register(Hierarchy())
