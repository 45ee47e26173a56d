"""Hand-made model cards for the taxonomy tests: minimal valid cards, tags derived as export does."""

from __future__ import annotations

from pathlib import Path

from taxonomy.card import (
    CARD_FILE,
    AttentionLayer,
    Citation,
    Example,
    ExampleTensor,
    Facets,
    ModelCard,
    ModelIO,
    TensorSpec,
)
from taxonomy.derive import derive_tags

SELF_SOFT = Facets(sequences={"self"}, positions={"soft"}, representations={"single"})
CROSS_SOFT = Facets(sequences={"distinctive"}, positions={"soft"}, representations={"single"})


def make_card(
    name: str,
    layers: list[tuple[str, Facets]],
    model: Facets,
    *,
    allow_no_attention: bool = False,
) -> ModelCard:
    """A card whose tags come from derive_tags over its layers' facets and the model's."""
    tags = derive_tags([f for _, f in layers], model, allow_no_attention=allow_no_attention)
    return ModelCard(
        name=name,
        title=f"{name} title",
        citation=Citation(title=f"{name} paper", authors=["A. Author"], year=2017, venue="Test"),
        task="test task",
        dataset="test set",
        tags=tags,
        layers=[
            AttentionLayer(
                path=path,
                mechanism="test_mechanism",
                score="q . k",
                query_from="x",
                keys_from="x",
                onnx="Attention",
                facets=facets,
            )
            for path, facets in layers
        ],
        io=ModelIO(
            max_batch_size=0,
            inputs=[TensorSpec(name="x", datatype="FP32", shape=[2])],
            outputs=[TensorSpec(name="y", datatype="FP32", shape=[2])],
        ),
        examples=[
            Example(
                name="one",
                inputs=[ExampleTensor(name="x", datatype="FP32", shape=[2], data=[0.0, 1.0])],
            )
        ],
    )


def zoo() -> list[ModelCard]:
    """Four models that differ on every axis the tests query."""
    return [
        make_card(
            "transformer",
            [
                ("encoder.self", SELF_SOFT),
                ("decoder.self", SELF_SOFT),
                ("decoder.cross", CROSS_SOFT),
            ],
            Facets(architecture={"encoder-decoder", "network-without-rnns"}),
        ),
        make_card("gat", [("layers.0", SELF_SOFT)], Facets(architecture={"graph"})),
        make_card(
            "abcnn",
            [
                ("pair.local", Facets(sequences={"co-attention"}, positions={"local"})),
                ("pair.soft", Facets(sequences={"co-attention"}, positions={"soft"})),
            ],
            Facets(architecture={"convolutional-sentence-pair"}),
        ),
        make_card("seq2seq", [], Facets(architecture={"encoder-decoder"}), allow_no_attention=True),
    ]


def write_repository(root: Path, cards: list[ModelCard]) -> Path:
    """<root>/<name>/card.json per card, plus a card-less model and a broken card."""
    for card in cards:
        (root / card.name).mkdir(parents=True)
        (root / card.name / CARD_FILE).write_text(card.to_json(), encoding="utf-8")
    (root / "plain").mkdir()
    (root / "plain" / "config.pbtxt").write_text('name: "plain"\n', encoding="utf-8")
    (root / "broken").mkdir()
    (root / "broken" / CARD_FILE).write_text('{"name": "broken"}', encoding="utf-8")
    return root
