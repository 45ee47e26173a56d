"""Synthetic cards and a stand-in client, so every picture family can be drawn from known
weights without a server (the served tests are in tests/server/test_show.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from taxonomy.card import (
    Citation,
    Example,
    ExampleTensor,
    ModelCard,
    ModelIO,
    Tags,
    TensorSpec,
    TextInput,
    TextOutput,
)
from tests.server.fake_repository import ENGLISH, SPECIALS, _tokenizer

TOKENIZER = "tokenizer.json"
ATTENDS = Tags(
    sequences={"distinctive"},
    levels={"single-level"},
    positions={"soft"},
    representations={"single"},
    architecture={"encoder-decoder"},
)


def spec(
    name: str, legend: str | None, datatype: str = "FP32", dims: int = 3, description: str = ""
) -> TensorSpec:
    return TensorSpec(
        name=name,
        datatype=datatype,  # type: ignore[arg-type]
        shape=[-1] * dims,
        legend=legend,
        description=description,
    )


def card(
    name: str,
    outputs: list[TensorSpec],
    texts: list[str] = ("text",),  # type: ignore[assignment]
    answer: str | None = "label",
    tags: Tags = ATTENDS,
) -> ModelCard:
    """A text model: one ids input per text input; ``outputs`` plus, with ``answer``, a text
    output of that name decoded from ``<answer>_ids``."""
    inputs = [spec(f"{t}_ids", "(B, S)", "INT64", 2) for t in texts]
    text_inputs = [
        TextInput(name=t, ids_input=f"{t}_ids", tokenizer=TOKENIZER, max_length=64) for t in texts
    ]
    text_outputs = []
    if answer:
        outputs = [spec(f"{answer}_ids", "(B, T)", "INT64", 2), *outputs]
        text_outputs = [TextOutput(name=answer, ids_output=f"{answer}_ids", tokenizer=TOKENIZER)]
    example = Example(
        name="ids",
        inputs=[
            ExampleTensor(name=i.name, datatype="INT64", shape=[1, 1], data=[4]) for i in inputs
        ],
    )
    return ModelCard(
        name=name,
        title=name,
        citation=Citation(title="t", authors=["a"], year=2024, venue="tests"),
        task="test",
        dataset="test",
        tags=tags,
        layers=[],
        io=ModelIO(
            max_batch_size=8,
            inputs=inputs,
            outputs=outputs,
            text_inputs=text_inputs,
            text_outputs=text_outputs,
            pad_id=0,
            bos_id=1,
            eos_id=2,
        ),
        examples=[example],
    )


def repository(root: Path, *models: str) -> Path:
    """A folder holding each model's tokenizer (the toy word-level one: a cat dog sat on the
    mat runs ...), where `attentive show` reads token strings."""
    for model in models:
        (root / model).mkdir(parents=True, exist_ok=True)
        _tokenizer(root / model / TOKENIZER)
    return root


def document_tokenizer(path: Path) -> None:
    """The toy words plus the document models' sentence separator, which marks '. ' as HAN's
    tokenizer marks a sentence boundary."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    words = [*SPECIALS, "¶", *ENGLISH]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.Replace(". ", " ¶ ")
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(path))


@dataclass
class FakeClient:
    """server.client.Client's two calls that pictures use: card() and infer()."""

    card_: ModelCard | None
    answer: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
    requests: list[dict[str, np.ndarray]] = field(default_factory=list)

    def card(self, model: str) -> tuple[Any, ModelCard | None]:
        return SimpleNamespace(status="tagged" if self.card_ else "unknown"), self.card_

    def infer(self, model: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.requests.append(inputs)
        return self.answer(inputs)


def text(value: str) -> np.ndarray:
    return np.array([value.encode()], dtype=object)  # (1,) BYTES
