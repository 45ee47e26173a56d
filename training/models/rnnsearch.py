"""RNNsearch (Bahdanau, Cho, Bengio 2015) on Multi30k English -> German.

Bidirectional GRU encoder (annotations h_j = [→h_j; ←h_j]), GRU decoder whose state s_{i-1}
attends over the annotations with the additive score e_ij = vᵀ tanh(W s_{i-1} + U h_j)
(ONNX local function ``AdditiveAttention``, inside the greedy Loop):

    c_i = Σ_j α_ij h_j,   s_i = GRU([E y_{i-1}; c_i], s_{i-1}),
    p(y_i) = softmax(W_o tanh(W_r [s_i; c_i; E y_{i-1}]))

s_0 = tanh(W_s [→h_S; ←h_1]). The readout is a one-layer tanh (the paper uses a maxout layer).
Served like the Transformer: source ids (or text) -> output ids, text and the attention matrix.

Legend: B batch, S source length, E embedding dim, H hidden dim, M = 2H annotation dim.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from taxonomy.axes import Architecture
from taxonomy.card import Citation, Facets
from training.attention.additive import AdditiveAttention
from training.data.tokenizer import PAD
from training.models import recurrent
from training.models.recurrent import Encoded, Encoder, RecurrentConfig, RecurrentTranslator, State
from training.registry import register
from training.spec import CardInfo, ModelSpec


@dataclass
class RNNsearchConfig(RecurrentConfig):
    attention_dim: int | None = None  # A of the additive score; None = hidden


class BahdanauDecoder(recurrent.StepDecoder):
    def __init__(self, cfg: RNNsearchConfig, memory_dim: int) -> None:
        super().__init__()
        E, H, V = cfg.embed, cfg.hidden, cfg.data.vocab_size
        self.embed = nn.Embedding(V, E, padding_idx=PAD)
        self.init = recurrent.bridge(memory_dim, H)  # W_s
        self.attention: AdditiveAttention = AdditiveAttention(H, memory_dim, cfg.attention_dim or H)
        self.cell = nn.GRUCell(E + memory_dim, H)
        self.readout = nn.Linear(H + memory_dim + E, H)  # W_r
        self.out = nn.Linear(H, V)  # W_o
        self.drop = nn.Dropout(cfg.dropout)

    def start(self, encoded: Encoded) -> tuple[State, State]:
        keys = self.attention.prepare(encoded.states)  # (B, S, A): U h_j, once per sentence
        mask = encoded.keep.unsqueeze(1)  # (B, 1, S)
        s0 = torch.tanh(self.init(encoded.summary))  # (B, H)
        return (keys, encoded.states, mask), (s0,)

    def step(
        self, e: Tensor, t: Tensor, state: State, memory: State
    ) -> tuple[Tensor, Tensor | None, State]:
        (s,) = state  # (B, H): s_{i-1}; e (B, E) = E y_{i-1}
        keys, values, mask = memory
        context, weights = self.attention(s.unsqueeze(1), keys, values, mask)  # (B, 1, M)
        c = context.squeeze(1)  # (B, M)
        s = self.cell(torch.cat([e, c], dim=-1), s)  # (B, H)
        r = torch.tanh(self.readout(torch.cat([s, c, e], dim=-1)))  # (B, H)
        return r, weights.squeeze(1), (s,)


def build(cfg: RNNsearchConfig) -> nn.Module:
    encoder = Encoder(
        cfg.data.vocab_size, cfg.embed, cfg.hidden, "gru", cfg.bidirectional, cfg.dropout
    )
    return RecurrentTranslator(cfg, encoder, BahdanauDecoder(cfg, encoder.out_dim))


SPEC = register(
    ModelSpec(
        name="rnnsearch",
        config=RNNsearchConfig,
        presets=recurrent.PRESETS,
        build=build,
        task=recurrent.make_task,
        export=recurrent.export_spec,
        evaluate=recurrent.evaluate,
        card=CardInfo(
            title="RNNsearch: additive attention (English -> German)",
            citation=Citation(
                title="Neural Machine Translation by Jointly Learning to Align and Translate",
                authors=["Dzmitry Bahdanau", "Kyunghyun Cho", "Yoshua Bengio"],
                year=2015,
                venue="ICLR",
                arxiv="1409.0473",
            ),
            task="machine translation (greedy decoding)",
            dataset="Multi30k task 1, English -> German",
            structure=Facets(architecture=frozenset({Architecture.ENCODER_DECODER})),
            notes=(
                "Greedy decoding inside the graph (ONNX Loop); the attention row of each output "
                "step is the distribution over source tokens used to produce it. The paper's "
                "figures are on WMT'14 English -> French and are not comparable."
            ),
        ),
        datasets=("multi30k",),
    )
)
