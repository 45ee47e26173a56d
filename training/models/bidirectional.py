"""A bidirectional GRU / LSTM over padded rows, for the document models (HAN at both levels, Lin
et al.'s BiLSTM): the backward RNN reads every row reversed *within its length*
(:func:`training.models.recurrent.reverse_within_length`), so padding is read last and never
reaches a real position's state. Rows of length 0 (HAN's empty sentence slots) are allowed.

Legend: B rows, N positions, E input features, H hidden per direction.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from training.models.recurrent import reverse_within_length


class BiRNN(nn.Module):
    def __init__(self, features: int, hidden: int, cell: str) -> None:
        super().__init__()
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.forward_rnn = rnn(features, hidden, batch_first=True)
        self.backward_rnn = rnn(features, hidden, batch_first=True)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        """x (B, N, E), lengths (B,) int64 -> [forward ‖ backward] states (B, N, 2H)."""
        ahead = self.forward_rnn(x)[0]  # (B, N, H)
        behind = self.backward_rnn(reverse_within_length(x, lengths))[0]  # (B, N, H), reversed
        return torch.cat([ahead, reverse_within_length(behind, lengths)], dim=-1)  # (B, N, 2H)
