"""The model-agnostic training loop: seeds, progress, early stopping on the task's monitored
validation metric, a wall-clock cap, and the best weights restored at the end."""

from __future__ import annotations

import contextlib
import copy
import math
import os
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from training.config import TrainConfig
from training.spec import Task


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class FitResult:
    epochs: int = 0
    steps: int = 0
    wall_time_s: float = 0.0
    best: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)


def to_device(value: Any, device: torch.device) -> Any:
    """Tensors inside tuples / lists / dicts moved to ``device`` (anything else as it is)."""
    if isinstance(value, Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple batch
        return type(value)(*(to_device(v, device) for v in value))
    if isinstance(value, tuple | list):
        return type(value)(to_device(v, device) for v in value)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    return value


@contextlib.contextmanager
def on_device(model: nn.Module, device: torch.device) -> Iterator[None]:
    """``model`` on ``device`` while training; the tasks stay device-agnostic.

    Its forward's tensor arguments are moved to the device, and in eval mode (validation, which
    computes on the CPU with the task's CPU targets) its outputs come back to the CPU; training
    batches are moved before ``task.loss`` so the loss is computed on the device. On exit the
    model is back on the CPU, where checkpoints and export want it."""
    model.to(device)

    def inputs(_: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return to_device(args, device), to_device(kwargs, device)

    def outputs(module: nn.Module, _: Any, out: Any) -> Any:
        return out if module.training else to_device(out, torch.device("cpu"))

    hooks = [
        model.register_forward_pre_hook(inputs, with_kwargs=True),
        model.register_forward_hook(outputs),
    ]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()
        model.to("cpu")


def fit(
    model: nn.Module,
    task: Task,
    train: TrainConfig,
    *,
    label: str = "",
    progress: bool = True,
    device: str = "cpu",
) -> FitResult:
    with on_device(model, torch.device(device)):
        return _fit(model, task, train, label, progress, torch.device(device))


def _fit(
    model: nn.Module,
    task: Task,
    train: TrainConfig,
    label: str,
    progress: bool,
    device: torch.device,
) -> FitResult:
    seed_everything(train.seed)
    # ATTENTIVE_TORCH_THREADS overrides the config: on a busy machine, OpenMP threads that
    # outnumber the free cores spin against each other (measured here: 2 threads beside a busy
    # process ran ~10-20x slower than 1).
    torch.set_num_threads(int(os.environ.get("ATTENTIVE_TORCH_THREADS", train.threads)))
    optimizer, scheduler = task.optimizer(model, train)
    result = FitResult()
    best_score = -math.inf
    best_state = copy.deepcopy(model.state_dict())
    stale = 0
    start = time.monotonic()
    deadline = start + train.max_minutes * 60 if train.max_minutes else math.inf
    show = progress and sys.stderr.isatty()
    for epoch in range(train.epochs):
        model.train()
        batches = task.batches("train", epoch)
        bar = tqdm(batches, desc=f"{label} epoch {epoch + 1}/{train.epochs}", disable=not show)
        running = 0.0
        for n, batch in enumerate(bar, 1):
            loss = task.loss(model, to_device(batch, device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if train.clip_norm:
                nn.utils.clip_grad_norm_(model.parameters(), train.clip_norm)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            result.steps += 1
            running += float(loss.detach())
            bar.set_postfix(loss=f"{running / n:.3f}")
            if time.monotonic() > deadline:
                break
        result.epochs = epoch + 1
        out_of_time = time.monotonic() > deadline
        last = epoch + 1 == train.epochs or out_of_time
        if (epoch + 1) % train.eval_every and not last:
            continue
        model.eval()
        with torch.no_grad():
            metrics = task.validate(model)
        metrics = {"epoch": float(epoch + 1), **metrics}
        result.history.append(metrics)
        score = metrics[task.monitor]
        if not show and progress:
            shown = ", ".join(f"{k}={v:.4g}" for k, v in metrics.items())
            print(f"[{label}] {shown}", file=sys.stderr, flush=True)
        if score > best_score:
            best_score, best_state, stale = score, copy.deepcopy(model.state_dict()), 0
            result.best = metrics
        else:
            stale += 1
        if out_of_time or (train.patience is not None and stale >= train.patience):
            break
    model.load_state_dict(best_state)
    model.eval()
    result.wall_time_s = time.monotonic() - start
    return result
