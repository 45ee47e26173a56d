"""The model card: what a served model is, how to call it, how it attends, and how well it does.

Written by export as ``<repo>/<model>/card.json`` and into the ONNX ``metadata_props`` (key
``attentive.card``); read by the server and the query engine. Pure pydantic: no torch, no onnx.

Shapes follow Triton's model metadata: the batch dimension is included (as -1) when the model
batches (``io.max_batch_size > 0``); -1 marks every variable dimension.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FieldSerializationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from taxonomy.axes import (
    ALIASES,
    AXES,
    Architecture,
    Levels,
    Positions,
    Representations,
    Sequences,
)

CARD_FILE = "card.json"
CARD_METADATA_KEY = "attentive.card"
SCHEMA_VERSION = 1

# The axes that describe attention itself; architecture describes the network around it.
ATTENTION_AXES = ("sequences", "levels", "positions", "representations")

Datatype = Literal[
    "BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "FP16", "FP32", "FP64", "BYTES"
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _alias(axis: str, values: Any) -> Any:
    table = ALIASES.get(axis, {})
    if isinstance(values, list | tuple | set | frozenset):
        return [table.get(str(v).lower(), v) if isinstance(v, str) else v for v in values]
    return values


class Facets(_Model):
    """A partial set of taxonomy values: what one mechanism, one layer or one model structure adds."""

    sequences: frozenset[Sequences] = frozenset()
    levels: frozenset[Levels] = frozenset()
    positions: frozenset[Positions] = frozenset()
    representations: frozenset[Representations] = frozenset()
    architecture: frozenset[Architecture] = frozenset()

    @field_validator("positions", mode="before")
    @classmethod
    def _positions_alias(cls, v: Any) -> Any:
        return _alias("positions", v)

    @field_validator("sequences", mode="before")
    @classmethod
    def _sequences_alias(cls, v: Any) -> Any:
        return _alias("sequences", v)

    def union(self, other: Facets) -> Facets:
        return Facets(
            sequences=self.sequences | other.sequences,
            levels=self.levels | other.levels,
            positions=self.positions | other.positions,
            representations=self.representations | other.representations,
            architecture=self.architecture | other.architecture,
        )

    @field_serializer(*AXES, when_used="json")
    def _in_axis_order(self, values: frozenset[Any], info: FieldSerializationInfo) -> list[str]:
        # Sets have no order; the survey's order makes card.json identical from run to run.
        return [v.value for v in AXES[info.field_name] if v in values]

    def get(self, axis: str) -> frozenset[Any]:
        return frozenset(getattr(self, axis))

    @property
    def has_attention(self) -> bool:
        """True if any attention axis (all but architecture) has a value."""
        return any(getattr(self, axis) for axis in ATTENTION_AXES)


class Tags(Facets):
    """A model's complete tags, derived by :func:`taxonomy.derive.derive_tags`, never typed.

    Either the model attends: every axis has at least one value, and levels is exactly one of
    single-level / multi-level (stacking attention over levels makes the whole model multi-level).
    Or it does not (a no-attention baseline): the four attention axes are empty and architecture
    says what the network is, if anything. A card with *unknown* taxonomy has no Tags at all.
    """

    @model_validator(mode="after")
    def _complete(self) -> Tags:
        if not self.has_attention:
            return self
        missing = [axis for axis in AXES if not getattr(self, axis)]
        if missing:
            raise ValueError(
                f"tags of a model with attention need a value on every axis; empty: "
                f"{', '.join(missing)} (derive tags with taxonomy.derive.derive_tags)"
            )
        if len(self.levels) > 1:
            raise ValueError("levels is either single-level or multi-level, not both")
        return self


class Citation(_Model):
    title: str
    authors: list[str]
    year: int
    venue: str
    arxiv: str | None = None


class AttentionLayer(_Model):
    """One attention layer of a model, as found in its modules at export."""

    path: str = Field(description="Module path in the PyTorch model, e.g. decoder.layers.0.cross")
    mechanism: str = Field(description="Registered mechanism name, e.g. scaled_dot_product")
    score: str = Field(description="The score function, as a formula")
    query_from: str
    keys_from: str
    onnx: str = Field(description="What carries it in ONNX: 'Attention' or 'domain::Function'")
    facets: Facets


class IndexBound(_Model):
    """Values of this tensor index dimension ``dim`` of input ``input`` (e.g. edges -> nodes)."""

    input: str
    dim: int


class TensorSpec(_Model):
    name: str
    datatype: Datatype
    shape: list[int]
    description: str = ""
    vocab_size: int | None = Field(default=None, description="ids must lie in [0, vocab_size)")
    index_of: IndexBound | None = None
    allow_nonfinite: bool = False
    max_shape: list[int] | None = Field(
        default=None, description="Upper bound per dimension (-1 = unbounded), e.g. max length"
    )
    legend: str | None = Field(default=None, description="Shape legend, e.g. (B, T, S)")


class TextInput(_Model):
    """A BYTES input the server tokenizes into an ids input of the graph."""

    name: str
    ids_input: str
    tokenizer: str = Field(description="Tokenizer file in the model's folder (HF tokenizers JSON)")
    max_length: int


class TextOutput(_Model):
    """A BYTES output the server decodes from an ids output of the graph."""

    name: str
    ids_output: str
    tokenizer: str


class ModelIO(_Model):
    max_batch_size: int = Field(ge=0)
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    text_inputs: list[TextInput] = []
    text_outputs: list[TextOutput] = []
    pad_id: int | None = None
    bos_id: int | None = None
    eos_id: int | None = None
    ragged_batching: bool = Field(
        default=False,
        description="Requests of different lengths may share one run: the server pads each "
        "input's variable axes (named by its legend) with pad_id to the batch's longest and crops "
        "every output back to the request's own sizes, and each request's outputs are those of "
        "running it alone. False: only requests of identical shapes are batched together.",
    )


class ExampleTensor(_Model):
    """A tensor in KServe v2 JSON form (data flattened in row-major order)."""

    name: str
    datatype: Datatype
    shape: list[int]
    data: list[Any]


class Example(_Model):
    name: str
    description: str = ""
    inputs: list[ExampleTensor]


class Metric(_Model):
    name: str
    value: float
    split: str
    paper: float | None = None
    note: str = ""


class TrainingProvenance(_Model):
    preset: str
    seed: int
    epochs: float
    steps: int
    wall_time_s: float
    commit: str
    device: str = Field(default="cpu", description="Where it trained, e.g. 'cuda: NVIDIA H200'")
    config: dict[str, Any] = {}


class ExportProvenance(_Model):
    opset: int
    attention_ops: dict[str, int] = Field(
        description="ONNX op or local function -> how many nodes carry attention"
    )
    parity_max_abs_diff: float
    parity_tolerance: float
    tokens_identical: bool | None = None
    torch: str
    onnx: str
    onnxruntime: str


class ModelCard(_Model):
    schema_version: int = SCHEMA_VERSION
    name: str
    title: str
    citation: Citation
    task: str
    dataset: str
    tags: Tags
    layers: list[AttentionLayer]
    io: ModelIO
    examples: list[Example] = Field(min_length=1)
    metrics: list[Metric] = []
    training: TrainingProvenance | None = None
    export: ExportProvenance | None = None
    notes: str = ""

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        return cls.model_validate(json.loads(text))

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))
