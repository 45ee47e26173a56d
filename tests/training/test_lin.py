"""Lin et al.'s structured self-attentive model learns the generated deciding-sentence task with
its default penalty coefficient (the paper's 1.0 kept it at chance there: see training/models/lin.py).
"""

from __future__ import annotations

from pathlib import Path

from attentive.settings import Settings
from export.build import preset_config
from training import registry
from training.config import with_overrides
from training.tasks.documents import DATA_SETTINGS
from training.trainer import fit, seed_everything


def test_lin_learns_the_deciding_sentence_task(tmp_path: Path) -> None:
    spec = registry.get("lin")
    config = with_overrides(
        preset_config(spec, "full"),
        {
            "data": {**DATA_SETTINGS["deciding_sentence"], "train_limit": 3000, "eval_limit": 300},
            "train": {"epochs": 2, "max_minutes": 1.0, "patience": None},
        },
    )
    task = spec.task(config, Settings().data, tmp_path)
    seed_everything(0)
    model = spec.build(config)
    result = fit(model, task, config.train, label="lin")
    assert result.best["val_accuracy"] > 0.9  # chance is 0.25; a bag of words gets ~0.49
