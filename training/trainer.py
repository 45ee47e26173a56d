"""The model-agnostic training loop: seeds, progress, early stopping on the task's monitored
validation metric, a wall-clock cap, and the best weights restored at the end."""

from __future__ import annotations

import copy
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
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


def fit(
    model: nn.Module, task: Task, train: TrainConfig, *, label: str = "", progress: bool = True
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
            loss = task.loss(model, batch)
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
