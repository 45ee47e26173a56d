"""BCNN and ABCNN-1, -2, -3 (Yin, Schütze, Xiang, Zhou 2016, "ABCNN: Attention-Based
Convolutional Neural Network for Modeling Sentence Pairs", TACL): two weight-sharing CNNs over
the two sentences of a pair, with ABCNN's co-attention between them. Served on WikiQA answer
selection (the config's default task); measured on MSRP too by overriding ``data.task``.

One block (``layers`` of them, 1 or 2), on sentence 1 x (B, L, D) and sentence 2 y (B, R, D):

* ABCNN-1 (attention on the block's input): A = match(x, y) (B, L, R) with
  A_ij = 1 / (1 + ||x_i - y_j||) (training/attention/match.py), attention feature maps
  F_x = A W_x[:R] (B, L, D) and F_y = Aᵀ W_y[:L] (B, R, D) (the paper's F_0 = W_0 Aᵀ, F_1 = W_1 A,
  W of max_length rows: one per position of the other sentence), stacked with x / y as a second
  input channel of the convolution.
* wide convolution (width w, zero padding w - 1 on both sides, tanh): (B, L + w - 1, d1); the
  filters are shared between the sentences.
* ABCNN-2 (attention on the convolution output): A' = match(c_x, c_y) (B, L + w - 1, R + w - 1);
  each column is weighted by its row (sentence 1) or column (sentence 2) sum of A'.
* w-ap: the sum (ABCNN-2/-3, weighted) or average (BCNN, ABCNN-1) over windows of w columns,
  back to (B, L, d1): the next block's input.
* all-ap of the block's w-ap output (average over the real positions) goes to the output layer.
  (The paper's final block all-ap-pools its convolution output; pooling the attention-weighted
  w-ap output instead lets ABCNN-2's attention count in a one-block model too.)
* ABCNN-3 = ABCNN-1 and ABCNN-2 in the same block: attention at two stages of one level.

Output layer: logistic regression (a linear layer, softmax) on, for the input (level 0) and
every block k, [a_k; b_k; cos(a_k, b_k)] with a_k, b_k the two all-ap vectors, plus (optional,
``overlap_features``, on by default) the paper's two extra features for answer selection (Yang
et al. 2015) as shares: the share of sentence-1 words that occur in sentence 2 and the same share
weighted by IDF (the training split's, a buffer filled by the task), both computed inside the graph from
the ids ([PAD] and [UNK] never match). The paper trains a separate LR/SVM on such features; here
one linear layer is trained end to end with the CNN.

Padding: ids == [PAD] are masked: embeddings and every block input are zero there, attention
rows and columns of padded positions are 0, convolution outputs past a sentence's w - 1 wide
positions are zeroed, and all-ap averages over the real positions only.

Tags: co-attention, soft, single representation, single-level. ABCNN-3 attends twice in a block
(on the input and on the convolution output) — two stages of one level of abstraction (the same
sentence pair's word/phrase columns, neither attention summarises into a unit the other attends
over), so it is single-level like ABCNN-1/-2; the survey's multi-level means attention stacked
over levels (words, then sentences). Two blocks attend over growing phrase widths, but each
attention still relates positions of the two sentences at its own block, so we keep single-level
there too. BCNN has no attention: no attention layers, no attention output, tags with the
architecture only.

Legend: B batch, L / R sentence-1 / sentence-2 length, D block input dim, d1 filters, w width,
C classes, V vocabulary.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from taxonomy.axes import Architecture
from taxonomy.card import Citation, Facets, Metric
from training.attention.match import EuclideanMatch
from training.config import TrainConfig
from training.data.words import PAD, UNK
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

VARIANTS = ("bcnn", "abcnn-1", "abcnn-2", "abcnn-3")


@dataclass
class ABCNNConfig(PairConfig):
    variant: str = "abcnn-3"  # bcnn | abcnn-1 | abcnn-2 | abcnn-3
    layers: int = 2  # blocks (the paper: 1 or 2)
    filters: int = 50  # d1 (the paper: 50)
    width: int = 4  # w (the paper: 4 on answer selection)
    overlap_features: bool = True  # word-overlap share and IDF-weighted share into the LR
    data: PairData = field(default_factory=lambda: PairData(task="wikiqa"))
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=8, lr=1e-3, weight_decay=1e-4, batch_size=32, patience=3, threads=2
        )
    )


PRESETS: dict[str, dict[str, Any]] = {
    # Tests: seconds. Random trainable vectors (no word2vec training in a test session); one
    # block (two for abcnn-3, see presets()): exporting a two-block ABCNN took ~70 s on a busy
    # 2-core machine, nearly all of it torch.export's symbolic shape work.
    "tiny": {
        "layers": 1,
        "filters": 8,
        "data": {
            "vectors": "random",
            "embed_dim": 16,
            "vocab_size": 2000,
            "max_length": 24,
            "train_limit": 400,
            "eval_limit": 300,
        },
        "train": {"epochs": 2, "patience": None},
    },
    # make run: ~20 s of training (about a quarter of an epoch of WikiQA's answered questions
    # on one busy core; abcnn-3 reached dev MAP ~0.55 there, 0.57-0.58 after one epoch).
    "quick": {"train": {"epochs": 1, "max_minutes": 0.35, "patience": None}},
    # The paper's model (2 blocks, d1 = 50, w = 4), at most 12 epochs within a 10-minute cap
    # (~90 s an epoch on one busy core), best dev checkpoint, patience 3.
    "full": {"train": {"epochs": 12, "max_minutes": 10.0}},
}


def presets(variant: str) -> dict[str, dict[str, Any]]:
    """ABCNN-3's tiny preset keeps two blocks, so the tests export the two-block graph once."""
    if variant != "abcnn-3":
        return PRESETS
    return {**PRESETS, "tiny": {**PRESETS["tiny"], "layers": 2}}


