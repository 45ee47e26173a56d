"""How one model's requests merge into one onnxruntime run and split back (for the dynamic
batcher, server/batching.py), read from the model's io and its legends (server/axes.py).

* Requests whose inputs have identical shapes (but the batch axis) concatenate on axis 0, and
  their outputs are split on axis 0 only.
* When the card says ``io.ragged_batching``, requests of different lengths merge too: each input's
  variable axes (shape -1, named in its legend) are padded with ``io.pad_id`` to the group's
  longest, and every output axis is cropped back to the request's own size: ``X`` or ``X + k``
  for an input axis X, and for a length no input has (a decoded length T) the request's own
  decoded length, read off its ids output (the columns up to its last non-[PAD] one).
* A model whose legends do not say how to pad or crop some variable axis is not ragged (same-shape
  merging only); the reason is logged once.

Each request gets its own rows; its outputs are those of running it alone."""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from server.axes import Axis, parse_legend
from server.runtime import LoadedModel
from taxonomy.card import TensorSpec

log = logging.getLogger("attentive.server")

Feeds = dict[str, np.ndarray]


@dataclass(frozen=True)
class Crop:
    """An output axis cut back per request: to an input size (``name`` + ``offset``, from the
    request's feeds) or, ``decoded``, to the request's decoded length ``name`` + ``offset``."""

    axis: int
    name: str
    offset: int = 0
    decoded: bool = False


def _axes(spec: TensorSpec) -> list[Axis] | None:
    return parse_legend(spec.legend, len(spec.shape))


