"""The memory network: position encoding by hand, the story cut into memory slots, padding slots
at zero attention, the training path equal to the exported one, shapes, and linear start's
switch (and learning rates) driven by the validation loss."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from attentive.settings import Settings
from training.attention.base import onnx_export_mode
from training.config import with_overrides
from training.data.babi import PAD, SEP
from training.models.memn2n import PRESETS, MemN2N, MemN2NConfig, position_encoding, story_layout
from training.tasks.babi_qa import BabiTask

DATA = Settings().data
needs_babi = pytest.mark.skipif(
    not (DATA / "babi" / "en").is_dir(), reason="bAbI is not in the data directory"
)


def test_position_encoding_by_hand() -> None:
    # l_kj = (1 - j/J) - (k/d)(1 - 2j/J), d = 2
    j = torch.tensor([1.0, 2.0, 1.0])
    length = torch.tensor([2.0, 2.0, 3.0])
    expected = torch.tensor(
        [
            [0.5, 0.5],  # j=1, J=2: 1/2 - (k/2)·0
            [0.5, 1.0],  # j=2, J=2: 0 - (k/2)(1 - 2) = k/2
            [0.5, 1 / 3],  # j=1, J=3: 2/3 - (k/2)(1/3)
        ]
    )
    assert torch.allclose(position_encoding(j, length, 2), expected, atol=1e-6)


def test_story_is_cut_into_the_last_slots() -> None:
    # words 10.. ; sentences [10 11] [12] [] [13 14 15], then padding; 2 slots keep the last two
    story = torch.tensor([[10, 11, SEP, 12, SEP, SEP, 13, 14, 15, SEP, PAD]])
    layout = story_layout(story, 2)
    assert layout.mask.tolist() == [[True, True]]  # slot 0: the empty sentence (a memory, as RN's)
    assert layout.inside.tolist() == [[False] * 6 + [True] * 3 + [False] * 2]
    assert layout.slot[0, 6:9].tolist() == [1, 1, 1]
    assert layout.j[0, 6:9].tolist() == [1.0, 2.0, 3.0]
    assert layout.length[0, 6:9].tolist() == [3.0, 3.0, 3.0]
    assert layout.recency.tolist() == [[1, 0]]  # slot 1 is the newest sentence
    wide = story_layout(story, 5)  # room for all four: slots 0-3 hold them, slot 4 is padding
    assert wide.mask.tolist() == [[True, True, True, True, False]]
    assert wide.slot[0, :5].tolist() == [0, 0, 0, 1, 1]
    assert wide.recency.tolist() == [[3, 2, 1, 0, 0]]


def _tiny() -> MemN2NConfig:
    return with_overrides(MemN2NConfig(), {**PRESETS["tiny"], "vocab_size": 32, "memory": 6})


def _stories() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    rows = []
    for sentences in (1, 3, 9):  # 9 > 6 slots: the oldest fall out of memory
        row: list[int] = []
        for _ in range(sentences):
            row += torch.randint(
                5, 32, (int(torch.randint(1, 5, (1,), generator=g)),), generator=g
            ).tolist()
            row.append(SEP)
        rows.append(row)
    width = max(len(r) for r in rows)
    story = torch.tensor([r + [PAD] * (width - len(r)) for r in rows])  # (3, T)
    question = torch.tensor([[7, 8, 9], [10, 11, PAD], [12, PAD, PAD]])  # (3, W)
    return story, question


def test_shapes_and_padding_slots_get_zero_attention() -> None:
    torch.manual_seed(0)
    cfg = _tiny()
    model = MemN2N(cfg).eval()
    story, question = _stories()
    with torch.no_grad():
        probabilities, answer, attention = model(story, question)
    assert probabilities.shape == (3, 32) and answer.shape == (3, 1)
    assert attention.shape == (3, cfg.hops, cfg.memory)
    assert torch.allclose(probabilities.sum(-1), torch.ones(3))
    assert torch.equal(answer[:, 0], probabilities.argmax(-1))
    assert (attention[0, :, 1:] == 0).all()  # one sentence: slots 1.. are padding
    assert (attention[1, :, 3:] == 0).all()
    assert (attention[2] > 0).all()  # nine sentences fill all six slots
    assert torch.allclose(attention.sum(-1), torch.ones(3, cfg.hops))


def test_training_path_equals_the_exported_one() -> None:
    torch.manual_seed(1)
    model = MemN2N(_tiny()).eval()
    story, question = _stories()
    with torch.no_grad():  # the memories: the hops mark their ONNX boundary while exporting
        trained, mask = model.memories(story)  # embedding bags, PE split in two scalar weights
        with onnx_export_mode():
            exported, same_mask = model.memories(story)  # one-hot sums of l_j ⊙ A x_j
    assert torch.allclose(trained, exported, atol=1e-6)
    assert torch.equal(mask, same_mask)
    first = story_layout(story, 6)
    A = model.embed[:, : model.cfg.dim]  # (V, D)
    newest = (first.slot[2] == 5) & first.inside[2]  # the third story's last sentence
    pe = position_encoding(first.j[2, newest], first.length[2, newest], model.cfg.dim)  # (J, D)
    by_hand = (pe * A[story[2, newest]]).sum(0) + model.temporal[0, : model.cfg.dim]
    assert torch.allclose(trained[2, 5, : model.cfg.dim], by_hand, atol=1e-6)


def test_older_sentences_do_not_change_the_answer_once_out_of_memory() -> None:
    torch.manual_seed(2)
    model = MemN2N(_tiny()).eval()
    story, question = _stories()
    longer = torch.cat([torch.tensor([[20, 21, SEP]]), story[2:]], dim=1)  # one more, oldest
    with torch.no_grad():
        a = model.logits(story[2:], question[2:])[0]
        b = model.logits(longer, question[2:])[0]
    assert torch.allclose(a, b, atol=1e-6)


@needs_babi
def test_linear_start_switches_when_validation_loss_stops_falling(tmp_path: Path) -> None:
    cfg = with_overrides(
        _tiny(),
        {
            "vocab_size": 192,
            "memory": 50,
            "ls_max_epochs": 10,
            "ls_lr": 0.005,
            "optimizer": "sgd",
            "anneal_every": 2,
            "train": {"lr": 0.01},
        },
    )
    task = BabiTask(cfg, DATA, tmp_path)
    model = MemN2N(cfg)
    optimizer, _ = task.optimizer(model, cfg.train)
    losses = iter([3.0, 2.0, 2.5])  # the linear model's validation loss, epoch by epoch
    task.evaluate = lambda m, linear: (next(losses), 0.5) if linear else (1.0, 0.4)  # type: ignore[method-assign]
    seen = []
    for epoch in range(6):
        next(iter(task.batches("train", epoch)))
        seen.append((task.linear, optimizer.param_groups[0]["lr"]))
        if epoch < 3:
            metrics = task.validate(model)
            assert metrics["val_score"] == pytest.approx(0.4 - 1.0)  # an LS epoch never wins
    assert seen == [
        (True, 0.005),
        (True, 0.005),
        (True, 0.005),
        (False, 0.01),
        (False, 0.01),
        (False, 0.005),
    ]
    assert task.validate(model)["val_score"] == pytest.approx(0.4)


@needs_babi
def test_random_noise_inserts_empty_memories(tmp_path: Path) -> None:
    task = BabiTask(with_overrides(_tiny(), {"vocab_size": 192}), DATA, tmp_path)
    q = max(task.train, key=lambda q: len(q.story))
    plain = task.story_ids(q)
    noisy = task.story_ids(q, 0.5, random.Random(0))
    seps = plain.count(SEP)
    assert seps == min(len(q.story), task.cfg.memory) and noisy.count(SEP) > seps
    assert [t for t in noisy if t != SEP] == [t for t in plain if t != SEP]


@needs_babi
def test_linear_start_ends_after_its_share_of_the_time_cap(tmp_path: Path) -> None:
    cfg = with_overrides(_tiny(), {"vocab_size": 192, "ls_max_epochs": 10})
    task = BabiTask(cfg, DATA, tmp_path)
    model = MemN2N(cfg)
    task.optimizer(model, with_overrides(cfg.train, {"max_minutes": 1.0}))
    losses = iter([3.0, 2.0])  # still falling
    task.evaluate = lambda m, linear: (next(losses), 0.5) if linear else (1.0, 0.4)  # type: ignore[method-assign]
    task.validate(model)
    assert task.linear
    task.started -= 0.3 * 60 + 1  # 30 % of the one-minute cap is used
    task.validate(model)
    assert not task.linear and task.switch_epoch == 1