def all_ap(x: Tensor, keep: Tensor) -> Tensor:
    """Average over the real positions: x (B, T, D), keep (B, T) -> (B, D)."""
    weights = keep.to(x.dtype).unsqueeze(-1)  # (B, T, 1)
    return (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def w_ap(x: Tensor, width: int, weights: Tensor | None) -> Tensor:
    """Pooling over windows of ``width`` columns, stride 1: x (B, T + w - 1, d) -> (B, T, d);
    the average, or with ``weights`` (B, T + w - 1) the weighted sum (ABCNN-2)."""
    if weights is None:
        return F.avg_pool1d(x.transpose(1, 2), width, stride=1).transpose(1, 2)
    weighted = (x * weights.unsqueeze(-1)).transpose(1, 2)  # (B, d, T + w - 1)
    return (F.avg_pool1d(weighted, width, stride=1) * width).transpose(1, 2)  # (B, T, d)


def cosine(a: Tensor, b: Tensor) -> Tensor:
    """(B, D), (B, D) -> (B, 1)."""
    norms = (a.norm(dim=-1) * b.norm(dim=-1)).clamp(min=1e-8)  # (B,)
    return ((a * b).sum(-1) / norms).unsqueeze(-1)


class Block(nn.Module):
    """One convolution-pooling block over both sentences, with ABCNN's attention where the
    variant has it. Returns both pooled outputs and the attention matrices it computed."""

    def __init__(
        self,
        in_dim: int,
        filters: int,
        width: int,
        max_positions: int,
        input_attention: bool,
        pool_attention: bool,
    ) -> None:
        super().__init__()
        self.width = width
        self.input_match: EuclideanMatch | None = None
        self.pool_match: EuclideanMatch | None = None
        if input_attention:
            self.input_match = EuclideanMatch(
                query_from="sentence-1 block input columns (words or pooled phrases)",
                keys_from="sentence-2 block input columns",
            )
            bound = in_dim**-0.5
            # W_0, W_1: one row per position of the *other* sentence (the paper's d x s matrices)
            self.w_left = nn.Parameter(torch.empty(max_positions, in_dim).uniform_(-bound, bound))
            self.w_right = nn.Parameter(torch.empty(max_positions, in_dim).uniform_(-bound, bound))
        if pool_attention:
            self.pool_match = EuclideanMatch(
                query_from="sentence-1 convolution output columns (phrases of w words)",
                keys_from="sentence-2 convolution output columns",
            )
        channels = 2 if input_attention else 1
        self.conv = nn.Conv1d(channels * in_dim, filters, width, padding=width - 1)

    def _convolve(self, x: Tensor, keep: Tensor) -> Tensor:
        """Wide convolution + tanh: (B, T, C) -> (B, T + w - 1, d1), zero past the real
        sentence's T_real + w - 1 columns."""
        c = torch.tanh(self.conv(x.transpose(1, 2))).transpose(1, 2)  # (B, T + w - 1, d1)
        return c * conv_keep(keep, self.width).to(c.dtype).unsqueeze(-1)

    def forward(
        self, x: Tensor, y: Tensor, keep_x: Tensor, keep_y: Tensor
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        """x (B, L, D), y (B, R, D) (zero at padding), keep (B, L), (B, R) -> pooled
        (B, L, d1), (B, R, d1) (zero at padding) and the block's attention matrices."""
        attention: list[Tensor] = []
        if self.input_match is not None:
            a = self.input_match(x, y, keep_x, keep_y)  # (B, L, R)
            L, R = x.shape[1], y.shape[1]
            # narrow, not [:R]: a slice's length min(R, P) would specialise R when exporting
            f_x = torch.matmul(a, self.w_left.narrow(0, 0, R))  # (B, L, D)
            f_y = torch.matmul(a.transpose(1, 2), self.w_right.narrow(0, 0, L))  # (B, R, D)
            x = torch.cat([x, f_x], dim=-1)  # (B, L, 2 D): two input channels
            y = torch.cat([y, f_y], dim=-1)  # (B, R, 2 D)
            attention.append(a)
        c_x, c_y = self._convolve(x, keep_x), self._convolve(y, keep_y)  # (B, L+w-1, d1), ...
        weights_x = weights_y = None
        if self.pool_match is not None:
            keep_cx, keep_cy = conv_keep(keep_x, self.width), conv_keep(keep_y, self.width)
            a2 = self.pool_match(c_x, c_y, keep_cx, keep_cy)  # (B, L + w - 1, R + w - 1)
            weights_x, weights_y = a2.sum(2), a2.sum(1)  # row sums, column sums
            attention.append(a2)
        p_x = w_ap(c_x, self.width, weights_x) * keep_x.to(c_x.dtype).unsqueeze(-1)  # (B, L, d1)
        p_y = w_ap(c_y, self.width, weights_y) * keep_y.to(c_y.dtype).unsqueeze(-1)  # (B, R, d1)
        return p_x, p_y, attention


def conv_keep(keep: Tensor, width: int) -> Tensor:
    """Real columns of a wide convolution's output: (B, T) -> (B, T + w - 1), True for the
    first T_real + w - 1 columns of each row (a sentence of T_real tokens)."""
    lengths = keep.sum(1, keepdim=True)  # (B, 1)
    positions = torch.arange(keep.shape[1] + width - 1, device=keep.device).unsqueeze(0)
    return positions < lengths + (width - 1)  # (B, T + w - 1)


def overlap(left: Tensor, right: Tensor, idf: Tensor) -> Tensor:
    """Word-overlap features from ids: (B, L), (B, R) -> (B, 2) = [share of sentence-1 tokens
    that occur in sentence 2, the same share weighted by IDF]. [PAD] and [UNK] never match.
    Shares, not the raw counts of Yang et al.: bounded inputs beside the LR's others."""
    real_l = (left != PAD) & (left != UNK)  # (B, L)
    real_r = (right != PAD) & (right != UNK)  # (B, R)
    same = (left.unsqueeze(2) == right.unsqueeze(1)) & real_r.unsqueeze(1)  # (B, L, R)
    found = (same.any(dim=2) & real_l).to(idf.dtype)  # (B, L)
    weight = F.embedding(left, idf.unsqueeze(1)).squeeze(-1) * real_l.to(idf.dtype)  # (B, L)
    count = found.sum(1) / real_l.to(idf.dtype).sum(1).clamp(min=1.0)  # (B,)
    weighted = (found * weight).sum(1) / weight.sum(1).clamp(min=1e-6)  # (B,)
    return torch.stack([count, weighted], dim=1)  # (B, 2)


class ABCNN(nn.Module):
    """forward(left_ids (B, L), right_ids (B, R)) -> (logits (B, C), *attention), attention in
    block order, each block's input attention (B, L, R) before its pooling attention
    (B, L + w - 1, R + w - 1)."""

    def __init__(self, cfg: ABCNNConfig) -> None:
        super().__init__()
        if cfg.variant not in VARIANTS:
            raise ValueError(f"unknown variant {cfg.variant!r}; valid: {', '.join(VARIANTS)}")
        if cfg.layers < 1:
            raise ValueError("ABCNN needs at least one block")
        data = cfg.data
        dim = embedding_dim(data)
        self.embedding = nn.Embedding(data.vocab_size, dim, padding_idx=PAD)
        self.idf: Tensor  # (V,) the training split's IDF, filled by PairTask.initialise
        self.register_buffer("idf", torch.zeros(data.vocab_size))
        self.overlap_features = cfg.overlap_features
        input_attention = cfg.variant in ("abcnn-1", "abcnn-3")
        pool_attention = cfg.variant in ("abcnn-2", "abcnn-3")
        self.blocks = nn.ModuleList(
            Block(
                dim if k == 0 else cfg.filters,
                cfg.filters,
                cfg.width,
                data.max_length,
                input_attention,
                pool_attention,
            )
            for k in range(cfg.layers)
        )
        features = 2 * dim + 1 + cfg.layers * (2 * cfg.filters + 1) + 2 * cfg.overlap_features
        self.output = nn.Linear(features, classes(data))  # the LR

    def forward(self, left_ids: Tensor, right_ids: Tensor) -> tuple[Tensor, ...]:
        keep_x, keep_y = left_ids != PAD, right_ids != PAD  # (B, L), (B, R)
        x = self.embedding(left_ids) * keep_x.unsqueeze(-1).to(torch.float32)  # (B, L, D)
        y = self.embedding(right_ids) * keep_y.unsqueeze(-1).to(torch.float32)  # (B, R, D)
        a, b = all_ap(x, keep_x), all_ap(y, keep_y)  # (B, D) each: level 0
        features = [a, b, cosine(a, b)]
        attention: list[Tensor] = []
        for block in self.blocks:
            x, y, maps = block(x, y, keep_x, keep_y)  # (B, L, d1), (B, R, d1)
            attention.extend(maps)
            a, b = all_ap(x, keep_x), all_ap(y, keep_y)  # (B, d1) each
            features += [a, b, cosine(a, b)]
        if self.overlap_features:
            features.append(overlap(left_ids, right_ids, self.idf))  # (B, 2)
        logits = self.output(torch.cat(features, dim=-1))  # (B, C)
        return (logits, *attention)


def build(cfg: ABCNNConfig) -> nn.Module:
    return ABCNN(cfg)


def attention_outputs(cfg: ABCNNConfig) -> list[AttentionOutput]:
    """The attention tensors ABCNN returns after its logits, in order."""
    outputs = []
    for k in range(1, cfg.layers + 1):
        if cfg.variant in ("abcnn-1", "abcnn-3"):
            outputs.append(
                AttentionOutput(
                    name=f"input_attention_{k}",
                    description=f"Block {k}'s match scores 1 / (1 + ||x_i - y_j||) between the "
                    "two sentences' block-input columns (block 1: words); 0 on padding",
                )
            )
        if cfg.variant in ("abcnn-2", "abcnn-3"):
            outputs.append(
                AttentionOutput(
                    name=f"pooling_attention_{k}",
                    description=f"Block {k}'s match scores between the two sentences' "
                    f"convolution output columns (windows of {cfg.width} columns, wide "
                    "convolution); row / column sums weight the pooling; 0 on padding",
                    legend=f"(B, L + {cfg.width - 1}, R + {cfg.width - 1}): sentence-1 "
                    "convolution columns x sentence-2 convolution columns",
                )
            )
    return outputs


def export(model: nn.Module, cfg: ABCNNConfig, task: PairTask) -> ExportSpec:
    return export_spec(model, task, attention_outputs(cfg))


# The paper's test figures (Yin et al. 2016, two blocks; the table of issue #5).
PAPER: dict[tuple[str, str], dict[str, float]] = {
    ("abcnn-3", "wikiqa"): {"map": 0.6921, "mrr": 0.7105},
    ("abcnn-1", "wikiqa"): {"map": 0.6855, "mrr": 0.7023},
    ("abcnn-2", "wikiqa"): {"map": 0.6879, "mrr": 0.7068},
    ("bcnn", "wikiqa"): {"map": 0.6593, "mrr": 0.6738},
    ("abcnn-3", "msrp"): {"accuracy": 78.9, "f1": 84.8},
}


def evaluate(onnx_path: Any, cfg: ABCNNConfig, task: PairTask) -> list[Metric]:
    return evaluate_onnx(onnx_path, task, paper=PAPER.get((cfg.variant, cfg.data.task)))


CITATION = Citation(
    title="ABCNN: Attention-Based Convolutional Neural Network for Modeling Sentence Pairs",
    authors=["Wenpeng Yin", "Hinrich Schütze", "Bing Xiang", "Bowen Zhou"],
    year=2016,
    venue="TACL",
    arxiv="1512.05193",
)

TITLES = {
    "bcnn": "BCNN: the basic bi-CNN without attention",
    "abcnn-1": "ABCNN-1: attention feature maps on the convolution input",
    "abcnn-2": "ABCNN-2: attention-weighted pooling of the convolution output",
    "abcnn-3": "ABCNN-3: attention on the convolution input and on its pooling",
}


for _variant in VARIANTS:
    register(
        ModelSpec(
            name=_variant,
            config=functools.partial(ABCNNConfig, variant=_variant),
            presets=presets(_variant),
            build=build,
            task=make_task,
            export=export,
            evaluate=evaluate,
            card=CardInfo(
                title=f"{TITLES[_variant]} (WikiQA answer selection)",
                citation=CITATION,
                task="answer selection (sentence-pair classification; ranks candidates)",
                dataset="WikiQA (train minus a carved dev set; test: 243 answered questions)",
                structure=Facets(architecture=frozenset({Architecture.CONV_SENTENCE_PAIR})),
                notes=(
                    "Send a question as text_a and a candidate answer as text_b; rank candidates "
                    "by probabilities[:, 1]. "
                    + (
                        "No attention: the baseline the ABCNNs are measured against (no "
                        "attention layers, no attention output)."
                        if _variant == "bcnn"
                        else "Attention tensors are 0 on padded positions."
                    )
                ),
            ),
            datasets=DATASETS,
        )
    )
