"""The Attention-op vs decomposed bench: the two exports compute the same thing, differ in the way
the bench claims (one `Attention` node at opset 23, MatMul/Softmax at opset 20), and run()
reports ratios consistent with its own timings."""

from __future__ import annotations

import statistics

import numpy as np
import onnxruntime as ort
import pytest
import torch

from benchmarks import attention_op
from benchmarks.attention_op import Args, exported, run, session


def _opset(model: object) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))  # type: ignore[attr-defined]


@pytest.mark.parametrize("causal", [False, True])
def test_exports_agree_and_differ_in_form(causal: bool) -> None:
    spec, models = exported("layer", causal, lean=False)  # the forms the run below reuses
    attention = models["attention"]
    assert _opset(attention) == 23
    assert [n.op_type for n in attention.graph.node].count("Attention") == 1
    assert _opset(models["decomposed"]) == 20
    assert "Attention" not in attention_op.op_types(models["decomposed"])
    assert {"MatMul", "Softmax"} <= attention_op.op_types(models["decomposed"])
    node = next(n for n in attention.graph.node if n.op_type == "Attention")
    is_causal = next((a.i for a in node.attribute if a.name == "is_causal"), 0)
    assert is_causal == int(causal)

    x = np.random.default_rng(3).standard_normal((3, 7, attention_op.D_MODEL), dtype=np.float32)
    args = Args(threads=1)
    ys = {f: session(m, args).run(None, {"x": x})[0] for f, m in models.items()}
    assert np.abs(ys["attention"] - ys["decomposed"]).max() <= 1e-5
    with torch.inference_mode():
        want = spec.module(torch.from_numpy(x)).numpy()
    assert np.abs(ys["attention"] - want).max() <= 1e-5
    if causal:  # the first position sees only itself: changing later ones must not move it
        x2 = x.copy()
        x2[:, 1:] += 1.0
        y2 = session(models["attention"], args).run(None, {"x": x2})[0]
        np.testing.assert_allclose(y2[:, 0], ys["attention"][:, 0], atol=1e-5)


def test_run_reports_consistent_ratios() -> None:
    results = run(
        Args(
            repeats=2,
            duration=0.05,
            batches=(2,),
            lengths=(8,),
            sections=("layer",),  # the Transformer's exports take longer than this test may
            profile=False,
            lean=False,
        )
    )
    assert results["environment"]["providers"] == ["CPUExecutionProvider"]
    assert [(r["section"], r["causal"]) for r in results["rows"]] == [
        ("layer", False),
        ("layer", True),
    ]
    assert results["layer"] == results["rows"] and "transformer" not in results
    for row in results["rows"]:
        assert len(row["runs"]) == 2
        ratios = [r["decomposed_ms"] / r["attention_ms"] for r in row["runs"]]
        assert row["ratio"] == pytest.approx(statistics.median(ratios))
        assert row["ratio_min"] <= row["ratio"] <= row["ratio_max"]
        assert row["attention_ms"] > 0 and row["decomposed_ms"] > 0 and row["torch_ms"] > 0
        assert row["max_abs_diff"] <= 1e-4
    assert [c["case"] for c in results["causal_cost"]] == ["B=2 L=8"]
    assert results["causal_cost"][0]["attention"] > 0
    assert "Attention" in results["graphs"]["layer"]["causal_attention"]
    assert "Attention" not in results["graphs"]["layer"]["causal_decomposed"]
    assert results["summary"]["ratio_median"] == pytest.approx(
        statistics.median(r["ratio"] for r in results["rows"])
    )
    table = attention_op.markdown(results)
    assert "| layer | B=2 L=8 | yes |" in table


def test_lean_form_is_pytorchs_decomposition_of_the_same_attention() -> None:
    """The third form (sdpa20): the core through F.scaled_dot_product_attention at opset 20."""
    spec, models = exported("core", True)
    lean = models[attention_op.LEAN]
    assert _opset(lean) == 20
    assert "Attention" not in attention_op.op_types(lean)
    assert {"MatMul", "Softmax", "Trilu"} <= attention_op.op_types(lean)
    rng = np.random.default_rng(4)
    qkv = [rng.standard_normal((2, attention_op.HEADS, 9, 64), dtype=np.float32) for _ in "qkv"]
    feeds = dict(zip("qkv", qkv, strict=True))
    args = Args(threads=1)
    ys = {f: session(m, args).run(None, feeds)[0] for f, m in models.items()}
    for form in ("decomposed", attention_op.LEAN):
        assert np.abs(ys["attention"] - ys[form]).max() <= 1e-5


def test_providers() -> None:
    assert attention_op.providers("cpu") == ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert attention_op.providers("cuda")[0] == "CUDAExecutionProvider"
    with pytest.raises(ValueError):
        attention_op.providers("tpu")
