"""One scaled dot-product attention layer through export: the standard Attention op, with weights
that onnxruntime's CUDA kernel can give too (qk_matmul_output_mode 0, the softmax beside the op:
mode 3 fails there), equal to PyTorch's for key masks, causal masks and fully masked rows."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import Tensor, nn

from export.onnx import to_onnx
from taxonomy.axes import Sequences
from taxonomy.card import ModelIO
from training.attention.scaled_dot_product import MultiHeadAttention
from training.spec import ExportSpec


class Layer(nn.Module):
    def __init__(self, causal: bool) -> None:
        super().__init__()
        self.attn = MultiHeadAttention(16, 2, Sequences.SELF, "token", "tokens", causal=causal)

    def forward(self, x: Tensor, keep: Tensor) -> tuple[Tensor, Tensor]:
        B, L, _ = x.shape
        mask = keep[:, None, None, :].expand(B, 1, L, L)  # (B, 1, L, S), True = attend
        return self.attn(x, x, mask)


def _inputs(batch: int, length: int, seed: int) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, length, 16, generator=g)
    keep = torch.ones(batch, length, dtype=torch.bool)
    keep[0, length // 2 :] = False  # padding
    keep[-1, :] = False  # a row with nothing to attend to
    return x, keep


@pytest.mark.parametrize("causal", [False, True])
def test_attention_op_weights_equal_pytorch(causal: bool) -> None:
    torch.manual_seed(0)
    layer = Layer(causal).eval()
    batch, length = (
        torch.export.Dim("batch", min=2, max=64),
        torch.export.Dim("length", min=2, max=64),
    )
    spec = ExportSpec(
        module=layer,
        args=_inputs(3, 5, 0),
        input_names=["x", "keep"],
        output_names=["out", "weights"],
        dynamic_shapes={"x": {0: batch, 1: length}, "keep": {0: batch, 1: length}},
        io=ModelIO(max_batch_size=0, inputs=[], outputs=[]),
        examples=[],
        parity_inputs=[],
    )
    model = to_onnx(spec).model
    nodes = [n for n in model.graph.node if n.op_type == "Attention"]
    assert len(nodes) == 1
    modes = {a.name: a.i for a in nodes[0].attribute}
    assert modes.get("qk_matmul_output_mode", 0) == 0  # what the CUDA kernel supports
    assert modes.get("is_causal", 0) == int(causal)
    session = ort.InferenceSession(
        onnx.ModelProto.SerializeToString(model), providers=["CPUExecutionProvider"]
    )
    for batch, L, seed in [(3, 5, 1), (2, 9, 2)]:
        x, keep = _inputs(batch, L, seed)
        with torch.no_grad():
            want_out, want_w = layer(x, keep)
        out, weights = session.run(None, {"x": x.numpy(), "keep": keep.numpy()})
        np.testing.assert_allclose(weights, want_w.numpy(), atol=1e-6)
        np.testing.assert_allclose(out, want_out.numpy(), atol=1e-5)
        assert np.all(weights[-1] == 0)  # the fully masked row
        if causal:
            assert np.all(np.triu(weights[1], k=1) == 0)  # no query sees a later key
