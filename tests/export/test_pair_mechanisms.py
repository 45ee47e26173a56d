"""The sentence-pair mechanisms of the attention MPCNN and DME export as named ONNX local
functions (each called once per model: both sentences go through one call)
and onnxruntime computes what PyTorch computes, padding included, with dynamic lengths."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.export import Dim

from export.onnx import to_onnx
from export.outline import count_ops
from export.parity import check
from taxonomy.card import ModelIO
from training.attention.cosine_interaction import CosineInteraction
from training.attention.meta_embedding import MetaEmbedding
from training.spec import ExportSpec

DOMAIN = "ai.attentive"


class Interaction(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 4)
        self.attention = CosineInteraction()

    def forward(self, left: Tensor, right: Tensor) -> tuple[Tensor, ...]:
        left_keep, right_keep = left[..., 0] != 0, right[..., 0] != 0  # (B, L), (B, R)
        return self.attention(self.proj(left), self.proj(right), left_keep, right_keep)


class Meta(nn.Module):
    """Both sentences through one call (concatenated along the length), as the DME model does."""

    def __init__(self) -> None:
        super().__init__()
        self.attention = MetaEmbedding([4, 3], dim=5)

    def forward(self, left: Tensor, right: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        both = torch.cat([left, right], dim=1)  # (B, L + R, 4)
        keep = both[..., 0] != 0  # (B, L + R)
        meta, weights = self.attention([both, both[..., :3] * 2], keep)
        sizes = [left.shape[1], right.shape[1]]
        left_meta, right_meta = torch.split(meta, sizes, dim=1)
        left_weights, right_weights = torch.split(weights, sizes, dim=1)
        return left_meta, left_weights, right_meta, right_weights


def _pair(batch: int, left: int, right: int) -> tuple[Tensor, Tensor]:
    x, y = torch.randn(batch, left, 4), torch.randn(batch, right, 4)
    x[0, left - 1 :] = 0  # padding: the first row is one word shorter
    y[-1, right - 2 :] = 0
    return x, y


def _spec(module: nn.Module, outputs: list[str]) -> ExportSpec:
    args = _pair(3, 5, 6)
    return ExportSpec(
        module=module.eval(),
        args=args,
        input_names=["left", "right"],
        output_names=outputs,
        dynamic_shapes={
            "left": {0: Dim("batch"), 1: Dim("left_length", min=2)},
            "right": {0: Dim("batch"), 1: Dim("right_length", min=2)},
        },
        io=ModelIO(max_batch_size=0, inputs=[], outputs=[]),
        examples=[],
        parity_inputs=[args, _pair(2, 7, 3), _pair(1, 2, 9)],
        tolerance=1e-5,
    )


def test_cosine_interaction_is_one_named_function_with_parity() -> None:
    torch.manual_seed(0)
    spec = _spec(
        Interaction(), ["left_out", "right_out", "attention", "left_weights", "right_weights"]
    )
    exported = to_onnx(spec)
    ops = count_ops(exported.model.graph)
    assert ops[f"{DOMAIN}::CosineInteractionAttention"] == 1
    assert exported.attention_ops == {f"{DOMAIN}::CosineInteractionAttention": 1}
    assert {f.name for f in exported.model.functions} == {"CosineInteractionAttention"}
    assert check(exported.model, spec).max_abs_diff <= 1e-5
    assert [layer.onnx for layer in exported.layers] == [f"{DOMAIN}::CosineInteractionAttention"]


def test_meta_embedding_is_one_named_function_with_parity() -> None:
    torch.manual_seed(0)
    spec = _spec(Meta(), ["left_meta", "left_weights", "right_meta", "right_weights"])
    exported = to_onnx(spec)
    ops = count_ops(exported.model.graph)
    assert ops[f"{DOMAIN}::MetaEmbeddingAttention"] == 1
    assert {f.name for f in exported.model.functions} == {"MetaEmbeddingAttention"}
    assert check(exported.model, spec).max_abs_diff <= 1e-5
