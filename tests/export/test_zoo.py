"""Every model of the zoo, built with its tiny preset: the repository entry is what the
contract (docs/repository.md) says, and the exported graph computes what PyTorch computes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from google.protobuf import text_format

from export.outline import count_ops
from protos.gen.inference import model_config_pb2
from taxonomy.card import CARD_METADATA_KEY, ModelCard
from training import registry

TRITON_TYPES = {"INT64": "TYPE_INT64", "FP32": "TYPE_FP32", "BYTES": "TYPE_STRING"}


@pytest.fixture(scope="module", params=registry.names())
def entry(request: pytest.FixtureRequest, tiny_zoo: Path) -> Path:
    return tiny_zoo / request.param


def _graph_examples(card: ModelCard) -> list:
    graph_inputs = {t.name for t in card.io.inputs}
    return [e for e in card.examples if all(t.name in graph_inputs for t in e.inputs)]


def test_entry_has_triton_layout_and_one_file(entry: Path) -> None:
    assert (entry / "config.pbtxt").is_file()
    assert (entry / "card.json").is_file()
    assert (entry / "1" / "model.onnx").is_file()
    assert not list(entry.rglob("*.onnx.data")), "external data must not be written"


def test_card_in_onnx_metadata_equals_card_json(entry: Path) -> None:
    model = onnx.load(str(entry / "1" / "model.onnx"))
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props[CARD_METADATA_KEY]) == json.loads((entry / "card.json").read_text())
    assert model.opset_import[0].version == 23


def test_config_pbtxt_is_a_valid_triton_config_matching_the_card(entry: Path) -> None:
    config = text_format.Parse((entry / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    card = ModelCard.load(entry / "card.json")
    assert config.name == entry.name and config.platform == "onnxruntime_onnx"
    assert config.max_batch_size == card.io.max_batch_size
    batched = card.io.max_batch_size > 0
    for section, specs in ((config.input, card.io.inputs), (config.output, card.io.outputs)):
        assert [t.name for t in section] == [s.name for s in specs]
        for t, s in zip(section, specs, strict=True):
            assert list(t.dims) == (s.shape[1:] if batched else s.shape)
            assert model_config_pb2.DataType.Name(t.data_type) == TRITON_TYPES[s.datatype]
    assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_AUTO
    assert config.HasField("dynamic_batching") == batched


def test_onnx_io_matches_the_card(entry: Path) -> None:
    card = ModelCard.load(entry / "card.json")
    session = ort.InferenceSession(str(entry / "1" / "model.onnx"))
    assert [i.name for i in session.get_inputs()] == [t.name for t in card.io.inputs]
    assert [o.name for o in session.get_outputs()] == [t.name for t in card.io.outputs]
    for meta, spec in zip(session.get_outputs(), card.io.outputs, strict=True):
        assert len(meta.shape) == len(spec.shape)


def test_examples_run_and_parity_is_recorded(entry: Path) -> None:
    card = ModelCard.load(entry / "card.json")
    assert card.export is not None
    assert card.export.parity_max_abs_diff <= card.export.parity_tolerance
    examples = _graph_examples(card)
    assert examples, "every card needs an example that feeds the graph directly"
    session = ort.InferenceSession(str(entry / "1" / "model.onnx"))
    dtypes = {"INT64": np.int64, "FP32": np.float32}
    for example in examples:
        feeds = {
            t.name: np.asarray(t.data, dtype=dtypes[t.datatype]).reshape(t.shape)
            for t in example.inputs
        }
        outputs = session.run(None, feeds)
        for spec, value in zip(card.io.outputs, outputs, strict=True):
            assert value.ndim == len(spec.shape)
            if spec.datatype == "FP32":
                assert np.isfinite(value).all()


def test_metrics_come_from_the_held_out_split(entry: Path) -> None:
    card = ModelCard.load(entry / "card.json")
    assert card.metrics and all(m.split == "test" for m in card.metrics)
    assert card.training is not None and card.training.preset == "tiny"


def test_attention_ops_are_what_the_card_says(entry: Path) -> None:
    card = ModelCard.load(entry / "card.json")
    model = onnx.load(str(entry / "1" / "model.onnx"))
    ops = count_ops(model.graph)
    assert card.export is not None
    for op, n in card.export.attention_ops.items():
        assert ops[op] == n
    for layer in card.layers:
        assert layer.onnx in card.export.attention_ops
    functions = {f"{f.domain}::{f.name}" for f in model.functions}
    for op in card.export.attention_ops:
        if "::" in op:
            assert op in functions
