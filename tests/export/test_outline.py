"""Outlining: a non-standard mechanism becomes one named ONNX local function."""

import numpy as np
import onnx
import torch
from torch import Tensor, nn
from torch._higher_order_ops import while_loop
from torch.export import Dim

from export.onnx import to_onnx
from export.outline import count_ops
from export.parity import check, session
from taxonomy.axes import Positions, Sequences
from taxonomy.card import Facets, ModelIO, TensorSpec
from training.attention.base import AttentionCore, AttentionLayer, Mechanism, exporting
from training.attention.owned import OwnedWeightsCore
from training.spec import ExportSpec


def cosine(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, *, sharpness: float) -> tuple:
    scores = sharpness * nn.functional.cosine_similarity(q[:, :, None], k[:, None], dim=-1)
    w = torch.softmax(scores, dim=-1)  # (B, L, S)
    return w @ v, w


TOY = Mechanism(
    name="toy_cosine",
    fn=cosine,
    score="cos(q, k)",
    facets=Facets(positions=frozenset({Positions.SOFT})),
    onnx="ToyCosine",
)


class Layer(AttentionLayer):
    def __init__(self, sharpness: float) -> None:
        super().__init__(TOY, Sequences.SELF, "token", "tokens")
        self.proj = nn.Linear(4, 4)
        self.core = AttentionCore(TOY, sharpness=sharpness)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.proj(x)
        return self.core(h, h, h, None)


class Net(nn.Module):
    def __init__(self, sharpness: tuple[float, float, float]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(Layer(s) for s in sharpness)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        w = x
        for layer in self.layers:
            x, w = layer(x)
        return x, w


def _spec(net: nn.Module) -> ExportSpec:
    x = torch.randn(2, 5, 4)
    return ExportSpec(
        module=net.eval(),
        args=(x,),
        input_names=["x"],
        output_names=["y", "weights"],
        dynamic_shapes={"x": {0: Dim("b"), 1: Dim("l", min=2)}},
        io=ModelIO(
            max_batch_size=0,
            inputs=[TensorSpec(name="x", datatype="FP32", shape=[-1, -1, 4])],
            outputs=[],
        ),
        examples=[],
        parity_inputs=[(x,), (torch.randn(1, 9, 4),)],
    )


def test_mechanism_becomes_one_named_function_per_layer() -> None:
    torch.manual_seed(0)
    spec = _spec(Net((1.0, 1.0, 3.0)))
    exported = to_onnx(spec)
    ops = count_ops(exported.model.graph)
    assert ops["ai.attentive::ToyCosine"] == 3
    assert "Softmax" not in ops  # the softmax lives inside the functions only
    names = {(f.domain, f.name) for f in exported.model.functions}
    assert names == {("ai.attentive", "ToyCosine")}
    # identical bodies share one function; the last (other constant, weights used) overloads it
    assert len(exported.model.functions) == 2
    assert exported.attention_ops == {"ai.attentive::ToyCosine": 3}
    assert [layer.onnx for layer in exported.layers] == ["ai.attentive::ToyCosine"] * 3
    onnx.checker.check_model(exported.model, full_check=True)
    result = check(exported.model, spec)
    assert result.max_abs_diff < 1e-5


def test_outlined_graph_runs_on_new_shapes() -> None:
    torch.manual_seed(1)
    spec = _spec(Net((2.0, 2.0, 2.0)))
    exported = to_onnx(spec)
    x = torch.randn(3, 11, 4)
    y, w = session(exported.model).run(None, {"x": x.numpy()})
    ref_y, ref_w = spec.module(x)
    assert np.allclose(y, ref_y.detach().numpy(), atol=1e-5)
    assert np.allclose(w, ref_w.detach().numpy(), atol=1e-5)


# --- inside a Loop body: the exporter records no module path there; the core marks itself ---


def loop_toy(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, *, scale: Tensor) -> tuple:
    w = torch.softmax(torch.bmm(q * scale, k.transpose(1, 2)), dim=-1)  # (B, 1, S)
    return torch.bmm(w, v), w


LOOP_TOY = Mechanism(
    name="toy_loop",
    fn=loop_toy,
    score="scale · qᵀk",
    facets=Facets(positions=frozenset({Positions.SOFT})),
    onnx="ToyLoop",
)


class LoopLayer(AttentionLayer):
    def __init__(self) -> None:
        super().__init__(LOOP_TOY, Sequences.DISTINCTIVE, "state", "inputs")
        self.proj = nn.Linear(4, 4)
        self.core = OwnedWeightsCore(LOOP_TOY, {"scale": torch.full((4,), 0.5)})


class Recurrent(nn.Module):
    """A state that attends over x at every step of a while_loop (like a greedy decoder)."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = LoopLayer()

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        B, S, _ = x.shape
        keys = self.layer.proj(x)  # (B, S, 4)
        state, rows = x.mean(1), torch.zeros(B, S, S)  # (B, 4), (B, S steps, S)
        step = torch.zeros((), dtype=torch.long)

        def cond(step: Tensor, state: Tensor, rows: Tensor) -> Tensor:
            return step < S

        def body(step: Tensor, state: Tensor, rows: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            out, w = self.layer.core(state.unsqueeze(1), keys, x, None)  # (B, 1, 4), (B, 1, S)
            rows = rows.index_copy(1, step.reshape(1), w)
            return step + 1, torch.tanh(out.squeeze(1) + state), rows.clone()

        if exporting():
            _, state, rows = while_loop(cond, body, (step, state, rows))
        else:
            carried = (step, state, rows)
            while bool(cond(*carried)):
                carried = body(*carried)
            _, state, rows = carried
        return state, rows


def test_mechanism_inside_a_loop_body_becomes_the_named_function() -> None:
    torch.manual_seed(2)
    net = Recurrent().eval()
    x = torch.randn(2, 5, 4)
    spec = ExportSpec(
        module=net,
        args=(x,),
        input_names=["x"],
        output_names=["state", "weights"],
        dynamic_shapes={"x": {0: Dim("b", min=1, max=64), 1: Dim("l", min=2, max=64)}},
        io=ModelIO(max_batch_size=0, inputs=[], outputs=[]),
        examples=[],
        parity_inputs=[(x,), (torch.randn(3, 8, 4),)],
    )
    exported = to_onnx(spec)
    ops = count_ops(exported.model.graph)
    assert ops["Loop"] == 1 and ops["ai.attentive::ToyLoop"] == 1
    assert "Softmax" not in ops and not any("boundary" in op for op in ops)
    (fn,) = exported.model.functions
    assert fn.name == "ToyLoop" and "Softmax" in {n.op_type for n in fn.node}
    assert len(fn.input) == len(set(fn.input))  # keys and values are one tensor: one input
    assert exported.attention_ops == {"ai.attentive::ToyLoop": 1}
    assert check(exported.model, spec).max_abs_diff < 1e-5
