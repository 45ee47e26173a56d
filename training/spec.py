"""What a model contributes to the zoo: one :class:`ModelSpec` per survey system.

Adding a model = its mechanism(s), its model file, its dataset loader and one registry entry
(``training/models/__init__.py``). Export and taxonomy never change for a new model: everything
they need comes through the spec.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from taxonomy.card import Citation, Example, Facets, Metric, ModelIO
from training.config import TrainConfig


class Task(Protocol):
    """A dataset + objective that the model-agnostic trainer drives."""

    monitor: str  # the validation metric to maximise (early stopping, best checkpoint)

    def batches(self, split: str, epoch: int) -> Iterable[Any]: ...

    def loss(self, model: nn.Module, batch: Any) -> Tensor: ...

    def validate(self, model: nn.Module) -> dict[str, float]: ...

    def optimizer(
        self, model: nn.Module, train: TrainConfig
    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]: ...


@dataclass
class ExportSpec:
    """What export needs to trace a model and describe the served graph."""

    module: nn.Module  # eval mode; may wrap the model (e.g. a greedy-decoding loop)
    args: tuple[Tensor, ...]  # example inputs for tracing
    input_names: list[str]
    output_names: list[str]
    dynamic_shapes: dict[str, dict[int, Any]]  # forward() argument name -> {dim: Dim}
    io: ModelIO
    examples: list[Example]
    parity_inputs: list[tuple[Tensor, ...]]  # at least two differently shaped inputs
    tolerance: float = 1e-4
    exact_outputs: list[str] = field(default_factory=list)  # must match exactly (token ids)
    files: dict[str, Path] = field(default_factory=dict)  # name in model folder -> source file
    preferred_batch_sizes: list[int] = field(default_factory=list)
    max_queue_delay_us: int = 1000


@dataclass(frozen=True)
class CardInfo:
    title: str
    citation: Citation
    task: str
    dataset: str
    structure: Facets  # what the model's structure adds (architecture, multi-level, ...)
    notes: str = ""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    config: Callable[[], Any]  # the default (full) config dataclass
    presets: dict[str, dict[str, Any]]  # "tiny" | "quick" | "full" -> overrides
    build: Callable[[Any], nn.Module]
    task: Callable[..., Task]  # (config, data_dir, run_dir) -> task
    export: Callable[..., ExportSpec]  # (model, config, task) -> what export traces
    evaluate: Callable[..., list[Metric]]  # (onnx file, config, task) on the held-out test split
    card: CardInfo
    datasets: tuple[str, ...] = ()  # folders under the data directory it reads
