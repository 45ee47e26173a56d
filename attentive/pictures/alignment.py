"""An alignment: one matrix of weights between two labelled sequences (output x source tokens for
translation, sentence 1 x sentence 2 for a pair model), drawn as a heatmap."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from attentive.pictures import draw
from attentive.pictures.registry import View

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class Alignment(View):
    title: str
    weights: np.ndarray  # (R, C): row r's weight on column c
    rows: list[str]  # R labels (y axis)
    cols: list[str]  # C labels (x axis)
    ylabel: str
    xlabel: str
    top: int = 3
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.weights.shape != (len(self.rows), len(self.cols)):
            raise ValueError(
                f"alignment of shape {list(self.weights.shape)} for {len(self.rows)} row and "
                f"{len(self.cols)} column labels"
            )

    def figure(self) -> Figure:
        longest = max((len(s) for s in [*self.rows, *self.cols]), default=1)
        figure = draw.new_figure(*draw.heatmap_inches(len(self.rows), len(self.cols), longest))
        axes = figure.add_subplot()
        draw.heatmap(axes, self.weights, self.rows, self.cols, self.xlabel, self.ylabel)
        draw.title(figure, self.title)
        return figure

    def text(self) -> str:
        lines = [self.title, f"rows: {self.ylabel}; columns: {self.xlabel}"]
        lines += draw.shaded_matrix(self.weights, self.rows, self.cols, self.top)
        return "\n".join(lines)
