"""The standard ONNX ``Attention`` op (opset 23) vs the same model exported decomposed (opset 20).

Issue 8, section 2 item 4. Both forms go through the zoo's export path (``export.onnx.to_onnx``):
the ``Attention`` form exactly as the zoo exports it; the decomposed form with scaled dot-product
attention tracing its eager math (MatMul, Softmax, masking) at opset 20, the exporters' default.

Measured, in one process and interleaved call by call (so load on a shared machine hits every
form alike):

* ``layer``: one multi-head self-attention layer (the Transformer's ``MultiHeadAttention``,
  d_model 256, 4 heads, random weights), non-causal and causal, at batch 1/8/32 and length
  16/64/128;
* ``transformer``: the Transformer (random weights, the architecture of the preset named by
  ``transformer``): the teacher-forced forward pass (encoder + causal decoder, one pass) and the
  served greedy-decoding graph (an ONNX Loop);
* ``causal_cost``: causal latency / non-causal latency per form (onnxruntime with each graph, and
  PyTorch eager), the 3x-vs-1.4x question of the issue.

``ratio`` = decomposed latency / ``Attention`` latency (p50 per repeat, median over repeats; > 1:
the ``Attention`` op is faster). ``ratio_cpu`` is the same from the CPU time the calls consumed,
steadier than wall time on a loaded machine.

    python -m benchmarks.attention_op [--repeats 3] [--duration 1.0] [--provider cpu|cuda]

prints a markdown table and writes results/perf/attention_op.{json,md}.

Legend: B batch, L length (queries = keys), S source length, T target length, D model dim.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.export import Dim

import export.onnx as export_onnx
from benchmarks import report
from taxonomy.axes import Sequences
from taxonomy.card import ModelIO, TensorSpec
from training.attention import scaled_dot_product
from training.attention.base import AttentionCore
from training.data.tokenizer import BOS, EOS, PAD
from training.models.transformer import SPEC as TRANSFORMER
from training.models.transformer import GreedyTranslator, Transformer, build
from training.spec import ExportSpec

ROOT = Path(__file__).resolve().parent.parent
DECOMPOSED_OPSET = 20  # both exporters' default opset: attention becomes MatMul/Softmax
D_MODEL, HEADS = 256, 4
FORMS = ("attention", "decomposed")
LEAN = "sdpa20"  # the leanest decomposition: PyTorch's own SDPA exported at opset 20


@dataclass
class Args:
    repeats: int = 3  # independent rounds: ratios are reported min / median / max over them
    duration: float = 1.0  # seconds of interleaved calls per case and round
    provider: str = "cpu"  # "cpu" | "cuda" (onnxruntime; PyTorch eager stays on the CPU)
    threads: int = 1  # onnxruntime intra-op threads and torch threads
    batches: tuple[int, ...] = (1, 8, 32)
    lengths: tuple[int, ...] = (16, 64, 128)
    transformer: str = "quick"  # preset whose architecture is measured ("" = skip the model)
    transformer_batch: int = 8
    transformer_length: int = 16  # source length (the decoder gets as many target tokens)
    transformer_graphs: tuple[str, ...] = ("forward", "greedy")
    sections: tuple[str, ...] = ("core", "layer", "transformer")
    profile: bool = True  # onnxruntime's per-operator profile at the largest shape
    lean: bool = True  # also the sdpa20 form (PyTorch's SDPA decomposed) for core and layer


# ---------------------------------------------------------------------------------- export


@contextmanager
def decomposed() -> Iterator[None]:
    """Export scaled dot-product attention as its eager math at opset 20 (everything else in the
    export path unchanged): the baseline the ``Attention`` op is compared with."""
    with (
        mock.patch.object(scaled_dot_product, "exporting", lambda: False),
        mock.patch.object(export_onnx, "OPSET", DECOMPOSED_OPSET),
    ):
        yield


def _spec(
    module: nn.Module,
    args: tuple[Tensor, ...],
    inputs: dict[str, dict[int, Any]],
    outputs: dict[str, int],
) -> ExportSpec:
    """inputs: name -> dynamic dims; outputs: name -> rank."""

    def tensor(name: str, rank: int) -> TensorSpec:
        return TensorSpec(name=name, datatype="FP32", shape=[-1] * rank)

    return ExportSpec(
        module=module.eval(),
        args=args,
        input_names=list(inputs),
        output_names=list(outputs),
        dynamic_shapes=inputs,
        io=ModelIO(
            max_batch_size=0,
            inputs=[tensor(n, a.dim()) for n, a in zip(inputs, args, strict=True)],
            outputs=[tensor(n, r) for n, r in outputs.items()],
        ),
        examples=[],
        parity_inputs=[],
    )


def export_both(spec: ExportSpec) -> dict[str, onnx.ModelProto]:
    models = {"attention": export_onnx.to_onnx(spec).model}
    with decomposed():
        models["decomposed"] = export_onnx.to_onnx(spec).model
    return models


def op_types(model: onnx.ModelProto) -> set[str]:
    """Operator types of the main graph and every subgraph (Loop bodies)."""

    def walk(graph: onnx.GraphProto) -> Iterator[str]:
        for node in graph.node:
            yield node.op_type
            for attr in node.attribute:
                for g in [attr.g] if attr.type == onnx.AttributeProto.GRAPH else attr.graphs:
                    yield from walk(g)

    return set(walk(model.graph))


class Core(nn.Module):
    """Scaled dot-product attention alone, as the zoo calls it (its AttentionCore): q, k, v
    (B, H, L, E) -> out (B, H, L, E); the weights are dropped, as the Transformer's encoder and
    decoder self-attention drop them (so the exported node has no weights output)."""

    def __init__(self, causal: bool) -> None:
        super().__init__()
        self.core = AttentionCore(scaled_dot_product.SCALED_DOT_PRODUCT, causal=causal)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        return self.core(q, k, v, None)[0]


class SelfAttention(nn.Module):
    """One self-attention layer of the Transformer (projections + core): x (B, L, D) -> (B, L, D),
    weights dropped as above."""

    def __init__(self, causal: bool) -> None:
        super().__init__()
        self.attn = scaled_dot_product.MultiHeadAttention(
            D_MODEL, HEADS, Sequences.SELF, "token", "tokens", causal=causal
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.attn(x, x, None)[0]


def sdpa_attention(
    query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None = None, *, causal: bool = False
) -> tuple[Tensor, Tensor]:
    """The mechanism's output through ``F.scaled_dot_product_attention`` (no weights: an empty
    tensor in their place), which exports at opset 20 as PyTorch's own lean decomposition
    (MatMul, Mul, Softmax, a Trilu mask when causal): the bench's third form, to tell what the
    Attention op gains over the leanest MatMul/Softmax graph from what it gains over the zoo's
    eager math (whose masking and fully-masked-row guard cost extra passes)."""
    out = F.scaled_dot_product_attention(query, keys, values, attn_mask=mask, is_causal=causal)
    return out, out.new_zeros(0)


SDPA_MECHANISM = dataclasses.replace(scaled_dot_product.SCALED_DOT_PRODUCT, fn=sdpa_attention)


def attention_spec(kind: str, causal: bool, lean: bool = False) -> ExportSpec:
    """kind "core" (q, k, v in) or "layer" (x in); weights seeded, so causal and non-causal
    layers hold the same projections. ``lean``: the core calls :func:`sdpa_attention`."""
    torch.manual_seed(0)
    batch, length = Dim("batch", min=1, max=1024), Dim("length", min=2, max=4096)
    module: Core | SelfAttention
    if kind == "core":
        module = Core(causal)
        qkv = tuple(torch.randn(2, HEADS, 5, D_MODEL // HEADS) for _ in range(3))  # (B, H, L, E)
        dims = {0: batch, 2: length}
        spec = _spec(module, qkv, {"q": dims, "k": dims, "v": dims}, {"y": 4})
    else:
        module = SelfAttention(causal)
        x = torch.randn(2, 5, D_MODEL)  # (B, L, D)
        spec = _spec(module, (x,), {"x": {0: batch, 1: length}}, {"y": 3})
    if lean:
        core = module.core if isinstance(module, Core) else module.attn.core
        core.mechanism = SDPA_MECHANISM
    return spec


@functools.cache
def exported(
    kind: str, causal: bool, lean: bool = True
) -> tuple[ExportSpec, dict[str, onnx.ModelProto]]:
    """The spec and the exports (``attention``, ``decomposed``, and ``sdpa20`` if ``lean``),
    once per process (tests and the bench share them)."""
    spec = attention_spec(kind, causal)
    models = export_both(spec)
    if lean:
        with mock.patch.object(export_onnx, "OPSET", DECOMPOSED_OPSET):
            models[LEAN] = export_onnx.to_onnx(attention_spec(kind, causal, lean=True)).model
    return spec, models


class TeacherForced(nn.Module):
    """The Transformer's training-time pass: encoder, causal decoder, logits (B, T, V)."""

    def __init__(self, model: Transformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, source_ids: Tensor, target_in: Tensor) -> Tensor:
        return self.model(source_ids, target_in)


