"""Captioning (Show, Attend and Tell, soft and hard): the image once per generated word, the
weights over its regions laid over it and the most attended region outlined, from
``attention (B, T, L)`` whose region l is grid cell l in reading order.

INPUT is a .npy or .png image of the model's H x W pixels (or ``--example``: the card's image).
The regions are square cells: cell side = sqrt(H W / L), which must tile the image."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from attentive.pictures import draw
from attentive.pictures import inputs as read
from attentive.pictures.registry import Family, Key, Query, View, as_text, register
from taxonomy.card import ModelCard

if TYPE_CHECKING:
    from matplotlib.figure import Figure

OUTPUT = "attention"
OUTLINE = "#ff3b30"
PANEL_INCHES = 1.9
PER_ROW = 5


@dataclass
class Captions(View):
    title: str
    image: np.ndarray  # (H, W) in [0, 1]
    words: list[str]  # n generated words
    weights: np.ndarray  # (n, L): word i's weight on region l (reading order)
    grid: tuple[int, int]  # (R, C) regions; L = R C
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        rows, cols = self.grid
        if self.weights.shape != (len(self.words), rows * cols):
            raise ValueError(
                f"weights of shape {list(self.weights.shape)} for {len(self.words)} words and "
                f"{rows} x {cols} regions"
            )

    @property
    def cell(self) -> tuple[float, float]:
        """(height, width) of a region in pixels."""
        return self.image.shape[0] / self.grid[0], self.image.shape[1] / self.grid[1]

    def attended(self, i: int) -> tuple[int, int]:
        """(row, column) of the region word i attended to most."""
        return divmod(int(self.weights[i].argmax()), self.grid[1])

    def figure(self) -> Figure:
        from matplotlib.patches import Rectangle

        n = max(len(self.words), 1)
        per_row = min(n, PER_ROW)
        lines = math.ceil(n / per_row)
        figure = draw.new_figure(PANEL_INCHES * per_row, PANEL_INCHES * lines + 0.5)
        draw.title(figure, self.title)
        height, width = self.image.shape
        ch, cw = self.cell
        for i, word in enumerate(self.words):
            axes = figure.add_subplot(lines, per_row, i + 1)
            axes.imshow(self.image, cmap="gray", vmin=0.0, vmax=1.0)
            heat = self.weights[i].reshape(self.grid)  # (R, C)
            axes.imshow(
                heat, cmap="inferno", vmin=0.0, vmax=1.0, alpha=0.45,
                extent=(-0.5, width - 0.5, height - 0.5, -0.5), interpolation="nearest",
            )  # fmt: skip
            r, c = self.attended(i)
            axes.add_patch(
                Rectangle(
                    (c * cw - 0.5, r * ch - 0.5),
                    cw,
                    ch,
                    fill=False,
                    edgecolor=OUTLINE,
                    linewidth=2,
                )  # fmt: skip
            )
            axes.set_title(f"{word}  {self.weights[i].max():.2f}", fontsize=9)
            axes.set_xticks([])
            axes.set_yticks([])
        return figure

    def text(self) -> str:
        lines = [self.title, f"regions: {self.grid[0]} x {self.grid[1]} cells in reading order"]
        width = max((len(w) for w in self.words), default=0)
        for i, word in enumerate(self.words):
            row = self.weights[i]
            strongest = float(row.max())
            cells = "".join(draw.shade(float(w), strongest) for w in row)
            grid = "|".join(cells[k : k + self.grid[1]] for k in range(0, len(cells), self.grid[1]))
            r, c = self.attended(i)
            lines.append(f"{word:<{width}} [{grid}] cell ({r}, {c}) {strongest:.2f}")
        return "\n".join(lines)


def grid_of(height: int, width: int, regions: int) -> tuple[int, int]:
    """(R, C) square cells of an H x W image holding L regions."""
    side = math.isqrt(height * width // regions) if regions else 0
    if side == 0 or height % side or width % side or (height // side) * (width // side) != regions:
        raise ValueError(f"{regions} regions do not tile a {height} x {width} image in squares")
    return height // side, width // side


class Captioning(Family):
    name = "captioning"
    keys = (Key(OUTPUT, ("B", "T", "L")),)
    input_help = "an image file (.npy or .png, the model's H x W pixels in [0, 1]) or --example"

    def request(self, card: ModelCard, query: Query) -> dict[str, np.ndarray]:
        (spec,) = card.io.inputs
        if query.example is not None:
            return read.example_arrays(read.example(card, query, graph_only=True))
        if query.input is None:
            raise ValueError(f"model {card.name!r} needs an image file (or --example)")
        _, height, width = spec.shape
        return {spec.name: read.image(Path(query.input), height, width)[None]}  # (1, H, W)

    def view(
        self,
        card: ModelCard,
        query: Query,
        inputs: dict[str, np.ndarray],
        outputs: dict[str, np.ndarray],
    ) -> Captions:
        (spec,) = card.io.inputs
        image = inputs[spec.name][0]  # (H, W)
        text = card.io.text_outputs[0]
        ids = outputs[text.ids_output][0]  # (T,)
        steps = read.produced(ids, card.io.eos_id)
        words = steps - 1 if steps and ids[steps - 1] == card.io.eos_id else steps
        weights = outputs[OUTPUT][0][:words]  # (n, L)
        caption = as_text(outputs[text.name].reshape(-1)[0])
        notes = []
        tok = read.tokenizer(card, query, text.tokenizer)
        if tok is not None:
            labels = read.token_strings(tok, ids[:words])
        elif len(caption.split()) == words:
            labels = caption.split()
        else:
            labels = read.token_strings(None, ids[:words])
            notes.append(read.no_tokenizer_note(card, query, text.tokenizer))
        return Captions(
            title=f'{query.model}: "{caption}"',
            image=image,
            words=labels,
            weights=weights,
            grid=grid_of(image.shape[0], image.shape[1], weights.shape[-1]),
            notes=notes,
        )


register(Captioning())
