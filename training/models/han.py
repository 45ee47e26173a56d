"""Hierarchical attention network (Yang, Yang, Dyer, He, Smola, Hovy 2016) for document
classification: words -> sentence vectors -> document vector, with attention at both levels.

* Word level: the document's flat ids are regrouped into (B, S, W) word slots by
  :func:`training.tasks.documents.sentence_grid` (inside the served graph too), embedded and read
  by a bidirectional GRU per sentence; ``WordAttention`` (u_it = tanh(W_w h_it + b_w),
  α_it = softmax_t u_itᵀ u_w) pools each sentence into s_i.
* Sentence level: a bidirectional GRU over s_i and ``SentenceAttention`` (context u_s) pool the
  sentences into the document vector v; p = softmax(W_c v + b_c).

Bidirectional GRUs read each row reversed within its length (training/models/bidirectional.py), so
padding never reaches a real word's or sentence's state; padded words and sentences get zero
attention. Paper sizes: embeddings 200, GRU 50 per direction, context vectors 100; here 100 /
50 / 100 (full), trained with Adam instead of SGD with momentum.

Served task: the generated deciding-sentence documents, where the sentence level can be checked
against the truth (benchmarks/doc_quality.py also measures it on AG News). The served graph:
``document_ids`` (B, L) (or ``document_text``) -> ``probabilities`` (B, C),
``word_attention`` (B, L) — each word token's weight within its sentence, 0 for separators,
padding and words past the S x W slots — and ``sentence_attention`` (B, S) over the slots.

Presets: tiny (seconds, tests), quick (~15 s of training, for ``make run``), full (at most 5 min
of training per dataset, 2 CPU cores).

Legend: B batch, L tokens, S sentence slots, W word slots, E embedding, H GRU hidden per
direction, C classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from taxonomy.axes import Architecture, Levels
from taxonomy.card import Citation, Facets, Metric, TensorSpec
from training.attention.hierarchical import SENTENCE, WORD, ContextAttention
from training.config import TrainConfig
from training.data.tokenizer import PAD
from training.models.bidirectional import BiRNN
from training.registry import register
from training.spec import CardInfo, ExportSpec, ModelSpec
from training.tasks import documents
from training.tasks.documents import (
    DocOutput,
    DocumentData,
    DocumentTask,
    grid_to_tokens,
    sentence_grid,
)


@dataclass
class HANConfig:
    embed: int = 100
    hidden: int = 50  # H, per direction
    attention_dim: int = 100  # context vectors u_w, u_s
    dropout: float = 0.1
    data: DocumentData = field(default_factory=lambda: documents.data_for("deciding_sentence"))
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=20, lr=2e-3, batch_size=64, clip_norm=5.0, patience=3, max_minutes=5, threads=1
        )
    )


PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "embed": 16,
        "hidden": 8,
        "attention_dim": 8,
        "data": {"generated": {"train_size": 300, "val_size": 40, "test_size": 40}},
        "train": {"epochs": 1, "max_minutes": 0.25},
    },
    # ~20 s: the task is learnt (val accuracy 1.0) after ~50 steps of 64 documents (measured
    # here: 35 s on two overloaded cores); 3,000 documents make ~47 steps an epoch.
    "quick": {
        "data": {"generated": {"train_size": 3000}},
        "train": {"epochs": 3, "max_minutes": 0.33, "patience": None},
    },
    "full": {},
}


class HAN(nn.Module):
    def __init__(self, cfg: HANConfig, vocab_size: int, classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        H = cfg.hidden
        self.embed = nn.Embedding(vocab_size, cfg.embed, padding_idx=PAD)
        self.word_rnn = BiRNN(cfg.embed, H, "gru")
        self.word_attention = ContextAttention(WORD, 2 * H, cfg.attention_dim, "word")
        self.sentence_rnn = BiRNN(2 * H, H, "gru")
        self.sentence_attention = ContextAttention(SENTENCE, 2 * H, cfg.attention_dim, "sentence")
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(2 * H, classes)

    def forward(self, document_ids: Tensor) -> DocOutput:
        S, W = self.cfg.data.max_sentences, self.cfg.data.max_words
        grid, slot = sentence_grid(document_ids, S, W)  # (B, S, W), (B, L)
        B = grid.shape[0]
        words = grid.reshape(B * S, W)  # (B S, W): one row per sentence slot
        keep = words != PAD  # (B S, W)
        x = self.drop(self.embed(words))  # (B S, W, E)
        annotations = self.word_rnn(x, keep.long().sum(-1))  # (B S, W, 2H): h_it
        sentences, word_weights = self.word_attention(annotations, keep)  # (B S, 2H), (B S, W)
        sentences = sentences.view(B, S, -1)  # (B, S, 2H): s_i
        present = keep.any(-1).view(B, S)  # (B, S): the sentence has a word
        order = torch.arange(1, S + 1, device=grid.device)  # (S,)
        lengths = (present.long() * order).max(-1).values  # (B,): up to the last sentence
        states = self.sentence_rnn(sentences, lengths)  # (B, S, 2H): h_i
        document, sentence_weights = self.sentence_attention(states, present)  # (B, 2H), (B, S)
        word_weights = word_weights.view(B, S, W)  # (B, S, W)
        return DocOutput(
            logits=self.out(self.drop(document)),  # (B, C)
            attention={
                "word_attention": grid_to_tokens(word_weights, slot),  # (B, L)
                "sentence_attention": sentence_weights,  # (B, S)
            },
        )


def build(cfg: HANConfig) -> nn.Module:
    return HAN(cfg, cfg.data.vocab_size, len(documents.DATASETS[cfg.data.dataset]))


def export(model: nn.Module, cfg: HANConfig, task: DocumentTask) -> ExportSpec:
    S = cfg.data.max_sentences
    return documents.export_spec(
        model,
        task,
        [
            TensorSpec(
                name="word_attention",
                datatype="FP32",
                shape=[-1, -1],
                description="Each word token's attention within its sentence (a distribution "
                "over each sentence's words); 0 for separators, padding and words past "
                f"{cfg.data.max_words} per sentence",
                legend="(B, L): aligned with document_ids",
            ),
            TensorSpec(
                name="sentence_attention",
                datatype="FP32",
                shape=[-1, S],
                description=f"Attention over the document's sentences (the first {S}; 0 for "
                "absent ones)",
                legend="(B, S): sentence s = the text after the s-th separator",
            ),
        ],
    )


def sentence_scores(outputs: dict[str, np.ndarray], ids: np.ndarray) -> np.ndarray:
    return outputs["sentence_attention"]


def evaluate(onnx_path: Path, cfg: HANConfig, task: DocumentTask) -> list[Metric]:
    return documents.evaluate_onnx(onnx_path, task, "test", sentence_scores)


SPEC = register(
    ModelSpec(
        name="han",
        config=HANConfig,
        presets=PRESETS,
        build=build,
        task=documents.make_task,
        export=export,
        evaluate=evaluate,
        card=CardInfo(
            title="Hierarchical attention network",
            citation=Citation(
                title="Hierarchical Attention Networks for Document Classification",
                authors=[
                    "Zichao Yang",
                    "Diyi Yang",
                    "Chris Dyer",
                    "Xiaodong He",
                    "Alex Smola",
                    "Eduard Hovy",
                ],
                year=2016,
                venue="NAACL",
            ),
            task="document classification",
            dataset="the deciding sentence (generated; one marked sentence decides the class)",
            structure=Facets(
                levels=frozenset({Levels.MULTI}),
                architecture=frozenset({Architecture.ENCODER_DECODER}),
            ),
            notes="Multi-level: word attention pools each sentence, sentence attention pools "
            "the document. Architecture encoder-decoder: recurrent encoders whose attention "
            "summary a classifier reads (the survey's closest class; it has no 'encoder + "
            "classifier' one). Sentences are split where . ! ? is followed by a capital letter, "
            "digit or quote.",
        ),
        datasets=("deciding_sentence",),
    )
)
