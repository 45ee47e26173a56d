"""The trainer's device handling: batches and forward arguments follow the model to its device,
validation sees CPU outputs, and the model comes back to the CPU with no hooks left on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import pytest
import torch
from torch import Tensor, nn

from training.config import TrainConfig
from training.trainer import fit, to_device


class Line(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x)


class LineTask:
    """y = x @ w + 1 from CPU batches; validation compares CPU outputs with CPU targets."""

    monitor = "val_score"

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(64, 3, generator=g)
        self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 1.0
        self.devices_seen: set[str] = set()

    def batches(self, split: str, epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
        for i in range(0, 64, 16):
            yield self.x[i : i + 16], self.y[i : i + 16]

    def loss(self, model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
        x, y = batch
        self.devices_seen.add(x.device.type)
        return nn.functional.mse_loss(model(x), y)

    def validate(self, model: nn.Module) -> dict[str, float]:
        with torch.no_grad():
            out = model(self.x)
        assert out.device.type == "cpu"  # comes back for the task's CPU targets
        return {"val_score": -float(nn.functional.mse_loss(out, self.y))}

    def optimizer(self, model: nn.Module, train: TrainConfig) -> tuple[torch.optim.Optimizer, None]:
        return torch.optim.SGD(model.parameters(), lr=0.1), None


class Pair(NamedTuple):
    ids: Tensor
    label: int


def test_to_device_keeps_structure() -> None:
    batch = {"a": (torch.ones(2), [torch.zeros(1), 3]), "b": "text", "c": Pair(torch.ones(1), 2)}
    moved = to_device(batch, torch.device("cpu"))
    assert isinstance(moved["a"], tuple) and isinstance(moved["a"][1], list)
    assert moved["a"][1][1] == 3 and moved["b"] == "text"
    assert torch.equal(moved["a"][0], torch.ones(2))
    assert isinstance(moved["c"], Pair) and moved["c"].label == 2  # the documents' batches


def _fit(device: str) -> tuple[Line, LineTask, float]:
    torch.manual_seed(0)
    model, task = Line(), LineTask()
    before = -task.validate(model)["val_score"]
    fit(model, task, TrainConfig(epochs=30, threads=1), progress=False, device=device)  # type: ignore[arg-type]
    return model, task, before


def _check(model: Line, task: LineTask, before: float, device: str) -> None:
    after = -task.validate(model)["val_score"]
    assert after < before / 100  # it learned the line
    assert task.devices_seen == {device}
    assert all(p.device.type == "cpu" for p in model.parameters())  # ready to save and export
    assert not model._forward_hooks and not model._forward_pre_hooks


def test_fit_on_cpu() -> None:
    _check(*_fit("cpu"), "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fit_on_cuda_returns_a_cpu_model() -> None:
    _check(*_fit("cuda"), "cuda")
