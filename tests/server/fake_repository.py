"""A small model repository built by hand with onnx.helper (no torch), laid out as
docs/repository.md says, for the server tests.

``build_zoo`` stands in for ``attentive build --preset tiny --repository DIR``: a translator-like
text model and a GAT-like graph model, each with a card, a config.pbtxt and (text) a tokenizer.
``add_test_models`` adds what every test repository needs on top of the zoo: a plain Triton-layout
model without a card, a corrupt model, and a slow model whose run time the request controls.
The tests iterate over whatever models the repository holds, using the cards' io and examples, so
swapping ``build_zoo`` for the real tiny zoo is a one-line change in conftest.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from taxonomy.card import (
    AttentionLayer,
    Citation,
    Example,
    ExampleTensor,
    Facets,
    IndexBound,
    ModelCard,
    ModelIO,
    Tags,
    TensorSpec,
    TextInput,
    TextOutput,
)

OPSET = 23
IR_VERSION = 10
TRANSLATOR = "toy_translator"
GRAPH = "toy_gat"
PLAIN = "plain_affine"
CORRUPT = "broken_model"
SLOW = "slow_loop"

SPECIALS = ["[PAD]", "[BOS]", "[EOS]", "[UNK]"]
ENGLISH = ["a", "cat", "dog", "sat", "on", "the", "mat", "runs"]
GERMAN = ["ein", "katze", "hund", "sass", "auf", "die", "matte", "rennt"]
VOCAB = SPECIALS + ENGLISH + GERMAN


def _save(model: onnx.ModelProto, folder: Path, version: int = 1) -> None:
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    (folder / str(version)).mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / str(version) / "model.onnx"))


def _opset() -> list[onnx.OperatorSetIdProto]:
    return [helper.make_opsetid("", OPSET)]


def _citation() -> Citation:
    return Citation(title="A toy model for tests", authors=["Attentive"], year=2024, venue="tests")


def _tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[BOS] $A [EOS]", special_tokens=[("[BOS]", 1), ("[EOS]", 2)]
    )
    tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tok.add_special_tokens(SPECIALS)
    tok.save(str(path))


def translator(folder: Path) -> None:
    """output_ids = a word-for-word 'translation' of source_ids; cross_attention[b, t, s] is a
    softmax over the source positions holding the same token as position t."""
    n = len(VOCAB)
    table = np.arange(n, dtype=np.int64)
    e0, g0 = len(SPECIALS), len(SPECIALS) + len(ENGLISH)
    table[e0:g0] = np.arange(g0, n)
    table[g0:n] = np.arange(e0, g0)
    nodes = [
        helper.make_node("Gather", ["table", "source_ids"], ["output_ids"], axis=0),
        helper.make_node("Unsqueeze", ["source_ids", "ax1"], ["q"]),
        helper.make_node("Unsqueeze", ["source_ids", "ax2"], ["k"]),
        helper.make_node("Equal", ["k", "q"], ["same"]),
        helper.make_node("Cast", ["same"], ["samef"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["samef", "five"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["cross_attention"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "toy_translator",
        [helper.make_tensor_value_info("source_ids", TensorProto.INT64, ["B", "S"])],
        [
            helper.make_tensor_value_info("output_ids", TensorProto.INT64, ["B", "S"]),
            helper.make_tensor_value_info("cross_attention", TensorProto.FLOAT, ["B", "S", "S"]),
        ],
        [
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(np.array([1], np.int64), "ax1"),
            numpy_helper.from_array(np.array([2], np.int64), "ax2"),
            numpy_helper.from_array(np.array(5.0, np.float32), "five"),
        ],
    )
    folder.mkdir(parents=True, exist_ok=True)
    _save(helper.make_model(graph, opset_imports=_opset()), folder)
    _tokenizer(folder / "tokenizer.json")
    (folder / "config.pbtxt").write_text(
        f'name: "{folder.name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 8\n'
        'input [{ name: "source_ids" data_type: TYPE_INT64 dims: [-1] }]\n'
        "output [\n"
        '  { name: "output_ids" data_type: TYPE_INT64 dims: [-1] },\n'
        '  { name: "cross_attention" data_type: TYPE_FP32 dims: [-1, -1] }\n]\n'
        "dynamic_batching { preferred_batch_size: [4, 8] max_queue_delay_microseconds: 1000 }\n"
        "instance_group [{ kind: KIND_AUTO count: 1 }]\n"
    )
    facets = Facets(sequences={"distinctive"}, positions={"soft"}, representations={"single"})
    ids = [VOCAB.index(w) for w in ["[BOS]", "a", "cat", "sat", "[EOS]"]]
    card = ModelCard(
        name=folder.name,
        title="Toy word-for-word translator",
        citation=_citation(),
        task="translation",
        dataset="toy",
        tags=Tags(
            sequences={"distinctive"},
            levels={"single-level"},
            positions={"soft"},
            representations={"single"},
            architecture={"encoder-decoder"},
        ),
        layers=[
            AttentionLayer(
                path="decoder.cross",
                mechanism="scaled_dot_product",
                score="q.k",
                query_from="decoder",
                keys_from="encoder",
                onnx="Softmax",
                facets=facets,
            )
        ],
        io=ModelIO(
            max_batch_size=8,
            inputs=[
                TensorSpec(
                    name="source_ids", datatype="INT64", shape=[-1, -1], vocab_size=len(VOCAB)
                )
            ],
            outputs=[
                TensorSpec(name="output_ids", datatype="INT64", shape=[-1, -1], legend="(B, T)"),
                TensorSpec(
                    name="cross_attention",
                    datatype="FP32",
                    shape=[-1, -1, -1],
                    legend="(B, T, S)",
                ),
            ],
            text_inputs=[
                TextInput(
                    name="source_text",
                    ids_input="source_ids",
                    tokenizer="tokenizer.json",
                    max_length=32,
                )
            ],
            text_outputs=[
                TextOutput(name="output_text", ids_output="output_ids", tokenizer="tokenizer.json")
            ],
            pad_id=0,
            bos_id=1,
            eos_id=2,
        ),
        examples=[
            Example(
                name="ids",
                inputs=[ExampleTensor(name="source_ids", datatype="INT64", shape=[1, 5], data=ids)],
            ),
            Example(
                name="batch-ids",
                inputs=[
                    ExampleTensor(
                        name="source_ids",
                        datatype="INT64",
                        shape=[2, 4],
                        data=[1, 5, 6, 2, 1, 9, 10, 2],
                    )
                ],
            ),
            Example(
                name="text",
                inputs=[
                    ExampleTensor(
                        name="source_text",
                        datatype="BYTES",
                        shape=[2],
                        data=["the cat sat on a mat", "a dog runs"],
                    )
                ],
            ),
        ],
    )
    (folder / "card.json").write_text(card.to_json())


def graph_model(folder: Path, features: int = 4, classes: int = 3, heads: int = 2) -> None:
    """logits = node_features @ W; edge_attention[h, e] from the features of each edge's ends."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((features, classes)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["node_features", "W"], ["logits"]),
        helper.make_node("ReduceSum", ["node_features", "ax1"], ["s"], keepdims=0),
        helper.make_node("Gather", ["edge_index", "i0"], ["src_idx"], axis=0),
        helper.make_node("Gather", ["edge_index", "i1"], ["dst_idx"], axis=0),
        helper.make_node("Gather", ["s", "src_idx"], ["src"], axis=0),
        helper.make_node("Gather", ["s", "dst_idx"], ["dst"], axis=0),
        helper.make_node("Sub", ["src", "dst"], ["diff"]),
        helper.make_node("Sigmoid", ["diff"], ["a"]),
        helper.make_node("Sub", ["one", "a"], ["b"]),
        helper.make_node("Unsqueeze", ["a", "ax0"], ["a0"]),
        helper.make_node("Unsqueeze", ["b", "ax0"], ["b0"]),
        helper.make_node("Concat", ["a0", "b0"], ["edge_attention"], axis=0),
    ]
    graph = helper.make_graph(
        nodes,
        "toy_gat",
        [
            helper.make_tensor_value_info("node_features", TensorProto.FLOAT, ["N", features]),
            helper.make_tensor_value_info("edge_index", TensorProto.INT64, [2, "E"]),
        ],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes]),
            helper.make_tensor_value_info("edge_attention", TensorProto.FLOAT, [heads, "E"]),
        ],
        [
            numpy_helper.from_array(w, "W"),
            numpy_helper.from_array(np.array([1], np.int64), "ax1"),
            numpy_helper.from_array(np.array([0], np.int64), "ax0"),
            numpy_helper.from_array(np.array(0, np.int64), "i0"),
            numpy_helper.from_array(np.array(1, np.int64), "i1"),
            numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        ],
    )
    folder.mkdir(parents=True, exist_ok=True)
    _save(helper.make_model(graph, opset_imports=_opset()), folder)
    (folder / "config.pbtxt").write_text(
        f'name: "{folder.name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 0\n'
        f'input [\n  {{ name: "node_features" data_type: TYPE_FP32 dims: [-1, {features}] }},\n'
        '  { name: "edge_index" data_type: TYPE_INT64 dims: [2, -1] }\n]\n'
        f'output [\n  {{ name: "logits" data_type: TYPE_FP32 dims: [-1, {classes}] }},\n'
        f'  {{ name: "edge_attention" data_type: TYPE_FP32 dims: [{heads}, -1] }}\n]\n'
        "instance_group [{ kind: KIND_AUTO count: 1 }]\n"
    )
    n_nodes = 5
    feats = np.round(rng.standard_normal((n_nodes, features)), 3).astype(np.float32)
    edges = [[0, 1, 2, 3, 4, 0], [1, 2, 3, 4, 0, 0]]
    card = ModelCard(
        name=folder.name,
        title="Toy graph attention network",
        citation=_citation(),
        task="node-classification",
        dataset="toy",
        tags=Tags(
            sequences={"self"},
            levels={"single-level"},
            positions={"soft"},
            representations={"multi-representational"},
            architecture={"graph"},
        ),
        layers=[
            AttentionLayer(
                path="gat.0",
                mechanism="additive",
                score="LeakyReLU(a.[Wh_i||Wh_j])",
                query_from="node",
                keys_from="neighbours",
                onnx="Gather",
                facets=Facets(sequences={"self"}),
            )
        ],
        io=ModelIO(
            max_batch_size=0,
            inputs=[
                TensorSpec(
                    name="node_features", datatype="FP32", shape=[-1, features], legend="(N, F)"
                ),
                TensorSpec(
                    name="edge_index",
                    datatype="INT64",
                    shape=[2, -1],
                    index_of=IndexBound(input="node_features", dim=0),
                    legend="(2, E)",
                ),
            ],
            outputs=[
                TensorSpec(name="logits", datatype="FP32", shape=[-1, classes], legend="(N, C)"),
                TensorSpec(
                    name="edge_attention", datatype="FP32", shape=[heads, -1], legend="(H, E)"
                ),
            ],
        ),
        examples=[
            Example(
                name="ring",
                inputs=[
                    ExampleTensor(
                        name="node_features",
                        datatype="FP32",
                        shape=[n_nodes, features],
                        data=[float(x) for x in feats.ravel()],
                    ),
                    ExampleTensor(
                        name="edge_index",
                        datatype="INT64",
                        shape=[2, len(edges[0])],
                        data=[i for row in edges for i in row],
                    ),
                ],
            )
        ],
    )
    (folder / "card.json").write_text(card.to_json())


