"""A small hand-made model (onnx.helper, no torch) that pads exactly, for the dynamic batcher's
tests: its card says ``ragged_batching`` so requests of different lengths share runs.

``ids`` (B, L) INT64, [PAD] = 0. Outputs (legends as the card gives them):

* ``weights`` (B, L): a masked softmax of a per-token score (0 on [PAD]);
* ``pooled`` (B, D): the embeddings averaged with those weights;
* ``shifted`` (B, L + 1): a zero column, then ``weights`` (an axis ``name + k``);
* ``decoded_ids`` (B, T) INT64: (id % 7) + 1 per token, [PAD] after the row's tokens (a length
  no input has: cropped to the request's last non-[PAD] column);
* ``decoded_scores`` (B, T): half of ``decoded_ids``, cropped alongside it.

The embedding lookups have no vocabulary bound in the card, so an id >= VOCAB passes the server's
checks and onnxruntime rejects it (nodes ``ids_embedding``, ``ids_score``): a request that fails only inside a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from taxonomy.card import (
    AttentionLayer,
    Example,
    ExampleTensor,
    Facets,
    ModelCard,
    ModelIO,
    Tags,
    TensorSpec,
)
from tests.server.fake_repository import _citation, _opset, _save

VOCAB = 16
DIM = 3
OUTPUTS = ["weights", "pooled", "shifted", "decoded_ids", "decoded_scores"]


def _tables() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    embedding = rng.standard_normal((VOCAB, DIM)).astype(np.float32)
    score = rng.standard_normal(VOCAB).astype(np.float32)
    return embedding, score


def reference(ids: np.ndarray) -> dict[str, np.ndarray]:
    """The outputs in numpy for a request (B, L) run alone (its own width)."""
    embedding, score = _tables()
    keep = ids != 0
    scores = np.where(keep, score[ids], -np.inf)
    weights = np.exp(scores - scores.max(1, keepdims=True))
    weights = (weights / weights.sum(1, keepdims=True)).astype(np.float32)
    pooled = (embedding[ids] * weights[..., None]).sum(1)
    decoded = np.where(keep, ids % 7 + 1, 0).astype(np.int64)
    used = np.flatnonzero(keep.any(0))
    width = int(used[-1]) + 1 if used.size else 1
    return {
        "weights": weights,
        "pooled": pooled.astype(np.float32),
        "shifted": np.pad(weights, ((0, 0), (1, 0))),
        "decoded_ids": decoded[:, :width],
        "decoded_scores": (decoded[:, :width] * 0.5).astype(np.float32),
    }


def _graph() -> helper.GraphProto:
    embedding, score = _tables()
    nodes = [
        helper.make_node("Gather", ["embedding", "ids"], ["emb"], axis=0, name="ids_embedding"),
        helper.make_node("Gather", ["score", "ids"], ["raw"], axis=0, name="ids_score"),
        helper.make_node("Equal", ["ids", "pad"], ["is_pad"]),
        helper.make_node("Not", ["is_pad"], ["keep"]),
        helper.make_node("Where", ["keep", "raw", "minus_inf"], ["masked"]),
        helper.make_node("Softmax", ["masked"], ["weights"], axis=-1),
        helper.make_node("Unsqueeze", ["weights", "ax2"], ["w3"]),
        helper.make_node("Mul", ["emb", "w3"], ["weighted"]),
        helper.make_node("ReduceSum", ["weighted", "ax1"], ["pooled"], keepdims=0),
        helper.make_node("Pad", ["weights", "pads"], ["shifted"]),
        helper.make_node("Mod", ["ids", "seven"], ["mod"]),
        helper.make_node("Add", ["mod", "one"], ["code"]),
        helper.make_node("Where", ["keep", "code", "pad"], ["decoded_ids"]),
        helper.make_node("Cast", ["decoded_ids"], ["decoded_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["decoded_f", "half"], ["decoded_scores"]),
    ]
    f, i = TensorProto.FLOAT, TensorProto.INT64
    return helper.make_graph(
        nodes,
        "ragged_pool",
        [helper.make_tensor_value_info("ids", i, ["B", "L"])],
        [
            helper.make_tensor_value_info("weights", f, ["B", "L"]),
            helper.make_tensor_value_info("pooled", f, ["B", DIM]),
            helper.make_tensor_value_info("shifted", f, ["B", "L1"]),
            helper.make_tensor_value_info("decoded_ids", i, ["B", "L"]),
            helper.make_tensor_value_info("decoded_scores", f, ["B", "L"]),
        ],
        [
            numpy_helper.from_array(embedding, "embedding"),
            numpy_helper.from_array(score, "score"),
            numpy_helper.from_array(np.array(0, np.int64), "pad"),
            numpy_helper.from_array(np.array(-np.inf, np.float32), "minus_inf"),
            numpy_helper.from_array(np.array([1], np.int64), "ax1"),
            numpy_helper.from_array(np.array([2], np.int64), "ax2"),
            numpy_helper.from_array(np.array([0, 1, 0, 0], np.int64), "pads"),
            numpy_helper.from_array(np.array(7, np.int64), "seven"),
            numpy_helper.from_array(np.array(1, np.int64), "one"),
            numpy_helper.from_array(np.array(0.5, np.float32), "half"),
        ],
    )


def ragged_model(
    folder: Path,
    *,
    max_batch_size: int = 8,
    preferred: tuple[int, ...] = (4, 8),
    delay_us: int = 2000,
    instances: int | None = 1,
    ragged: bool = True,
) -> None:
    """Write the model, its config.pbtxt (dynamic batching as given) and its card."""
    from onnx import helper as h

    folder.mkdir(parents=True, exist_ok=True)
    _save(h.make_model(_graph(), opset_imports=_opset()), folder)
    sizes = ", ".join(map(str, preferred))
    (folder / "config.pbtxt").write_text(
        f'name: "{folder.name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: {max_batch_size}\n'
        f"dynamic_batching {{ preferred_batch_size: [{sizes}] "
        f"max_queue_delay_microseconds: {delay_us} }}\n"
        + (f"instance_group [{{ kind: KIND_CPU count: {instances} }}]\n" if instances else "")
    )
    spec = TensorSpec.model_validate
    card = ModelCard(
        name=folder.name,
        title="Masked attention pooling over padded ids",
        citation=_citation(),
        task="classification",
        dataset="toy",
        tags=Tags.model_validate(
            {
                "sequences": ["self"],
                "levels": ["single-level"],
                "positions": ["soft"],
                "representations": ["single"],
                "architecture": ["network-without-rnns"],
            }
        ),
        layers=[
            AttentionLayer(
                path="pool",
                mechanism="masked_softmax",
                score="s[x]",
                query_from="learned",
                keys_from="tokens",
                onnx="Softmax",
                facets=Facets.model_validate({"sequences": ["self"]}),
            )
        ],
        io=ModelIO(
            max_batch_size=max_batch_size,
            inputs=[
                spec({"name": "ids", "datatype": "INT64", "shape": [-1, -1], "legend": "(B, L)"})
            ],
            outputs=[
                spec(
                    {"name": "weights", "datatype": "FP32", "shape": [-1, -1], "legend": "(B, L)"}
                ),
                spec(
                    {"name": "pooled", "datatype": "FP32", "shape": [-1, DIM], "legend": "(B, D)"}
                ),
                spec(
                    {
                        "name": "shifted",
                        "datatype": "FP32",
                        "shape": [-1, -1],
                        "legend": "(B, L + 1): a zero column, then weights",
                    }
                ),
                spec(
                    {
                        "name": "decoded_ids",
                        "datatype": "INT64",
                        "shape": [-1, -1],
                        "legend": "(B, T): decoded ids, [PAD] after the end",
                    }
                ),
                spec(
                    {
                        "name": "decoded_scores",
                        "datatype": "FP32",
                        "shape": [-1, -1],
                        "legend": "(B, T)",
                    }
                ),
            ],
            pad_id=0,
            ragged_batching=ragged,
        ),
        examples=[
            Example(
                name="ids",
                inputs=[
                    ExampleTensor(name="ids", datatype="INT64", shape=[1, 4], data=[3, 5, 9, 2])
                ],
            )
        ],
    )
    (folder / "card.json").write_text(card.to_json())
