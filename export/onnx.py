"""torch -> ONNX (opset 23, dynamo exporter, one file) with attention kept visible.

Scaled dot-product attention is already one standard ``Attention`` node (the mechanism emits it
while exporting); every other mechanism's ``AttentionCore`` is outlined into a named local
function. Attention weights are graph outputs.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass

import onnx
import torch

from export.outline import count_ops, outline
from taxonomy.card import AttentionLayer as CardLayer
from training.attention.base import (
    ONNX_FUNCTION_DOMAIN,
    ONNX_STANDARD_ATTENTION,
    AttentionCore,
    AttentionLayer,
    onnx_export_mode,
)
from training.spec import ExportSpec

OPSET = 23


@dataclass
class Exported:
    model: onnx.ModelProto
    layers: list[CardLayer]
    attention_ops: dict[str, int]


def attention_layers(module: torch.nn.Module) -> list[CardLayer]:
    layers = []
    for path, sub in module.named_modules():
        if isinstance(sub, AttentionLayer):
            mech = sub.mechanism
            onnx_name = (
                ONNX_STANDARD_ATTENTION
                if mech.onnx == ONNX_STANDARD_ATTENTION
                else f"{ONNX_FUNCTION_DOMAIN}::{mech.onnx}"
            )
            layers.append(
                CardLayer(
                    path=path,
                    mechanism=mech.name,
                    score=mech.score,
                    query_from=sub.query_from,
                    keys_from=sub.keys_from,
                    onnx=onnx_name,
                    facets=sub.facets(),
                )
            )
    return layers


def _function_groups(module: torch.nn.Module) -> dict[str, str]:
    return {
        path: sub.mechanism.onnx
        for path, sub in module.named_modules()
        if isinstance(sub, AttentionCore) and sub.mechanism.onnx != ONNX_STANDARD_ATTENTION
    }


def _fix_declared_shapes(model: onnx.ModelProto) -> None:
    """Shape inference may declare a weights output's dimension as 0; name it instead."""
    for out in model.graph.output:
        for i, dim in enumerate(out.type.tensor_type.shape.dim):
            if dim.HasField("dim_value") and dim.dim_value == 0:
                dim.Clear()
                dim.dim_param = f"{out.name}_dim{i}"


def _drop_subgraph_value_info(graph: onnx.GraphProto) -> None:
    """Loop bodies: the exporter declares the *example's* sizes for values computed from tensors
    the loop body captures (the source length, say), and onnxruntime plans buffers by them, so
    any other size fails ("Shape mismatch attempting to re-use buffer"). The declarations are
    optional: drop them inside subgraphs, onnxruntime infers the shapes."""
    for node in graph.node:
        for attr in node.attribute:
            for g in [attr.g] if attr.type == onnx.AttributeProto.GRAPH else attr.graphs:
                del g.value_info[:]
                _drop_subgraph_value_info(g)


RECURRENT_OPS = frozenset({"Loop", "Scan", "LSTM", "GRU", "RNN"})


def _undeclare_loop_sizes(model: onnx.ModelProto, spec: ExportSpec) -> None:
    """Main graph with a recurrence (nn.LSTM / nn.GRU as ONNX LSTM / GRU over a dynamic length,
    a greedy-decoding Loop): the exporter declares the *example's* length for their outputs and
    everything computed from them, graph outputs included. onnxruntime plans buffer reuse by
    those declarations, and a wrong one failed at run time ("Shape mismatch attempting to re-use
    buffer": Lin et al.'s (B, r, L) weights shared the buffer of the (B, r, 2u) embedding when the
    example's L equalled 2u). Intermediate declarations are optional: drop them; a graph
    output's dimension that the card declares variable (-1) becomes a named dimension."""
    if not any(n.op_type in RECURRENT_OPS for n in model.graph.node):
        return
    del model.graph.value_info[:]
    declared = {t.name: t.shape for t in spec.io.outputs}
    for out in model.graph.output:
        wanted = declared.get(out.name, [])
        for i, (dim, want) in enumerate(zip(out.type.tensor_type.shape.dim, wanted, strict=False)):
            if want == -1 and dim.HasField("dim_value"):
                dim.Clear()
                dim.dim_param = f"{out.name}_dim{i}"


def to_onnx(spec: ExportSpec) -> Exported:
    module = spec.module.eval()
    # The exporter swaps in while_loop decompositions of nn.LSTM / nn.GRU for dynamic lengths,
    # but the ops' dispatch caches keep the kernel resolved by an earlier export: the second
    # recurrent model exported in one process was unrolled with its source length fixed to the
    # example's. Clearing the caches makes every export resolve the swapped-in kernel.
    for op in (torch.ops.aten.lstm.input, torch.ops.aten.gru.input):
        op._dispatch_cache.clear()
    with warnings.catch_warnings(), torch.no_grad(), onnx_export_mode():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module,
            spec.args,
            dynamo=True,
            opset_version=OPSET,
            input_names=spec.input_names,
            output_names=spec.output_names,
            dynamic_shapes=spec.dynamic_shapes,
            external_data=False,
            verbose=False,
        )
    assert program is not None
    model = program.model_proto
    counts = outline(model, _function_groups(module), ONNX_FUNCTION_DOMAIN)
    _fix_declared_shapes(model)
    _undeclare_loop_sizes(model, spec)
    _drop_subgraph_value_info(model.graph)
    onnx.checker.check_model(model, full_check=True)
    ops = count_ops(model.graph)
    attention: Counter[str] = Counter()
    if ops.get(ONNX_STANDARD_ATTENTION):
        attention[ONNX_STANDARD_ATTENTION] = ops[ONNX_STANDARD_ATTENTION]
    for name in counts:
        attention[f"{ONNX_FUNCTION_DOMAIN}::{name}"] = ops[f"{ONNX_FUNCTION_DOMAIN}::{name}"]
    return Exported(model, attention_layers(module), dict(attention))
