"""Ragged batching (``ModelIO.ragged_batching``, issue 8): for every model that claims it, requests
of different lengths padded with [PAD] into one onnxruntime run and cropped back as the card's
contract says give exactly what each request gives alone (ids identical, floats within 1e-5),
and what the crop throws away is padding ([PAD] ids, 0 attention). The set of models that claim
it is pinned, so a model silently dropping the claim fails here.

The crop (the contract the server's batcher follows, taxonomy/card.py): every output axis of
variable size (-1 in the card's shape) is named by the output's legend; ``X`` or ``X + k`` with
X an axis an input's legend names -> the request's own X (+ k); any other name (the decoded
length T) -> the request's decoded length, up to and including the last column where its ids
output is not pad_id.

Legend: B batch, N requests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from server.axes import Axis, parse_legend
from taxonomy.card import ModelCard, TensorSpec
from training import registry

TRANSLATION = [
    "transformer",
    "rnnsearch",
    "luong-dot",
    "luong-general",
    "luong-concat",
    "luong-location",
    "luong-local-m",
    "luong-local-p",
    "seq2seq",
]
DOCUMENTS = ["han", "lin", "disan"]
PAIRS = ["bcnn", "abcnn-1", "abcnn-2", "abcnn-3", "mpcnn-attention", "dme"]
RAGGED = sorted([*TRANSLATION, *DOCUMENTS, *PAIRS, "memn2n"])
# gat: one graph per request (no batch axis); sat: fixed-size images in and fixed-size outputs,
# nothing to pad (requests of one shape already batch together).
NOT_RAGGED = ["gat", "sat-hard", "sat-soft"]


def axes(spec: TensorSpec) -> list[Axis]:
    """The named axes of a card tensor's legend (the server's parser, server/axes.py)."""
    parsed = parse_legend(spec.legend, len(spec.shape))
    assert parsed is not None, f"{spec.name}: legend {spec.legend!r} does not name its axes"
    return parsed


def decoded_length(ids: np.ndarray, pad: int) -> int:
    """Columns up to and including the last one where any row is not [PAD]: (B, T) -> int."""
    used = np.flatnonzero((ids != pad).any(0))
    return int(used[-1]) + 1 if used.size else 0


def crop(card: ModelCard, outputs: dict[str, np.ndarray], sizes: dict[str, int]) -> tuple:
    """One request's rows of a padded run -> (its outputs cropped per the contract, the masks
    of what was kept). ``sizes``: the request's own size of every input axis name."""
    pad = card.io.pad_id
    assert pad is not None
    cropped, kept = {}, {}
    for spec in card.io.outputs:
        value = outputs[spec.name]
        index: list[slice] = [slice(None)]
        for axis, size in zip(axes(spec)[1:], spec.shape[1:], strict=True):
            if size != -1:  # fixed by the model
                index.append(slice(None))
                continue
            assert axis.kind == "named", f"{spec.name}: variable axis {axis} has no name"
            if axis.name in sizes:
                index.append(slice(0, sizes[axis.name] + axis.offset))
                continue
            ids = [  # the decoded length, read off the ids output holding that axis
                o
                for o in card.io.outputs
                if o.datatype == "INT64" and axis.name in [a.name for a in axes(o)]
            ]
            assert ids, f"{spec.name}: {axis} is no input's axis and no ids output's"
            index.append(slice(0, decoded_length(outputs[ids[0].name], pad)))
        cropped[spec.name] = value[tuple(index)]
        kept[spec.name] = np.zeros(value.shape, dtype=bool)
        kept[spec.name][tuple(index)] = True
    return cropped, kept


def requests(card: ModelCard, rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    """Three requests of one row, their variable input axes of different lengths: the card's
    example, its first half, and random ids longer than it (never [PAD])."""
    (example,) = [
        e for e in card.examples if {t.name for t in e.inputs} == {t.name for t in card.io.inputs}
    ]
    given = {t.name: list(t.data) for t in example.inputs}
    out: list[dict[str, np.ndarray]] = [{} for _ in range(3)]
    for spec in card.io.inputs:
        assert spec.shape == [-1, -1] and spec.datatype == "INT64" and spec.vocab_size
        ids = given[spec.name]
        limit = spec.max_shape[1] if spec.max_shape and spec.max_shape[1] > 0 else 10**6
        longer = min(len(ids) + 5, limit)
        choices = [i for i in range(spec.vocab_size) if i != card.io.pad_id]
        rows = [ids, ids[: max(2, len(ids) // 2)], list(rng.choice(choices, longer))]
        for request, row in zip(out, rows, strict=True):
            request[spec.name] = np.asarray([row], dtype=np.int64)  # (1, own length)
    return out


def pad_together(batch: list[dict[str, np.ndarray]], pad: int) -> dict[str, np.ndarray]:
    """One feed of N requests: each input padded with [PAD] to the longest -> (N, longest)."""
    feed = {}
    for name in batch[0]:
        width = max(r[name].shape[1] for r in batch)
        padded = np.full((len(batch), width), pad, dtype=np.int64)
        for i, r in enumerate(batch):
            padded[i, : r[name].shape[1]] = r[name][0]
        feed[name] = padded
    return feed


def test_the_models_that_batch_ragged_are_the_claimed_ones(tiny_zoo: Path) -> None:
    assert sorted([*RAGGED, *NOT_RAGGED]) == sorted(registry.names())
    claimed = {
        name
        for name in registry.names()
        if ModelCard.load(tiny_zoo / name / "card.json").io.ragged_batching
    }
    assert claimed == set(RAGGED)


@pytest.mark.parametrize("name", RAGGED)
def test_padded_batch_cropped_equals_each_request_alone(tiny_zoo: Path, name: str) -> None:
    card = ModelCard.load(tiny_zoo / name / "card.json")
    assert card.io.ragged_batching and card.io.pad_id is not None
    session = ort.InferenceSession(
        str(tiny_zoo / name / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in card.io.outputs]
    batch = requests(card, np.random.default_rng(0))
    together = dict(
        zip(names, session.run(names, pad_together(batch, card.io.pad_id)), strict=True)
    )
    for i, request in enumerate(batch):
        alone = dict(zip(names, session.run(names, request), strict=True))
        sizes = {
            axis.name: request[spec.name].shape[k]
            for spec in card.io.inputs
            for k, axis in enumerate(axes(spec))
            if k > 0
        }
        mine = {n: together[n][i : i + 1] for n in names}
        cropped, kept = crop(card, mine, sizes)
        for spec in card.io.outputs:
            got, want = cropped[spec.name], alone[spec.name]
            assert got.shape == want.shape, (name, i, spec.name)
            dropped = mine[spec.name][~kept[spec.name]]
            if spec.datatype == "INT64":
                assert np.array_equal(got, want), (name, i, spec.name)
                assert np.all(dropped == card.io.pad_id), (name, i, spec.name)
            else:
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-5, err_msg=f"{name} {i}")
                assert np.all(dropped == 0), (name, i, spec.name)  # padding gets exactly 0
        if name in TRANSLATION:  # alone: no [PAD] column after the decoded tokens
            ids = alone["output_ids"]
            assert decoded_length(ids, card.io.pad_id) == ids.shape[1] > 0
            assert card.training is not None
            assert ids.shape[1] <= sizes["S"] + card.training.config["extra_output_tokens"]