@functools.cache
def transformer(preset: str) -> Transformer:
    """The zoo's Transformer with random weights (seeded): measuring needs no training."""
    from export.build import preset_config

    torch.manual_seed(0)
    model = build(preset_config(TRANSFORMER, preset))  # type: ignore[arg-type]
    assert isinstance(model, Transformer)
    return model.eval()


@functools.cache
def transformer_exported(preset: str, graph: str) -> tuple[ExportSpec, dict[str, onnx.ModelProto]]:
    """graph "forward" (teacher-forced, one pass) or "greedy" (the served decoding Loop)."""
    model = transformer(preset)
    vocab = model.embed.num_embeddings
    batch = Dim("batch", min=1, max=1024)
    source, target = Dim("source_length", min=2, max=200), Dim("target_length", min=2, max=200)
    ids = source_ids(2, 7, vocab, seed=1)
    if graph == "forward":
        spec = _spec(
            TeacherForced(model),
            (ids, source_ids(2, 6, vocab, seed=2)),
            {"source_ids": {0: batch, 1: source}, "target_in": {0: batch, 1: target}},
            {"logits": 3},
        )
    else:
        spec = _spec(
            GreedyTranslator(model),
            (ids,),
            {"source_ids": {0: batch, 1: source}},
            {"output_ids": 2, "cross_attention": 3},
        )
    return spec, export_both(spec)


