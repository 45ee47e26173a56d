"""Transformer (Vaswani et al. 2017) on Multi30k English -> German.

Post-norm encoder-decoder, sinusoidal positions, one shared BPE vocabulary with tied input and
output embeddings. Its three kinds of attention are all scaled dot-product attention and export
as the standard ONNX ``Attention`` op: encoder self-attention, causal decoder self-attention and
encoder-decoder (cross) attention.

Served as one graph: ``source_ids (B, S) -> output_ids (B, T), cross_attention (B, T, S)`` with
the greedy loop inside the graph (an ONNX ``Loop``), so that any KServe v2 / Triton client gets a
translation in one request and Triton itself can serve the same file.

Legend: B batch, S source length, T target length, D model dim, H heads, V vocabulary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from taxonomy.axes import Architecture, Sequences
from taxonomy.card import Citation, Facets, Metric
from training.attention.scaled_dot_product import MultiHeadAttention
from training.config import TrainConfig
from training.data.tokenizer import PAD
from training.models import greedy
from training.registry import register
from training.spec import CardInfo, ExportSpec, ModelSpec
from training.tasks import translation
from training.tasks.translation import TranslationData, TranslationTask


@dataclass
class TransformerConfig:
    d_model: int = 256
    heads: int = 4
    encoder_layers: int = 3
    decoder_layers: int = 3
    d_ff: int = 512
    dropout: float = 0.1
    max_positions: int = 256
    extra_output_tokens: int = 16  # served output length limit: source length + this
    data: TranslationData = field(default_factory=TranslationData)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=30, lr=1e-3, clip_norm=1.0, patience=5, max_minutes=45
        )
    )


PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "d_model": 32,
        "heads": 2,
        "encoder_layers": 1,
        "decoder_layers": 1,
        "d_ff": 64,
        "extra_output_tokens": 4,
        "data": {"vocab_size": 300, "train_limit": 600, "eval_limit": 40, "max_length": 24},
        "train": {"epochs": 2, "max_minutes": 0.5},
    },
    # quick: 2.5 min on one thread (make run builds two models at once). The full architecture
    # got ~1 epoch in its budget on a CPU thread (BLEU ~1). A half-width (d_model 128),
    # 2+2-layer model without dropout (a short run is far from overfitting) and with a 2k
    # vocabulary (a cheaper output layer) reached test BLEU 14.0 after 2.5 min; with dropout 0.1
    # and 4k ids it was 7.5 after 2.5 min and ~15 after 4 (first 300 test sentences: quick
    # builds evaluate on those; `bench quality --preset full` evaluates on all of them).
    "quick": {
        "d_model": 128,
        "encoder_layers": 2,
        "decoder_layers": 2,
        "dropout": 0.0,
        "data": {"vocab_size": 2000, "max_tokens": 1024, "warmup_steps": 100, "eval_limit": 300},
        "train": {"epochs": 10, "max_minutes": 2.5, "lr": 2e-3},
    },
    "full": {},
}


def sinusoidal(positions: int, d_model: int) -> Tensor:
    pos = torch.arange(positions, dtype=torch.float32)[:, None]  # (P, 1)
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(1e4) / d_model))
    table = torch.zeros(positions, d_model)  # (P, D)
    table[:, 0::2] = torch.sin(pos * div)
    table[:, 1::2] = torch.cos(pos * div)
    return table


class FeedForward(nn.Sequential):
    def __init__(self, d_model: int, d_ff: int, dropout: float) -> None:
        super().__init__(
            nn.Linear(d_model, d_ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model)
        )


class EncoderLayer(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(
            cfg.d_model, cfg.heads, Sequences.SELF, "source token", "source tokens"
        )
        self.ff = FeedForward(cfg.d_model, cfg.d_ff, cfg.dropout)
        self.norm1, self.norm2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        a, _ = self.self_attn(x, x, mask)
        x = self.norm1(x + self.drop(a))
        return self.norm2(x + self.drop(self.ff(x)))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(
            cfg.d_model,
            cfg.heads,
            Sequences.SELF,
            "target token",
            "earlier target tokens",
            causal=True,
        )
        self.cross_attn = MultiHeadAttention(
            cfg.d_model, cfg.heads, Sequences.DISTINCTIVE, "target token", "source tokens"
        )
        self.ff = FeedForward(cfg.d_model, cfg.d_ff, cfg.dropout)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(cfg.d_model) for _ in range(3))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, y: Tensor, memory: Tensor, cross_mask: Tensor) -> tuple[Tensor, Tensor]:
        a, _ = self.self_attn(y, y, None)
        y = self.norm1(y + self.drop(a))
        c, weights = self.cross_attn(y, memory, cross_mask)  # weights (B, H, T, S)
        y = self.norm2(y + self.drop(c))
        return self.norm3(y + self.drop(self.ff(y))), weights


class Transformer(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.data.vocab_size, cfg.d_model, padding_idx=PAD)
        self.register_buffer("positions", sinusoidal(cfg.max_positions, cfg.d_model), False)
        self.encoder = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.decoder_layers))
        self.drop = nn.Dropout(cfg.dropout)
        nn.init.normal_(self.embed.weight, std=cfg.d_model**-0.5)

    def _embed(self, ids: Tensor) -> Tensor:
        x = self.embed(ids) * math.sqrt(self.cfg.d_model)  # (B, L, D)
        positions: Tensor = self.positions  # type: ignore[assignment]
        return self.drop(x + positions[: ids.shape[1]])

    def encode(self, source_ids: Tensor) -> tuple[Tensor, Tensor]:
        """Returns memory (B, S, D) and the source keep-mask (B, S), True = a real token."""
        keep = source_ids != PAD  # (B, S)
        B, S = source_ids.shape
        # onnxruntime's CPU kernel rejects (B, 1, 1, S) key masks: expand to (B, 1, S, S).
        mask = keep[:, None, None, :].expand(B, 1, S, S)
        x = self._embed(source_ids)
        for layer in self.encoder:
            x = layer(x, mask)
        return x, keep

    def decode(self, target_in: Tensor, memory: Tensor, keep: Tensor) -> tuple[Tensor, Tensor]:
        """Returns logits (B, T, V) and the last layer's cross-attention (B, H, T, S)."""
        y, weights = self.decode_states(target_in, memory, keep)
        return self.logits(y), weights

    def decode_states(
        self, target_in: Tensor, memory: Tensor, keep: Tensor
    ) -> tuple[Tensor, Tensor]:
        """The decoder's output states (B, T, D) and last cross-attention (B, H, T, S)."""
        B, T = target_in.shape
        cross_mask = keep[:, None, None, :].expand(B, 1, T, keep.shape[1])  # (B, 1, T, S)
        y = self._embed(target_in)
        weights = torch.zeros(0)
        for layer in self.decoder:
            y, weights = layer(y, memory, cross_mask)
        return y, weights

    def logits(self, states: Tensor) -> Tensor:
        """(..., D) -> (..., V) through the tied output embedding."""
        return F.linear(states, self.embed.weight)

    def forward(self, source_ids: Tensor, target_in: Tensor) -> Tensor:
        memory, keep = self.encode(source_ids)
        return self.decode(target_in, memory, keep)[0]


