"""The baseline without attention: an RNN encoder-decoder that compresses the source into one
fixed vector (Cho et al. 2014; Sutskever et al. 2014), on Multi30k English -> German.

The same bidirectional GRU encoder as RNNsearch; the context c = tanh(V [→h_S; ←h_1]) is the
*only* thing the decoder sees of the source, at every step (Cho et al.'s RNN Encoder-Decoder):

    s_0 = tanh(W_0 c),   s_i = GRU([E y_{i-1}; c], s_{i-1}),
    p(y_i) = softmax(W_o tanh(W_r [s_i; c; E y_{i-1}]))

Served with output ids and text only: there is no attention to return, its card has no
attention layers and its tags have no attention axes.

Legend: B batch, E embedding dim, H hidden dim, M encoder summary dim.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from taxonomy.axes import Architecture
from taxonomy.card import Citation, Facets
from training.data.tokenizer import PAD
from training.models import recurrent
from training.models.recurrent import Encoded, Encoder, RecurrentConfig, RecurrentTranslator, State
from training.registry import register
from training.spec import CardInfo, ModelSpec


class FixedVectorDecoder(recurrent.StepDecoder):
    def __init__(self, cfg: RecurrentConfig, memory_dim: int) -> None:
        super().__init__()
        E, H, V = cfg.embed, cfg.hidden, cfg.data.vocab_size
        self.attention = None
        self.embed = nn.Embedding(V, E, padding_idx=PAD)
        self.context = nn.Linear(memory_dim, H)  # V
        self.init = nn.Linear(H, H)  # W_0
        self.cell = nn.GRUCell(E + H, H)
        self.readout = nn.Linear(2 * H + E, H)  # W_r
        self.out = nn.Linear(H, V)  # W_o
        self.drop = nn.Dropout(cfg.dropout)

    def start(self, encoded: Encoded) -> tuple[State, State]:
        c = torch.tanh(self.context(encoded.summary))  # (B, H): the fixed vector
        return (c,), (torch.tanh(self.init(c)),)

    def step(
        self, e: Tensor, t: Tensor, state: State, memory: State
    ) -> tuple[Tensor, Tensor | None, State]:
        (s,), (c,) = state, memory  # (B, H), (B, H); e (B, E) = E y_{i-1}
        s = self.cell(torch.cat([e, c], dim=-1), s)  # (B, H)
        r = torch.tanh(self.readout(torch.cat([s, c, e], dim=-1)))  # (B, H)
        return r, None, (s,)


def build(cfg: RecurrentConfig) -> nn.Module:
    encoder = Encoder(
        cfg.data.vocab_size, cfg.embed, cfg.hidden, "gru", cfg.bidirectional, cfg.dropout
    )
    return RecurrentTranslator(cfg, encoder, FixedVectorDecoder(cfg, encoder.out_dim))


SPEC = register(
    ModelSpec(
        name="seq2seq",
        config=RecurrentConfig,
        presets=recurrent.PRESETS,
        build=build,
        task=recurrent.make_task,
        export=recurrent.export_spec,
        evaluate=recurrent.evaluate,
        card=CardInfo(
            title="RNN encoder-decoder without attention (English -> German)",
            citation=Citation(
                title=(
                    "Learning Phrase Representations using RNN Encoder-Decoder for Statistical "
                    "Machine Translation"
                ),
                authors=[
                    "Kyunghyun Cho",
                    "Bart van Merrienboer",
                    "Caglar Gulcehre",
                    "Dzmitry Bahdanau",
                    "Fethi Bougares",
                    "Holger Schwenk",
                    "Yoshua Bengio",
                ],
                year=2014,
                venue="EMNLP",
                arxiv="1406.1078",
            ),
            task="machine translation (greedy decoding)",
            dataset="Multi30k task 1, English -> German",
            structure=Facets(architecture=frozenset({Architecture.ENCODER_DECODER})),
            notes=(
                "The baseline the attention models are measured against: no attention (no "
                "attention layers, no attention output); the source reaches the decoder only as "
                "one fixed vector. See also Sutskever, Vinyals, Le 2014 (arXiv:1409.3215)."
            ),
        ),
        datasets=("multi30k",),
    )
)