def source_ids(batch: int, length: int, vocab: int, seed: int) -> Tensor:
    """[BOS] w... [EOS] [PAD]...: rows of mixed lengths (the longest fills the width)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(EOS + 2, vocab, (batch, length), generator=g)  # (B, L)
    lengths = torch.randint(max(3, length // 2), length + 1, (batch,), generator=g)
    lengths[0] = length
    ids[:, 0] = BOS
    for row, n in enumerate(lengths.tolist()):
        ids[row, n - 1] = EOS
        ids[row, n:] = PAD
    return ids


# --------------------------------------------------------------------------------- running


def session_options(threads: int) -> ort.SessionOptions:
    """As the server makes them (server/runtime.py): every graph rewrite, sequential, threads
    that do not spin (spinning starves the working threads on a shared machine)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return options


def providers(provider: str) -> list[str]:
    if provider == "cuda":
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if provider != "cpu":
        raise ValueError(f"provider must be 'cpu' or 'cuda', not {provider!r}")
    return ["CPUExecutionProvider"]


def session(
    model: onnx.ModelProto, args: Args, options: ort.SessionOptions | None = None
) -> ort.InferenceSession:
    return ort.InferenceSession(
        model.SerializeToString(),
        options or session_options(args.threads),
        providers=providers(args.provider),
    )


Call = Callable[[], object]


def runner(sess: ort.InferenceSession, feeds: dict[str, np.ndarray]) -> Call:
    return lambda: sess.run(None, feeds)