class GreedyTranslator(nn.Module):
    """The served graph: greedy decoding inside the model (an ONNX Loop after export; see
    training/models/greedy.py: each row decodes as if it were alone in its batch).

    Returns output ids (B, T) - the tokens after [BOS], [EOS] included, [PAD] after it - and the
    last decoder layer's cross-attention averaged over heads, one row per output token (B, T, S).
    T = steps actually run (a row stops at [EOS] or after its own source length +
    extra_output_tokens tokens).
    """

    def __init__(self, model: Transformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, source_ids: Tensor) -> tuple[Tensor, Tensor]:
        memory, keep = self.model.encode(source_ids)

        def step(
            t: Tensor, ids: Tensor, state: greedy.State
        ) -> tuple[Tensor, Tensor, greedy.State]:
            # Causal self-attention makes position t depend on ids[:, :t + 1] only. Only
            # position t goes through the vocabulary projection: projecting every position
            # of the buffer was ~90% of a greedy call (benchmarks/attention_op.py's profile).
            states, weights = self.model.decode_states(ids, memory, keep)  # (B, steps+1, D)
            at = t.reshape(1)
            row = weights.mean(1).index_select(1, at).squeeze(1)  # (B, S)
            logits = self.model.logits(states.index_select(1, at).squeeze(1))  # (B, V)
            return logits, row, state

        return greedy.greedy(source_ids, self.model.cfg.extra_output_tokens, step, (), True)


def build(cfg: TransformerConfig) -> nn.Module:
    return Transformer(cfg)


def make_task(cfg: TransformerConfig, data_dir: Path, run_dir: Path) -> TranslationTask:
    return TranslationTask(cfg.data, data_dir, run_dir)


def export(model: nn.Module, cfg: TransformerConfig, task: TranslationTask) -> ExportSpec:
    assert isinstance(model, Transformer)
    return translation.export_spec(
        GreedyTranslator(model),
        task,
        weights_legend="(B, T, S): last decoder layer's cross-attention, averaged over heads",
        max_source_length=cfg.max_positions - cfg.extra_output_tokens - 1,
    )


def evaluate(onnx_path: Path, cfg: TransformerConfig, task: TranslationTask) -> list[Metric]:
    return translation.evaluate_onnx(onnx_path, task, "test")


SPEC = register(
    ModelSpec(
        name="transformer",
        config=TransformerConfig,
        presets=PRESETS,
        build=build,
        task=make_task,
        export=export,
        evaluate=evaluate,
        card=CardInfo(
            title="Transformer (English -> German)",
            citation=Citation(
                title="Attention Is All You Need",
                authors=[
                    "Ashish Vaswani",
                    "Noam Shazeer",
                    "Niki Parmar",
                    "Jakob Uszkoreit",
                    "Llion Jones",
                    "Aidan N. Gomez",
                    "Lukasz Kaiser",
                    "Illia Polosukhin",
                ],
                year=2017,
                venue="NeurIPS",
                arxiv="1706.03762",
            ),
            task="machine translation (greedy decoding)",
            dataset="Multi30k task 1, English -> German",
            structure=Facets(
                architecture=frozenset({Architecture.ENCODER_DECODER, Architecture.NO_RNN})
            ),
            notes="The paper's 27.3 BLEU is on WMT'14 EN-DE; Multi30k figures are not comparable.",
        ),
        datasets=("multi30k",),
    )
)
