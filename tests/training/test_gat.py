"""GAT on Cora: the tiny preset learns, and the exported graph computes what PyTorch computes
with the attention outlined into GraphAttention local functions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from attentive.settings import Settings
from training import registry
from training.config import with_overrides
from training.models import gat
from training.trainer import fit, seed_everything


@pytest.fixture(scope="module")
def tiny() -> gat.GATConfig:
    return with_overrides(gat.GATConfig(), gat.PRESETS["tiny"])


@pytest.fixture(scope="module")
def task(tiny: gat.GATConfig) -> gat.NodeClassification:
    return gat.make_task(tiny, Settings().data, Path("unused"))


def test_tiny_gat_learns_cora(tiny: gat.GATConfig, task: gat.NodeClassification) -> None:
    seed_everything(0)
    untrained = gat.build(tiny).eval()
    before = task.accuracy(task.logits(untrained), "test")
    seed_everything(0)
    model = gat.build(tiny)
    result = fit(model, task, tiny.train, progress=False)
    after = task.accuracy(task.logits(model), "test")
    # 7 classes, the largest ~30% of test nodes; tiny reaches ~0.73-0.76 in 40 epochs.
    assert after > 0.6, f"test accuracy {after:.3f} after {result.epochs} epochs"
    assert after > before + 0.2
    assert task.monitor in result.best


def test_forward_returns_logits_and_per_layer_edge_attention(
    tiny: gat.GATConfig, task: gat.NodeClassification
) -> None:
    model = gat.build(tiny).eval()
    logits, first, second = model(task.data.features, task.data.edge_index)
    E = task.data.edge_index.shape[1]
    assert logits.shape == (2708, 7)
    assert first.shape == (tiny.heads, E) and second.shape == (tiny.output_heads, E)


def test_export_parity_and_graph_attention_functions(
    tiny: gat.GATConfig, task: gat.NodeClassification, tmp_path: Path
) -> None:
    from export import onnx as onnx_export
    from export import parity

    seed_everything(0)
    model = gat.build(tiny).eval()
    spec = gat.export(model, tiny, task)
    exported = onnx_export.to_onnx(spec)
    check = parity.check(exported.model, spec)  # full Cora graph and the 5-node subgraph
    assert check.max_abs_diff < 1e-5
    graph = exported.model.graph
    top = [n.op_type for n in graph.node]
    assert top.count("GraphAttention") == 2
    assert "Softmax" not in top and not any(op.startswith("Scatter") for op in top)
    names = {(f.domain, f.name) for f in exported.model.functions}
    assert names == {("ai.attentive", "GraphAttention")}
    body = {n.op_type for f in exported.model.functions for n in f.node}
    # ScatterND(add) sums duplicate indices racily in onnxruntime's CPU kernel (> 1 thread).
    assert "ScatterElements" in body and "ScatterND" not in body
    assert not body & {"Dropout", "RandomUniformLike", "RandomUniform"}
    assert exported.attention_ops == {"ai.attentive::GraphAttention": 2}
    assert [layer.path for layer in exported.layers] == ["layers.0", "layers.1"]
    dims = [d.dim_param for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims[0] and graph.input[0].type.tensor_type.shape.dim[1].dim_value == 1433

    path = tmp_path / "gat.onnx"
    onnx.save_model(exported.model, str(path))
    (metric,) = gat.evaluate(path, tiny, task)
    with torch.no_grad():
        expected = task.accuracy(model(task.data.features, task.data.edge_index)[0], "test")
    assert (metric.name, metric.split, metric.paper) == ("accuracy", "test", 83.0)
    assert metric.value == pytest.approx(100 * expected, abs=0.01)

    # The card's example is a valid request; its attention sums to 1 per target node.
    (example,) = spec.examples
    feeds = {
        t.name: np.asarray(t.data, dtype=np.float32 if t.datatype == "FP32" else np.int64).reshape(
            t.shape
        )
        for t in example.inputs
    }
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits, first, second = session.run(None, feeds)
    n, e = feeds["node_features"].shape[0], feeds["edge_index"].shape[1]
    assert n == gat.EXAMPLE_NODES and logits.shape == (n, 7) and first.shape == (tiny.heads, e)
    sums = np.zeros((tiny.heads, n))
    np.add.at(sums, (slice(None), feeds["edge_index"][1]), first)
    assert np.allclose(sums, 1.0, atol=1e-5)
    assert second.shape == (1, e)


def test_registry_entry() -> None:
    spec = registry.get("gat")
    assert spec.card.citation.arxiv == "1710.10903" and spec.card.citation.year == 2018
    assert spec.card.structure.architecture == {"graph"}
    for preset in ("tiny", "quick", "full"):
        config = with_overrides(spec.config(), spec.presets[preset])
        assert isinstance(config, gat.GATConfig) and config.dataset == "cora"
    full = spec.config()
    assert (full.heads, full.hidden, full.output_heads) == (8, 8, 1)
    assert (full.train.lr, full.train.weight_decay, full.train.patience) == (0.005, 5e-4, 100)