def plain_model(folder: Path) -> None:
    """A plain Triton-layout ONNX model without a card: y = 2x + 1."""
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "two"], ["x2"]),
            helper.make_node("Add", ["x2", "one"], ["y"]),
        ],
        "plain_affine",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", 4])],
        [
            numpy_helper.from_array(np.array(2.0, np.float32), "two"),
            numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        ],
    )
    folder.mkdir(parents=True, exist_ok=True)
    _save(helper.make_model(graph, opset_imports=_opset()), folder)
    (folder / "config.pbtxt").write_text(
        f'name: "{folder.name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 4\n'
        'input [{ name: "x" data_type: TYPE_FP32 dims: [4] }]\n'
        'output [{ name: "y" data_type: TYPE_FP32 dims: [4] }]\n'
    )


def corrupt_model(folder: Path) -> None:
    """A model folder whose model.onnx is garbage: the server must report it and serve the rest."""
    (folder / "1").mkdir(parents=True, exist_ok=True)
    (folder / "1" / "model.onnx").write_bytes(b"this is not an ONNX model\x00\x01\x02" * 10)
    (folder / "config.pbtxt").write_text(
        f'name: "{folder.name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 0\n'
        'input [{ name: "x" data_type: TYPE_FP32 dims: [1] }]\n'
        'output [{ name: "y" data_type: TYPE_FP32 dims: [1] }]\n'
    )


