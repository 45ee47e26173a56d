"""Greedy decoding inside the served graph, shared by every translation model (the Transformer
and the recurrent encoder-decoders): the loop runs as ``torch._higher_order_ops.while_loop``
while exporting (one ONNX ``Loop``) and as the same body stepped in Python eagerly.

Every row decodes as if it were alone in its batch, so that requests of different lengths can
share one run (``ModelIO.ragged_batching``; the server pads their sources with [PAD] and crops
the outputs back):

* a row stops at its own limit: after [EOS], or after ``own source length + extra`` tokens, its
  own length being its count of non-[PAD] tokens (not the batch's padded width);
* [PAD] and [BOS] are never emitted (their logits are masked), so a row's decoded length is
  the position of its last non-[PAD] token;
* the outputs end at the last step run: a batch of one row has no trailing [PAD] column, and a
  batch's width is its longest row's decoded length.

A model supplies one decoder step, ``step(t, ids, state) -> (logits (B, V), attention row
(B, S) or None, next state)``, given the 0-dim step index t, the ids so far (B, steps + 1)
([BOS] then the tokens emitted, [PAD] after them) and its recurrent state (a tuple, possibly
empty).

Legend: B batch, S source length, T output length, V vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
from torch import Tensor
from torch._higher_order_ops import while_loop

from training.attention.base import exporting
from training.data.tokenizer import BOS, EOS, PAD

State = tuple[Tensor, ...]
Step = Callable[[Tensor, Tensor, State], tuple[Tensor, Tensor | None, State]]


def next_tokens(logits: Tensor, done: Tensor) -> Tensor:
    """The argmax of logits (B, V) over every token but [PAD] and [BOS]; [PAD] for finished
    rows (done (B,) bool) -> (B,) int64."""
    vocab = torch.arange(logits.shape[-1])  # (V,)
    banned = (vocab == PAD) | (vocab == BOS)  # (V,)
    nxt = logits.masked_fill(banned, float("-inf")).argmax(-1)  # (B,)
    return torch.where(done, torch.full_like(nxt, PAD), nxt)


def greedy(
    source_ids: Tensor, extra: int, step: Step, state: State, attends: bool
) -> tuple[Tensor, Tensor]:
    """Decode a batch of sources (B, S) ([PAD] = 0 after each row's tokens). Returns the
    output ids (B, T) - the tokens after [BOS], [EOS] included, [PAD] after a row's end - and
    the attention rows (B, T, S) (zero after a row's end; (B, T, 0) when ``attends`` is
    False). T = the steps run: the longest row's decoded length, at most S + ``extra``."""
    B, S = source_ids.shape
    steps = S + extra
    limits = (source_ids != PAD).long().sum(1) + extra  # (B,): each row's own output limit
    ids = torch.cat(  # (B, steps + 1): [BOS] then room for the output
        [
            torch.full((B, 1), BOS, dtype=torch.long),
            torch.full((B, steps), PAD, dtype=torch.long),
        ],
        dim=1,
    )
    attention = torch.zeros(B, steps, S if attends else 0)  # (B, steps, S)
    t = torch.zeros((), dtype=torch.long)
    done = torch.zeros(B, dtype=torch.bool)

    def running(t: Tensor, ids: Tensor, attention: Tensor, done: Tensor, *s: Tensor) -> Tensor:
        return (t < steps) & ~done.all()

    def advance(
        t: Tensor, ids: Tensor, attention: Tensor, done: Tensor, *s: Tensor
    ) -> tuple[Tensor, ...]:
        logits, weights, s = step(t, ids, s)  # (B, V), (B, S) or None
        nxt = next_tokens(logits, done)  # (B,)
        at = t.reshape(1)
        ids = ids.index_copy(1, at + 1, nxt[:, None])
        if weights is not None:
            row = torch.where(done[:, None], torch.zeros_like(weights), weights)  # (B, S)
            attention = attention.index_copy(1, at, row[:, None])
        done = done | (nxt == EOS) | (t + 1 >= limits)
        fresh = tuple(x.clone() for x in s)
        return (t + 1, ids.clone(), attention.clone(), done.clone(), *fresh)

    carried: tuple[Tensor, ...] = (t, ids, attention, done, *state)
    if exporting():  # one ONNX Loop in the graph
        carried = while_loop(running, advance, carried)
    else:  # the same body stepped in Python (an eager while_loop compiles its body first)
        while bool(running(*carried)):
            carried = advance(*carried)
    t, ids, attention = carried[:3]
    run = cast(int, t.item())  # the steps run (an unbacked SymInt while exporting)
    torch._check(run >= 0)
    torch._check(run <= steps)
    return ids.narrow(1, 1, run), attention.narrow(1, 0, run)  # (B, T), (B, T, S)