def eager(module: Callable[..., object], inputs: tuple[Tensor, ...]) -> Call:
    def call() -> object:
        with torch.inference_mode():
            return module(*inputs)

    return call


@dataclass
class Timing:
    wall: list[float] = field(default_factory=list)  # seconds per call
    cpu: list[float] = field(default_factory=list)  # process CPU seconds per call

    def p(self, q: float, cpu: bool = False) -> float:
        values = sorted(self.cpu if cpu else self.wall)
        return values[min(len(values) - 1, round(q * (len(values) - 1)))] * 1e3  # ms


def interleaved(calls: dict[str, Call], duration: float, min_calls: int = 5) -> dict[str, Timing]:
    """Turns over the calls, one call each per turn, for ``duration`` seconds in all (at least
    ``min_calls`` each): every call sees the same machine load. The order is shuffled every turn:
    in a fixed order the call after PyTorch's always found the caches cold (measured: the
    Attention layer at B=1 L=16 read 0.96x the decomposed one's speed then, 1.09x shuffled)."""
    for call in calls.values():  # warm-up: memory plans, caches
        call()
        call()
    timings = {name: Timing() for name in calls}
    order = list(calls.items())
    shuffle = random.Random(0).shuffle
    end = time.perf_counter() + duration
    turns = 0
    while turns < min_calls or time.perf_counter() < end:
        shuffle(order)
        for name, call in order:
            c0, w0 = time.process_time(), time.perf_counter()
            call()
            w1, c1 = time.perf_counter(), time.process_time()
            timings[name].wall.append(w1 - w0)
            timings[name].cpu.append(c1 - c0)
        turns += 1
    return timings


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def summarise(section: str, case: str, causal: bool | None, runs: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    """One table row from the rounds of one case: p50s are medians over rounds; ``ratio`` is the
    median of the rounds' decomposed / attention ratios, with their min and max."""
    ratios = [r["decomposed_ms"] / r["attention_ms"] for r in runs]
    ratios_cpu = [r["decomposed_cpu_ms"] / r["attention_cpu_ms"] for r in runs]
    row: dict[str, Any] = {"section": section, "case": case, "causal": causal}
    for key in runs[0]:
        row[key] = _median([r[key] for r in runs])
    row.update(
        ratio=_median(ratios),
        ratio_min=min(ratios),
        ratio_max=max(ratios),
        ratio_cpu=_median(ratios_cpu),
        runs=runs,
    )
    if f"{LEAN}_ms" in runs[0]:  # the leanest decomposition / Attention, the same way
        row[f"ratio_{LEAN}"] = _median([r[f"{LEAN}_ms"] / r["attention_ms"] for r in runs])
    return row


def _round(timings: dict[str, Timing], forms: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for form in forms:
        t = timings[form]
        out[f"{form}_ms"], out[f"{form}_p99_ms"] = t.p(0.5), t.p(0.99)
        out[f"{form}_cpu_ms"] = t.p(0.5, cpu=True)
    return out


# -------------------------------------------------------------------------------- sections


def max_abs_diff(a: object, b: object) -> float:
    x = np.asarray(a.detach().numpy() if isinstance(a, Tensor) else a, dtype=np.float64)
    y = np.asarray(b.detach().numpy() if isinstance(b, Tensor) else b, dtype=np.float64)
    return float(np.abs(x - y).max()) if x.size else 0.0


def sdpa(causal: bool) -> Callable[..., Tensor]:
    """PyTorch's own fused kernel, for the causal-cost comparison of the core."""
    return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal)


def attention_section(kind: str, args: Args) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:  # fmt: skip
    """kind "core" or "layer": rows per (shape, causal), causal-cost rows per shape, and what
    the graphs hold. Per shape, every form of both causal and non-causal runs in one round-robin."""
    pairs = {causal: exported(kind, causal, lean=args.lean) for causal in (False, True)}
    sessions = {(c, f): session(m, args) for c, (_, ms) in pairs.items() for f, m in ms.items()}
    graphs = {
        f"{'causal' if c else 'non_causal'}_{f}": sorted(op_types(m))
        for c, (_, ms) in pairs.items()
        for f, m in ms.items()
    }
    eager_forms = ("torch", "sdpa") if kind == "core" else ("torch",)
    forms = (*pairs[False][1], *eager_forms)
    rows, costs = [], []
    rng = np.random.default_rng(0)
    for B in args.batches:
        for L in args.lengths:
            shapes = [(B, HEADS, L, D_MODEL // HEADS)] * 3 if kind == "core" else [(B, L, D_MODEL)]
            arrays = [rng.standard_normal(shape, dtype=np.float32) for shape in shapes]
            tensors = tuple(torch.from_numpy(a) for a in arrays)
            calls: dict[str, Call] = {}
            worst = 0.0
            for c, (spec, _) in pairs.items():
                feeds = dict(zip(spec.input_names, arrays, strict=True))
                with torch.inference_mode():
                    expected = spec.module(*tensors)
                for f in pairs[c][1]:
                    calls[f"{c}/{f}"] = runner(sessions[c, f], feeds)
                    worst = max(worst, max_abs_diff(expected, sessions[c, f].run(None, feeds)[0]))
                calls[f"{c}/torch"] = eager(spec.module, tensors)
                if kind == "core":
                    calls[f"{c}/sdpa"] = eager(sdpa(c), tensors)
            per_round: dict[bool, list[dict[str, float]]] = {False: [], True: []}
            for _ in range(args.repeats):
                timings = interleaved(calls, args.duration)
                for c in (False, True):
                    per_round[c].append(_round({f: timings[f"{c}/{f}"] for f in forms}, forms))
            case = f"B={B} L={L}"
            for c in (False, True):
                row = summarise(kind, case, c, per_round[c])
                row["max_abs_diff"] = worst
                rows.append(row)
            costs.append(causal_cost(kind, case, per_round, forms))
    profile = attention_profile(kind, args) if args.profile else {}
    got = sessions[False, "attention"].get_providers()
    return rows, costs, {"ops": graphs, "profile": profile, "providers": got}


def causal_cost(
    section: str, case: str, per_round: dict[bool, list[dict[str, float]]], forms: tuple[str, ...]
) -> dict[str, Any]:
    """causal p50 / non-causal p50 per form, median over rounds (timed in the same turns)."""
    row: dict[str, Any] = {"section": section, "case": case}
    for form in forms:
        for unit in ("ms", "cpu_ms"):
            key = f"{form}_{unit}"
            ratios = [c[key] / n[key] for n, c in zip(per_round[False], per_round[True], strict=True)]  # fmt: skip
            row[f"{form}{'' if unit == 'ms' else '_cpu'}"] = _median(ratios)
    return row


def attention_profile(kind: str, args: Args, runs: int = 20) -> dict[str, Any]:
    """Per-operator kernel times at the largest shape, for each graph (see :func:`profile`)."""
    B, L = max(args.batches), max(args.lengths)
    rng = np.random.default_rng(1)
    graphs, feeds = {}, {}
    for c in (False, True):
        spec, models = exported(kind, c, lean=args.lean)
        shapes = [(B, HEADS, L, D_MODEL // HEADS)] * 3 if kind == "core" else [(B, L, D_MODEL)]
        for f, model in models.items():
            name = f"{'causal' if c else 'non_causal'}_{f}"
            graphs[name] = model
            feeds[name] = {
                n: rng.standard_normal(s, dtype=np.float32)
                for n, s in zip(spec.input_names, shapes, strict=True)
            }
    return {"case": f"B={B} L={L}", **profile(graphs, feeds, args, runs)}


def profile(
    models: dict[str, onnx.ModelProto],
    feeds: dict[str, dict[str, np.ndarray]],
    args: Args,
    runs: int,
) -> dict[str, dict[str, float]]:
    """onnxruntime's own per-operator kernel times (enable_profiling): ms per run by operator
    type, for each graph; the sessions take turns, one run each, as in :func:`interleaved`."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        sessions = {}
        for name, model in models.items():
            options = session_options(args.threads)
            options.enable_profiling = True
            options.profile_file_prefix = str(Path(tmp) / name)
            sessions[name] = session(model, args, options)
        for _ in range(runs):
            for name, sess in sessions.items():
                sess.run(None, feeds[name])
        out = {}
        for name, sess in sessions.items():
            events = json.loads(Path(sess.end_profiling()).read_text(encoding="utf-8"))
            per_op: dict[str, float] = {}
            for e in events:
                if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                    op = e["args"].get("op_name", "?")
                    per_op[op] = per_op.get(op, 0.0) + e["dur"] / runs / 1e3
            out[name] = {op: round(ms, 4) for op, ms in sorted(per_op.items(), key=lambda kv: -kv[1])}  # fmt: skip
    return out


def transformer_section(args: Args) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    model = transformer(args.transformer)
    vocab = model.embed.num_embeddings
    B, S = args.transformer_batch, args.transformer_length
    feeds = {
        "forward": (source_ids(B, S, vocab, seed=3), source_ids(B, S, vocab, seed=4)),
        "greedy": (source_ids(B, S, vocab, seed=3),),
    }
    rows, graphs, profiles = [], {}, {}
    providers_got: list[str] = []
    for name in args.transformer_graphs:
        spec, models = transformer_exported(args.transformer, name)
        sessions = {f: session(m, args) for f, m in models.items()}
        inputs = feeds[name]
        np_feeds = {n: a.numpy() for n, a in zip(spec.input_names, inputs, strict=True)}
        with torch.inference_mode():
            expected = spec.module(*inputs)
        expected = expected if isinstance(expected, tuple) else (expected,)
        worst, same_tokens = 0.0, True
        for sess in sessions.values():
            for want, got in zip(expected, sess.run(None, np_feeds), strict=True):
                if want.dtype == torch.long:
                    same_tokens &= bool(np.array_equal(want.numpy(), got))
                else:
                    worst = max(worst, max_abs_diff(want, got))
        calls = {f: runner(s, np_feeds) for f, s in sessions.items()}
        calls["torch"] = eager(spec.module, inputs)
        runs = [  # the greedy graph takes seconds a call on a busy CPU: 2 calls a round at least
            _round(interleaved(calls, args.duration, min_calls=2), (*FORMS, "torch"))
            for _ in range(args.repeats)
        ]
        row = summarise("transformer", f"{name} B={B} S={S}", None, runs)
        row.update(max_abs_diff=worst, same_tokens=same_tokens)
        rows.append(row)
        graphs[name] = {f: sorted(op_types(m)) for f, m in models.items()}
        providers_got = sessions["attention"].get_providers()
        if args.profile:
            profiles[name] = profile(models, dict.fromkeys(models, np_feeds), args, runs=5)
    return rows, {
        "preset": args.transformer,
        "weights": "random (seeded)",
        "ops": graphs,
        "profile": profiles,
        "providers": providers_got,
    }


# ---------------------------------------------------------------------------------- report


def run(args: Any) -> dict[str, Any]:
    """Measure everything; ``args`` is an :class:`Args` or any object with some of its fields
    (an argparse Namespace): missing ones take Args' defaults."""
    a = Args(**{k: getattr(args, k) for k in Args.__dataclass_fields__ if hasattr(args, k)})
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(a.threads)
    sections: dict[str, list[dict[str, Any]]] = {}
    costs: list[dict[str, Any]] = []
    info: dict[str, Any] = {"ops": {}, "profile": {}, "providers": []}
    try:
        for kind in ("core", "layer"):
            if kind in a.sections:
                rows, cost, got = attention_section(kind, a)
                sections[kind], costs = rows, costs + cost
                info["ops"][kind], info["profile"][kind] = got["ops"], got["profile"]
                info["providers"] = got["providers"]
        if "transformer" in a.sections and a.transformer:
            sections["transformer"], model_info = transformer_section(a)
            info["ops"]["transformer"] = model_info.pop("ops")
            info["profile"]["transformer"] = model_info.pop("profile")
            got = model_info.pop("providers")
            info["providers"] = info["providers"] or got
            info["transformer_model"] = model_info
    finally:
        torch.set_num_threads(torch_threads)
    rows = [r for kind in ("core", "layer", "transformer") for r in sections.get(kind, [])]
    return {
        "benchmark": "attention_op",
        "args": asdict(a),
        "environment": report.environment()
        | {
            "torch": torch.__version__,
            "onnxruntime": ort.__version__,
            "onnx": onnx.__version__,
            "providers": info["providers"],
        },
        "ratio": "decomposed p50 / Attention p50 (> 1: the Attention op is faster)",
        "rows": rows,
        **sections,
        "causal_cost": costs,
        "graphs": info["ops"],
        "profile": info["profile"],
        "transformer_model": info.get("transformer_model", {}),
        "summary": {
            "ratio_min": min(r["ratio"] for r in rows),
            "ratio_median": _median([r["ratio"] for r in rows]),
            "goal_attention_not_slower": all(r["ratio"] >= 1.0 for r in rows),
        },
    }


def markdown(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [
        "# `Attention` op (opset 23) vs decomposed (opset 20)\n",
        f"onnxruntime {env['onnxruntime']} ({', '.join(env['providers'])}), torch "
        f"{env['torch']}, {results['args']['threads']} thread(s), {env['cpus']} CPUs. "
        f"ratio = {results['ratio']}; min / median / max over "
        f"{results['args']['repeats']} rounds; cpu = from CPU time.\n",
    ]
    header = ["section", "case", "causal", "Attention ms", "decomposed ms", "ratio",
              "ratio min-max", "ratio cpu", f"{LEAN} ms", f"ratio {LEAN}", "torch ms",
              "torch / Attention"]  # fmt: skip
    table = [
        [
            r["section"],
            r["case"],
            "" if r["causal"] is None else ("yes" if r["causal"] else "no"),
            r["attention_ms"],
            r["decomposed_ms"],
            r["ratio"],
            f"{r['ratio_min']:.3g}-{r['ratio_max']:.3g}",
            r["ratio_cpu"],
            r.get(f"{LEAN}_ms"),
            r.get(f"ratio_{LEAN}"),
            r["torch_ms"],
            r["torch_ms"] / r["attention_ms"],
        ]  # fmt: skip
        for r in results["rows"]
    ]
    lines.append(report.table(header, table))
    lines.append("\n## Causal cost: causal p50 / non-causal p50\n")
    header = ["section", "case", "Attention", "decomposed", LEAN, "PyTorch (zoo's math)",
              "PyTorch SDPA", "Attention (cpu)", "decomposed (cpu)", "PyTorch (cpu)"]  # fmt: skip
    table = [
        [
            c["section"],
            c["case"],
            c["attention"],
            c["decomposed"],
            c.get(LEAN),
            c["torch"],
            c.get("sdpa"),
            c["attention_cpu"],
            c["decomposed_cpu"],
            c["torch_cpu"],
        ]  # fmt: skip
        for c in results["causal_cost"]
    ]
    lines.append(report.table(header, table))
    s = results["summary"]
    lines.append(
        f"\nratio min {s['ratio_min']:.3g}, median {s['ratio_median']:.3g}; Attention op no "
        f"slower everywhere: {s['goal_attention_not_slower']}\n"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    d = Args()
    parser.add_argument("--repeats", type=int, default=d.repeats)
    parser.add_argument("--duration", type=float, default=d.duration)
    parser.add_argument("--provider", choices=["cpu", "cuda"], default=d.provider)
    parser.add_argument("--threads", type=int, default=d.threads)
    parser.add_argument("--transformer", default=d.transformer, help="preset; '' skips it")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "perf")
    ns = parser.parse_args()
    results = run(ns)
    text = markdown(results)
    report.write(ns.out, "attention_op", results, text)
    print(text)


if __name__ == "__main__":
    main()