def slow_model(folder: Path, size: int = 96) -> None:
    """y = tanh(y @ W) iterated ``iterations`` times: a request whose duration the caller picks."""
    w = (np.eye(size, dtype=np.float32) * 0.9).astype(np.float32)
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("MatMul", ["y_in", "W"], ["m"]),
            helper.make_node("Tanh", ["m"], ["y_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("y_in", TensorProto.FLOAT, [size, size]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("y_out", TensorProto.FLOAT, [size, size]),
        ],
    )
    graph = helper.make_graph(
        [
            helper.make_node("Squeeze", ["iterations"], ["n"]),
            helper.make_node("Loop", ["n", "true", "y0"], ["y"], body=body),
        ],
        "slow_loop",
        [helper.make_tensor_value_info("iterations", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [size, size])],
        [
            numpy_helper.from_array(w, "W"),
            numpy_helper.from_array(np.array(True), "true"),
            numpy_helper.from_array(np.ones((size, size), np.float32), "y0"),
        ],
    )
    folder.mkdir(parents=True, exist_ok=True)
    _save(helper.make_model(graph, opset_imports=_opset()), folder)
    (folder / "config.pbtxt").write_text(
        f'name: "{folder.name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 0\n'
        'input [{ name: "iterations" data_type: TYPE_INT64 dims: [1] }]\n'
        f'output [{{ name: "y" data_type: TYPE_FP32 dims: [{size}, {size}] }}]\n'
    )


def build_zoo(repository: Path) -> list[str]:
    """The models with cards (stand-in for `attentive build --preset tiny`)."""
    repository.mkdir(parents=True, exist_ok=True)
    translator(repository / TRANSLATOR)
    graph_model(repository / GRAPH)
    return [TRANSLATOR, GRAPH]


def add_test_models(repository: Path) -> dict[str, str]:
    """Models every test repository has besides the zoo: role -> model name."""
    plain_model(repository / PLAIN)
    corrupt_model(repository / CORRUPT)
    slow_model(repository / SLOW)
    return {"plain": PLAIN, "corrupt": CORRUPT, "slow": SLOW}


def build(repository: Path) -> dict[str, str]:
    build_zoo(repository)
    roles = add_test_models(repository)
    (repository / "roles.json").write_text(json.dumps(roles))
    return roles
