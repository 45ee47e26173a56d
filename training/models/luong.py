"""Luong, Pham, Manning 2015 on Multi30k English -> German: an LSTM encoder-decoder with input
feeding and one attention per served model — global attention with the dot, general, concat or
location score, and local attention, local-m and local-p, with the general score.

    h_t = LSTM([E y_{t-1}; h̃_{t-1}], (h_{t-1}, c_{t-1}))      input feeding
    c_t = Σ_s a_t(s) h̄_s                                      the attention (see training/attention)
    h̃_t = tanh(W_c [c_t; h_t]),   p(y_t) = softmax(W_s h̃_t)

The encoder is bidirectional (1 layer; shared/notes/training-budget.md); its states are projected
to the decoder size, h̄_s = W_m [→h_s; ←h_s], so that the dot score applies. (h_0, c_0) come from
the encoder summary [→h_S; ←h_1]. Each of the six variants is its own served model, built from
one :class:`LuongConfig` (``score``, ``local``). Local attention's window is D = 5 (the paper: 10
on WMT'14, whose sentences are about twice as long as Multi30k's).

Legend: B batch, S source length, E embedding dim, H hidden dim, M encoder state dim.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from taxonomy.axes import Architecture
from taxonomy.card import Citation, Facets
from training.attention.local import LocalAttention
from training.attention.luong import GlobalAttention
from training.data.tokenizer import PAD
from training.models import recurrent
from training.models.recurrent import Encoded, Encoder, RecurrentConfig, RecurrentTranslator, State
from training.registry import register
from training.spec import CardInfo, ModelSpec


@dataclass
class LuongConfig(RecurrentConfig):
    score: str = "general"  # dot | general | concat | location (global); general for local
    local: str | None = None  # None (global) | "monotonic" (local-m) | "predictive" (local-p)
    window: int = 5  # D: local attention covers [p_t - D, p_t + D]
    attention_dim: int | None = None  # concat's A; None = hidden


class LuongDecoder(recurrent.StepDecoder):
    def __init__(self, cfg: LuongConfig, memory_dim: int) -> None:
        super().__init__()
        E, H, V = cfg.embed, cfg.hidden, cfg.data.vocab_size
        self.embed = nn.Embedding(V, E, padding_idx=PAD)
        self.memory_proj = nn.Linear(memory_dim, H, bias=False)  # W_m
        self.init_h = recurrent.bridge(memory_dim, H)
        self.init_c = recurrent.bridge(memory_dim, H)
        self.monotonic = cfg.local == "monotonic"
        self.attention: GlobalAttention | LocalAttention
        if cfg.local is None:
            self.attention = GlobalAttention(
                cfg.score,
                H,
                attention_dim=cfg.attention_dim,
                max_positions=cfg.max_source_length,
            )
        else:
            if cfg.score != "general":
                raise ValueError("local attention here uses the general score")
            self.attention = LocalAttention(cfg.local, H, cfg.window)
        self.cell = nn.LSTMCell(E + H, H)
        self.combine = nn.Linear(2 * H, H, bias=False)  # W_c
        self.out = nn.Linear(H, V)  # W_s
        self.drop = nn.Dropout(cfg.dropout)

    def start(self, encoded: Encoded) -> tuple[State, State]:
        states = self.memory_proj(encoded.states)  # (B, S, H): h̄_s
        keys = self.attention.prepare(states)  # (B, S, ·), once per sentence
        mask = encoded.keep.unsqueeze(1)  # (B, 1, S)
        h0 = torch.tanh(self.init_h(encoded.summary))  # (B, H)
        c0 = self.init_c(encoded.summary)  # (B, H)
        return (keys, states, mask), (h0, c0, torch.zeros_like(h0))

    def step(
        self, e: Tensor, t: Tensor, state: State, memory: State
    ) -> tuple[Tensor, Tensor | None, State]:
        h, c, feed = state  # (B, H) each; feed = h̃_{t-1}; e (B, E) = E y_{t-1}
        keys, values, mask = memory
        x = torch.cat([e, feed], dim=-1)  # (B, E + H)
        h, c = self.cell(x, (h, c))
        query = h.unsqueeze(1)  # (B, 1, H)
        if self.monotonic:
            position = t.to(h.dtype).reshape(1, 1)  # p_t = t, broadcast to (B, 1)
            context, weights = self.attention(query, keys, values, mask, position)
        else:
            context, weights = self.attention(query, keys, values, mask)  # (B, 1, H), (B, 1, S)
        attentional = torch.tanh(self.combine(torch.cat([context.squeeze(1), h], dim=-1)))
        return attentional, weights.squeeze(1), (h, c, attentional)


def build(cfg: LuongConfig) -> nn.Module:
    encoder = Encoder(
        cfg.data.vocab_size, cfg.embed, cfg.hidden, "lstm", cfg.bidirectional, cfg.dropout
    )
    return RecurrentTranslator(cfg, encoder, LuongDecoder(cfg, encoder.out_dim))


CITATION = Citation(
    title="Effective Approaches to Attention-based Neural Machine Translation",
    authors=["Minh-Thang Luong", "Hieu Pham", "Christopher D. Manning"],
    year=2015,
    venue="EMNLP",
    arxiv="1508.04025",
)

# name -> (score, local, title, the paper's WMT'14 En->De BLEU in Table 4 or None)
VARIANTS: dict[str, tuple[str, str | None, str, float | None]] = {
    "luong-dot": ("dot", None, "global attention, dot score", 18.6),
    "luong-general": ("general", None, "global attention, general score", 17.3),
    "luong-concat": ("concat", None, "global attention, concat score", None),
    "luong-location": ("location", None, "global attention, location score", 18.1),
    "luong-local-m": ("general", "monotonic", "local-m attention, general score", 18.6),
    "luong-local-p": ("general", "predictive", "local-p attention, general score", 19.0),
}


def _notes(wmt_bleu: float | None) -> str:
    paper = (
        f"The paper's Table 4 reports {wmt_bleu} BLEU for this variant on WMT'14 English -> "
        "German (4-layer LSTMs, other data): a reference, not comparable."
        if wmt_bleu is not None
        else "Table 4 of the paper has no row for this variant."
    )
    return "Greedy decoding inside the graph (ONNX Loop), input feeding. " + paper


for _name, (_score, _local, _title, _bleu) in VARIANTS.items():
    register(
        ModelSpec(
            name=_name,
            config=functools.partial(LuongConfig, score=_score, local=_local),
            presets=recurrent.PRESETS,
            build=build,
            task=recurrent.make_task,
            export=recurrent.export_spec,
            evaluate=recurrent.evaluate,
            card=CardInfo(
                title=f"Luong et al.: {_title} (English -> German)",
                citation=CITATION,
                task="machine translation (greedy decoding)",
                dataset="Multi30k task 1, English -> German",
                structure=Facets(architecture=frozenset({Architecture.ENCODER_DECODER})),
                notes=_notes(_bleu),
            ),
            datasets=("multi30k",),
        )
    )
