"""Column -> input mapping from a card's io, and rows -> request tensors (padding, grouping)."""

from __future__ import annotations

import numpy as np
import pytest

from attentive.batch import plan
from taxonomy.card import ModelIO, TensorSpec, TextInput, TextOutput

TEXT = ModelIO(
    max_batch_size=4,
    inputs=[TensorSpec(name="source_ids", datatype="INT64", shape=[-1, -1], vocab_size=20)],
    outputs=[
        TensorSpec(name="output_ids", datatype="INT64", shape=[-1, -1]),
        TensorSpec(name="cross_attention", datatype="FP32", shape=[-1, -1, -1]),
    ],
    text_inputs=[
        TextInput(name="source_text", ids_input="source_ids", tokenizer="t.json", max_length=8)
    ],  # fmt: skip
    text_outputs=[TextOutput(name="output_text", ids_output="output_ids", tokenizer="t.json")],
    pad_id=0,
)
GRAPH = ModelIO(
    max_batch_size=0,
    inputs=[
        TensorSpec(name="node_features", datatype="FP32", shape=[-1, 3]),
        TensorSpec(name="edge_index", datatype="INT64", shape=[2, -1]),
    ],
    outputs=[
        TensorSpec(name="logits", datatype="FP32", shape=[-1, 2]),
        TensorSpec(name="edge_attention", datatype="FP32", shape=[1, -1]),
    ],
)


def test_text_model_takes_the_only_column_as_text() -> None:
    p = plan.make("t", TEXT, ["id", "sentence"])
    assert p.slots == (plan.Slot("sentence", "source_text", "BYTES", (), text=True),)
    assert p.id_column == "id"
    assert [o.name for o in p.outputs] == ["output_text"]  # ids hidden, attention left out
    assert p.outputs[0] == plan.Output("output_text", "BYTES", 0)
    with_attention = plan.make("t", TEXT, ["sentence"], attention=True)
    assert [o.name for o in with_attention.outputs] == ["output_text", "cross_attention"]
    assert with_attention.outputs[1].rank == 2 and with_attention.id_column is None


def test_columns_named_like_inputs_win_and_ids_columns_pad() -> None:
    p = plan.make("t", TEXT, ["note", "source_ids"])
    assert p.slots == (plan.Slot("source_ids", "source_ids", "INT64", (-1,), pad=0),)
    p = plan.make("t", TEXT, ["note", "x"], explicit={"x": "source_ids"})
    assert p.slots[0].column == "x"
    with pytest.raises(plan.PlanError, match="source_text \\(or source_ids\\).*note, x"):
        plan.make("t", TEXT, ["note", "x"])
    with pytest.raises(plan.PlanError, match="no input 'nope'"):
        plan.make("t", TEXT, ["x"], explicit={"x": "nope"})
    with pytest.raises(plan.PlanError, match="no output"):
        plan.make("t", TEXT, ["x"], outputs=["logits"])


def test_graph_model_maps_by_name_and_sends_rows_alone() -> None:
    p = plan.make("g", GRAPH, ["edge_index", "node_features"], attention=True)
    assert [(s.column, s.shape) for s in p.slots] == [("node_features", (-1, 3)), ("edge_index", (2, -1))]  # fmt: skip
    rows = [
        plan.row_arrays(p, {"node_features": [[0, 1, 2]] * n, "edge_index": [[0] * n, [0] * n]})
        for n in (2, 3)
    ]
    assert plan.groups(p, rows) == [[0], [1]]
    request = plan.stack(p, rows[1:])
    assert request["node_features"].shape == (3, 3) and request["node_features"].dtype == np.float32
    result = {"logits": np.ones((3, 2), np.float32), "edge_attention": np.zeros((1, 3), np.float32)}
    assert plan.result_values(p, result, 1) == [
        {"logits": [[1.0, 1.0]] * 3, "edge_attention": [[0.0, 0.0, 0.0]]}
    ]
    with pytest.raises(plan.RowError, match="takes \\[-1, 3\\]"):
        plan.row_arrays(p, {"node_features": [[0, 1]], "edge_index": [[0], [0]]})


def test_ids_rows_are_padded_and_batches_split_at_max_batch_size() -> None:
    p = plan.make("t", TEXT, ["source_ids"])
    rows = [plan.row_arrays(p, {"source_ids": ids}) for ids in ([1, 2], [1, 2, 3, 4], [5], [6], [7])]  # fmt: skip
    assert plan.groups(p, rows) == [[0, 1, 2, 3], [4]]
    stacked = plan.stack(p, rows[:3])["source_ids"]
    assert stacked.tolist() == [[1, 2, 0, 0], [1, 2, 3, 4], [5, 0, 0, 0]]
    csv_cell = plan.row_arrays(p, {"source_ids": "[3, 4]"})  # CSV holds tensors as JSON
    assert csv_cell["source_ids"].tolist() == [3, 4]


def test_text_rows_and_text_results() -> None:
    p = plan.make("t", TEXT, ["text"])
    rows = [plan.row_arrays(p, {"text": t}) for t in ("a cat", "ein Hund")]
    assert plan.stack(p, rows)["source_text"].tolist() == [b"a cat", b"ein Hund"]
    with pytest.raises(plan.RowError, match="empty"):
        plan.row_arrays(p, {"text": ""})
    with pytest.raises(plan.RowError, match="expected text"):
        plan.row_arrays(p, {"text": 3})
    texts = np.array([b"eine katze", "\u00fcber".encode()], dtype=object)
    assert plan.result_values(p, {"output_text": texts}, 2) == [
        {"output_text": "eine katze"},
        {"output_text": "\u00fcber"},
    ]
