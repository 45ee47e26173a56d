from dataclasses import dataclass, field

import pytest

from training.config import TrainConfig, fingerprint, from_dict, to_dict, with_overrides


@dataclass
class Cfg:
    width: int = 4
    train: TrainConfig = field(default_factory=TrainConfig)


def test_overrides_nest_and_round_trip() -> None:
    cfg = with_overrides(Cfg(), {"width": 8, "train": {"epochs": 3}})
    assert cfg.width == 8 and cfg.train.epochs == 3 and cfg.train.lr == TrainConfig().lr
    assert from_dict(Cfg, to_dict(cfg)) == cfg
    assert fingerprint(cfg) != fingerprint(Cfg())


def test_unknown_keys_fail_with_valid_names() -> None:
    with pytest.raises(ValueError, match="valid keys: .*width"):
        with_overrides(Cfg(), {"depth": 2})
    with pytest.raises(ValueError, match="unknown config keys"):
        from_dict(Cfg, {"depth": 2})