class Layout:
    """A model's merging rules: which requests may share a run, how to merge, how to split."""

    def __init__(self, model: LoadedModel) -> None:
        graph_in = [a.name for a in model.session.get_inputs()]
        graph_out = [a.name for a in model.session.get_outputs()]
        specs_in = {t.name: t for t in model.inputs if t.name in graph_in}
        specs_out = {t.name: t for t in model.outputs if t.name in graph_out}
        card = model.entry.card
        self.model = model.name
        self.pad_id = card.io.pad_id if card is not None else None
        problems: list[str] = []
        # ---- inputs: the variable axes a ragged merge pads, by name ----
        self.padded: dict[str, list[tuple[int, str]]] = {}  # input -> [(axis, name)]
        sizes: set[str] = set()
        for name, spec in specs_in.items():
            variable = [axis for axis, d in enumerate(spec.shape) if d < 0 and axis > 0]
            if not variable:
                continue
            axes = _axes(spec)
            for axis in variable:
                got = axes[axis] if axes is not None else None
                if got is None or got.kind != "named" or got.offset:
                    problems.append(f"input '{name}' axis {axis} ({spec.legend!r})")
                    continue
                self.padded.setdefault(name, []).append((axis, got.name))
                sizes.add(got.name)
            if spec.datatype not in ("INT64", "INT32"):
                problems.append(f"input '{name}' is {spec.datatype}, padded only with pad_id")
        # ---- outputs: the axes cropped back per request ----
        self.crops: dict[str, list[Crop]] = {}
        decoded: dict[str, list[tuple[str, int]]] = {}  # length name -> [(INT64 output, axis)]
        for name, spec in specs_out.items():
            axes = _axes(spec)
            for axis, dim in enumerate(spec.shape):
                if axis == 0 or dim >= 0:
                    continue
                got = axes[axis] if axes is not None else None
                if got is None or got.kind == "batch":
                    problems.append(f"output '{name}' axis {axis} ({spec.legend!r})")
                elif got.kind == "named":
                    crop = Crop(axis, got.name, got.offset, decoded=got.name not in sizes)
                    self.crops.setdefault(name, []).append(crop)
                    if crop.decoded and spec.datatype == "INT64" and not got.offset:
                        decoded.setdefault(got.name, []).append((name, axis))
        # A decoded length is read off its ids output: the text output's, else the first INT64.
        text_ids = {t.ids_output for t in card.io.text_outputs} if card is not None else set()
        self.ids: dict[str, tuple[str, int]] = {}  # decoded length name -> (ids output, axis)
        for length, holders in decoded.items():
            named = [h for h in holders if h[0] in text_ids]
            self.ids[length] = (named or holders)[0]
        for name, crops in self.crops.items():
            for crop in crops:
                if crop.decoded and (crop.name not in self.ids or self.pad_id is None):
                    problems.append(
                        f"output '{name}' axis {crop.axis}: length {crop.name} is no input's "
                        "and no INT64 output gives it"
                    )
        if self.pad_id is None:
            problems.append("the card has no pad_id")
        self.problems = problems  # why requests of different lengths could not share a run
        wanted = bool(card is not None and card.io.ragged_batching)
        self.ragged = wanted and not problems
        if wanted and problems:
            log.warning(
                "model %s: ragged_batching, but its legends do not say how to pad or crop %s; "
                "only requests of identical shapes are batched together",
                model.name,
                "; ".join(problems),
            )
        if not self.ragged:
            # Requests of identical shapes: the card promises nothing about lengths that depend
            # on a run's contents, so outputs come back as the run made them (no crop).
            self.crops, self.ids = {}, {}

    # ---- grouping ----

    def key(self, feeds: Feeds) -> Hashable | None:
        """Requests with equal keys may share a run; None: this one runs alone."""
        rows = {int(a.shape[0]) for a in feeds.values() if a.ndim}
        if len(rows) != 1 or any(a.ndim == 0 for a in feeds.values()):
            return None
        parts = []
        for name in sorted(feeds):
            array = feeds[name]
            shape = list(array.shape[1:])
            if self.ragged:
                for axis, _ in self.padded.get(name, []):
                    shape[axis - 1] = -1
            parts.append((name, array.dtype.str, tuple(shape)))
        return tuple(parts)

    @staticmethod
    def rows(feeds: Feeds) -> int:
        return int(next(iter(feeds.values())).shape[0])

    def needed(self, outputs: Sequence[str]) -> list[str]:
        """``outputs`` plus the ids outputs their decoded lengths are read off."""
        extra = [
            self.ids[c.name][0] for name in outputs for c in self.crops.get(name, []) if c.decoded
        ]
        return list(dict.fromkeys([*outputs, *extra]))

    # ---- merge and split ----

    def merge(self, members: Sequence[Feeds]) -> Feeds:
        """One feed per input: the members' rows in order (padded with pad_id when ragged)."""
        merged: Feeds = {}
        for name in members[0]:
            arrays = [m[name] for m in members]
            shapes = {a.shape[1:] for a in arrays}
            if len(shapes) == 1:
                merged[name] = np.concatenate(arrays, axis=0)
                continue
            widest = tuple(max(s) for s in zip(*(a.shape[1:] for a in arrays), strict=True))
            rows = sum(int(a.shape[0]) for a in arrays)
            out = np.full((rows, *widest), self.pad_id, dtype=arrays[0].dtype)
            at = 0
            for a in arrays:
                out[(slice(at, at + a.shape[0]), *(slice(0, d) for d in a.shape[1:]))] = a
                at += int(a.shape[0])
            merged[name] = out
        return merged

    def sizes(self, feeds: Feeds) -> dict[str, int]:
        """The request's own size of every named input axis."""
        own: dict[str, int] = {}
        for name, axes in self.padded.items():
            if name in feeds:
                for axis, size in axes:
                    own.setdefault(size, int(feeds[name].shape[axis]))
        return own

    def split(self, results: Feeds, members: Sequence[Feeds]) -> list[Feeds]:
        """Each member's rows of ``results``, cropped back to its own sizes."""
        out: list[Feeds] = []
        at = 0
        for feeds in members:
            rows = self.rows(feeds)
            own = {name: array[at : at + rows] for name, array in results.items()}
            lengths = self.sizes(feeds)
            for length, (ids, axis) in self.ids.items():
                if ids in own:
                    lengths[length] = self._decoded(own[ids], axis)
            for name, array in own.items():
                cut = [slice(None)] * array.ndim
                for crop in self.crops.get(name, []):
                    if crop.name in lengths:
                        cut[crop.axis] = slice(0, max(0, lengths[crop.name] + crop.offset))
                own[name] = array[tuple(cut)]
            out.append(own)
            at += rows
        return out

    def _decoded(self, ids: np.ndarray, axis: int) -> int:
        """Columns up to and including the last one where some row is not [PAD] (at least 1)."""
        other = tuple(a for a in range(ids.ndim) if a != axis)
        used = np.flatnonzero((ids != self.pad_id).any(axis=other))
        return int(used[-1]) + 1 if used.size else 1
