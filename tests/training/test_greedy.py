"""The greedy loop every translation model serves (training/models/greedy.py): each row stops at
[EOS] or at its own source length + extra, never emits [PAD] or [BOS], the outputs end at the
last step run, and a row decodes the same padded into a batch as alone (hand-made decoders, and
untrained tiny Transformer and recurrent models)."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from training.config import with_overrides
from training.data.tokenizer import BOS, EOS, PAD
from training.models import greedy, luong, recurrent, transformer
from training.models.recurrent import GreedyRecurrent
from training.models.transformer import GreedyTranslator

V = 8
WORD = 5
SOURCES = torch.tensor([[7, 6, 0, 0, 0, 0], [7, 6, 6, 6, 0, 0]])  # (2, 6): lengths 2 and 4


def keen_on_specials(t: Tensor, ids: Tensor, state: greedy.State) -> tuple:
    """[PAD] and [BOS] score highest, then WORD: greedy must pick WORD. Attention row 1."""
    logits = torch.zeros(ids.shape[0], V)
    logits[:, PAD], logits[:, BOS], logits[:, WORD] = 9.0, 8.0, 1.0
    return logits, torch.ones(ids.shape[0], SOURCES.shape[1]), state


def test_rows_stop_at_their_own_length_and_never_emit_pad_or_bos() -> None:
    ids, attention = greedy.greedy(SOURCES, 1, keen_on_specials, (), True)
    # limits 2 + 1 and 4 + 1; the batch's width 6 + 1 is never reached: T = 5
    assert ids.tolist() == [[WORD] * 3 + [PAD] * 2, [WORD] * 5]
    assert attention.shape == (2, 5, 6)
    assert attention.sum(-1).tolist() == [[6.0] * 3 + [0.0] * 2, [6.0] * 5]


def test_a_row_stops_at_eos_and_the_output_ends_at_the_last_step_run() -> None:
    def eos_second(t: Tensor, ids: Tensor, state: greedy.State) -> tuple:
        logits = torch.zeros(ids.shape[0], V)
        logits[:, WORD if int(t) == 0 else EOS] = 1.0
        return logits, None, state

    ids, attention = greedy.greedy(SOURCES, 3, eos_second, (), False)
    assert ids.tolist() == [[WORD, EOS], [WORD, EOS]]  # no [PAD] column after the last step
    assert attention.shape == (2, 2, 0)


def test_state_is_carried_from_step_to_step() -> None:
    def count(t: Tensor, ids: Tensor, state: greedy.State) -> tuple:
        (n,) = state  # (B,)
        logits = torch.nn.functional.one_hot(n.clamp(max=V - 1), V).float()  # picks n
        return logits, None, (n + 1,)

    ids, _ = greedy.greedy(SOURCES, 2, count, (torch.tensor([3, 5]),), False)
    assert ids.tolist() == [[3, 4, 5, 6, PAD, PAD], [5, 6, 7, 7, 7, 7]]  # limits 4 and 6


def _served(name: str) -> torch.nn.Module:
    """An untrained tiny model's served graph (eager): random tokens, rarely [EOS]."""
    torch.manual_seed(0)
    if name == "transformer":
        cfg = with_overrides(transformer.TransformerConfig(), transformer.PRESETS["tiny"])
        return GreedyTranslator(transformer.build(cfg)).eval()
    tiny = with_overrides(luong.LuongConfig(local=name), recurrent.PRESETS["tiny"])
    return GreedyRecurrent(luong.build(tiny)).eval()  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["transformer", "predictive", "monotonic"])
def test_padded_rows_decode_as_alone(name: str) -> None:
    served = _served(name)
    extra = served.model.cfg.extra_output_tokens
    rows = [[BOS, 11, 12, EOS], [BOS, 13, 14, 15, 16, 17, 18, EOS], [BOS, EOS]]
    batch = torch.zeros(3, 8, dtype=torch.long)  # (3, 8), [PAD] = 0
    for i, r in enumerate(rows):
        batch[i, : len(r)] = torch.tensor(r)
    with torch.no_grad():
        ids, attention = served(batch)
        for i, r in enumerate(rows):
            alone_ids, alone_attention = served(torch.tensor([r]))
            t, s = alone_ids.shape[1], len(r)
            assert alone_ids[0, -1] != PAD
            assert t <= s + extra
            assert torch.equal(ids[i, :t], alone_ids[0])
            assert (ids[i, t:] == PAD).all()
            assert torch.allclose(attention[i, :t, :s], alone_attention[0], atol=1e-5)
            assert (attention[i, :, s:] == 0).all() and (attention[i, t:] == 0).all()
    assert (ids[:, -1] != PAD).any() and not (ids == BOS).any()
