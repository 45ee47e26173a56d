"""Graph attention (GAT): one node's neighbourhood with the weight it gives each neighbour (itself
included, through its self-loop), one panel per layer, heads averaged; from ``edge_attention_<k>
(H, E)`` in ``edge_index`` order (row 0 source j, row 1 target i: i attends to j).

INPUT is the node id. The graph is the card's example (a few nodes, renumbered from 0) or a
``--inputs FILE.npz`` holding the card's inputs (``node_features``, ``edge_index``) by name."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from attentive.pictures import draw
from attentive.pictures import inputs as read
from attentive.pictures.registry import Family, Key, Query, View, key_of, register
from taxonomy.card import ModelCard

if TYPE_CHECKING:
    from matplotlib.figure import Figure

OUTPUT = "edge_attention"
SHOWN = 12  # neighbours drawn per panel and listed per layer (the strongest)


@dataclass
class Layer:
    name: str  # the output, e.g. edge_attention_1
    neighbours: list[int]  # n source nodes j of the edges into the node (itself included)
    weights: np.ndarray  # (H, n): head h's weight on neighbour k

    @property
    def mean(self) -> np.ndarray:
        return self.weights.mean(axis=0)  # (n,)


@dataclass
class Neighbourhood(View):
    title: str
    node: int
    layers: list[Layer]
    classes: dict[int, int] = field(default_factory=dict)  # node -> predicted class
    notes: list[str] = field(default_factory=list)

    def label(self, node: int) -> str:
        cls = self.classes.get(node)
        return f"{node}" if cls is None else f"{node}\nclass {cls}"

    def figure(self) -> Figure:
        from matplotlib import colormaps

        cmap = colormaps[draw.CMAP]
        panels = max(len(self.layers), 1)
        figure = draw.new_figure(4.2 * panels, 4.6)
        draw.title(figure, self.title)
        for p, layer in enumerate(self.layers):
            axes = figure.add_subplot(1, panels, p + 1)
            weights = layer.mean  # (n,)
            order = [
                k for k in np.argsort(-weights, kind="stable") if layer.neighbours[k] != self.node
            ]
            others = order[:SHOWN]
            for slot, k in enumerate(others):
                angle = 2 * math.pi * slot / max(len(others), 1) + math.pi / 2
                x, y = math.cos(angle), math.sin(angle)
                w = float(weights[k])
                axes.plot([0, x], [0, y], color=cmap(w), linewidth=1 + 8 * w, zorder=1)
                axes.text(x * 0.55, y * 0.55, f"{w:.2f}", fontsize=8, ha="center", va="center",
                          bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"})  # fmt: skip
                axes.text(x, y, self.label(layer.neighbours[k]), ha="center", va="center",
                          fontsize=8, zorder=3, gid="node",
                          bbox={"boxstyle": "circle", "fc": "#dde6f0", "ec": "#335"})  # fmt: skip
            own = [k for k, j in enumerate(layer.neighbours) if j == self.node]
            centre = self.label(self.node)
            if own:
                centre += f"\nself {weights[own[0]]:.2f}"
            axes.text(0, 0, centre, ha="center", va="center", fontsize=8, zorder=3, gid="node",
                      bbox={"boxstyle": "circle", "fc": "#ffd9a8", "ec": "#a50"})  # fmt: skip
            more = len(order) - len(others)
            heads = layer.weights.shape[0]
            axes.set_title(
                f"{layer.name}: mean of {heads} head{'s' * (heads > 1)}"
                + (f" (+{more} weaker not drawn)" if more > 0 else ""),
                fontsize=9,
            )
            axes.set_xlim(-1.35, 1.35)
            axes.set_ylim(-1.35, 1.35)
            axes.set_aspect("equal")
            axes.axis("off")
        return figure

    def text(self) -> str:
        lines = [self.title]
        for layer in self.layers:
            weights = layer.mean
            heads = layer.weights.shape[0]
            plural = "s" * (heads > 1)
            lines.append(
                f"{layer.name} (mean of {heads} head{plural}; per-head range in brackets):"
            )
            strongest = float(weights.max()) if weights.size else 0.0
            order = np.argsort(-weights, kind="stable")
            for k in order[:SHOWN]:
                j = layer.neighbours[k]
                who = f"{j} (self)" if j == self.node else f"{j}"
                low, high = layer.weights[:, k].min(), layer.weights[:, k].max()
                lines.append(
                    f"  {draw.shade(float(weights[k]), strongest)} {who:<12} {weights[k]:.3f}"
                    f"  [{low:.3f}, {high:.3f}]"
                )
            if len(order) > SHOWN:
                lines.append(f"  ... {len(order) - SHOWN} weaker neighbours")
        return "\n".join(lines)


def _layer_number(name: str) -> int:
    found = re.search(r"_(\d+)$", name)
    return int(found.group(1)) if found else 0


class GraphAttention(Family):
    name = "graph"
    keys = (Key(OUTPUT, ("H", "E")),)
    input_help = "a node id (of the card's example graph, or of --inputs FILE.npz)"

    def request(self, card: ModelCard, query: Query) -> dict[str, np.ndarray]:
        if query.inputs_file is not None:
            return read.npz(query.inputs_file, card)
        return read.example_arrays(read.example(card, query, graph_only=True))

    def view(
        self,
        card: ModelCard,
        query: Query,
        inputs: dict[str, np.ndarray],
        outputs: dict[str, np.ndarray],
    ) -> Neighbourhood:
        edges = next(t for t in card.io.inputs if t.index_of is not None)
        edge_index = inputs[edges.name]  # (2, E)
        nodes = inputs[edges.index_of.input].shape[edges.index_of.dim]  # type: ignore[union-attr]
        try:
            node = int(query.input or "")
        except ValueError:
            raise ValueError(
                f"model {card.name!r}: INPUT is a node id, not {query.input!r}"
            ) from None
        if not 0 <= node < nodes:
            raise ValueError(f"node {node} is not in the graph: its nodes are 0..{nodes - 1}")
        into = np.flatnonzero(edge_index[1] == node)  # edges e with target i = node
        names = sorted(
            (o.name for o in card.io.outputs if key_of(o) in self.keys and o.name in outputs),
            key=_layer_number,
        )
        layers = [
            Layer(name, edge_index[0, into].tolist(), outputs[name][:, into]) for name in names
        ]
        classes = {}
        logits = [o.name for o in card.io.outputs if o.legend and o.legend.startswith("(N, C)")]
        if logits and logits[0] in outputs:
            predicted = outputs[logits[0]].argmax(-1)  # (N,)
            classes = {j: int(predicted[j]) for j in {node, *edge_index[0, into].tolist()}}
        source = "the card's example graph" if query.inputs_file is None else str(query.inputs_file)
        return Neighbourhood(
            title=f"{query.model}: node {node} of {source} ({nodes} nodes), "
            f"{len(into)} incoming edges",
            node=node,
            layers=layers,
            classes=classes,
        )


register(GraphAttention())
