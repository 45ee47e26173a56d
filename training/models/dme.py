"""Dynamic meta-embeddings (Kiela, Wang, Cho 2018, "Dynamic Meta-Embeddings for Improved
Sentence Representations", EMNLP) in a sentence-pair classifier. Served on SICK entailment (the
config's default task); measured on MSRP paraphrase identification too by overriding
``data.task``.

    w_ij          token i's vector from embedding set j (fixed tables: word2vec trained here
                  and the MiniLM token-embedding table, training/data/vectors.py; the sets are
                  ``data.vectors`` joined by "+", default "word2vec+minilm")
    w^DME_i       = Σ_j α_ij (P_j w_ij + c_j),  α_ij = softmax_j(a · (P_j w_ij + c_j) + b)
                    (training/attention/meta_embedding.py; both sentences in one call)
    u, v          = max over time of a BiLSTM over each sentence's meta-embeddings (shared)
    logits        = MLP([u; v; |u - v|; u * v])

The paper's sentence encoder for SNLI (BiLSTM-max, d' = 256 projections, MLP classifier, Adam)
at the size the CPU budget allows (see PRESETS). The backward LSTM reads every sentence reversed
within its length, so padding never reaches a real word's state; max pooling skips padding.

Served outputs after the probabilities: ``left_set_weights`` (B, L, n) and ``right_set_weights``
(B, R, n), each token's attention weights over the n embedding sets (rows sum to 1; 0 on
padding).

Tags: multi-representational, soft, single-level; sequences self (a token attends over its own
representations); architecture encoder-decoder, the survey's closest class for a recurrent
encoder whose output a classifier reads (as HAN and Lin et al. here).

Legend: B batch, L / R words of sentence 1 / 2, n embedding sets, d' projected dim, H LSTM
hidden size per direction, C classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from taxonomy.axes import Architecture
from taxonomy.card import Citation, Facets, Metric
from training.attention.meta_embedding import MetaEmbedding
from training.config import TrainConfig
from training.data import vectors
from training.data.words import PAD
from training.models.mpcnn import keep_mask
from training.models.multi_perspective import masked_pool
from training.models.recurrent import reverse_within_length
from training.registry import register
from training.spec import CardInfo, ExportSpec, ModelSpec
from training.tasks.sentence_pair import (
    DATASETS,
    AttentionOutput,
    PairConfig,
    PairData,
    PairTask,
    classes,
    evaluate_onnx,
    export_spec,
    make_task,
)

SEPARATOR = "+"  # data.vectors names the embedding sets: "word2vec+minilm"


@dataclass
class DMEConfig(PairConfig):
    projection: int = 256  # d' (the paper: 256)
    hidden: int = 256  # BiLSTM units per direction (the paper: 512 on SNLI)
    mlp: int = 512  # the classifier's hidden layer (the paper: 1024)
    dropout: float = 0.2  # on the meta-embeddings and the classifier's hidden layer
    data: PairData = field(
        default_factory=lambda: PairData(task="sick-entailment", vectors="word2vec+minilm")
    )
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            # the paper: Adam 4e-4, batches of 64 on SNLI's 550k pairs; SICK has 4.5k, and
            # 1e-3 with batches of 32 reached 77.8 % dev after 2 epochs here
            epochs=30,
            lr=1e-3,
            batch_size=32,
            patience=6,
            clip_norm=5.0,
            threads=2,
        )
    )


PRESETS: dict[str, dict[str, Any]] = {
    # Tests: seconds. A random trainable table and MiniLM's (no word2vec training in a test).
    "tiny": {
        "projection": 16,
        "hidden": 16,
        "mlp": 32,
        "data": {
            "vectors": "random+minilm",
            "embed_dim": 12,
            "vocab_size": 2000,
            "max_length": 24,
            "train_limit": 300,
            "eval_limit": 200,
        },
        "train": {"epochs": 2, "lr": 2e-3, "patience": None},
    },
    # make run: ~20 s of training (~2 epochs: 80 % dev after 280 steps here; batches of 64
    # at 1e-3 were still at the majority class, 56 %, after one epoch).
    "quick": {
        "projection": 128,
        "hidden": 128,
        "mlp": 256,
        "train": {"epochs": 6, "lr": 2e-3, "max_minutes": 0.35, "patience": None},
    },
    # The paper's setup at half its widths, capped at 10 minutes (2 cores).
    "full": {"train": {"max_minutes": 10.0}},
}


def vector_sets(data: PairData) -> list[str]:
    """The embedding sets ``data.vectors`` names, "word2vec+minilm" -> [word2vec, minilm]."""
    return data.vectors.split(SEPARATOR)


class BiLSTMMax(nn.Module):
    """A BiLSTM over (B, L, d') with padding, max-pooled over the real positions -> (B, 2H)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.forward_rnn = nn.LSTM(dim, hidden, batch_first=True)
        self.backward_rnn = nn.LSTM(dim, hidden, batch_first=True)

    def forward(self, x: Tensor, keep: Tensor) -> Tensor:
        lengths = keep.sum(1)  # (B,)
        forward_states = self.forward_rnn(x)[0]  # (B, L, H)
        reversed_states = self.backward_rnn(reverse_within_length(x, lengths))[0]  # (B, L, H)
        backward_states = reverse_within_length(reversed_states, lengths)  # (B, L, H)
        states = torch.cat([forward_states, backward_states], dim=-1)  # (B, L, 2H)
        mask = keep.unsqueeze(-1).to(states.dtype)  # (B, L, 1)
        return masked_pool(states, mask, "max", dim=1)  # (B, 2H)


class DMEClassifier(nn.Module):
    """forward(left_ids (B, L), right_ids (B, R)) -> logits (B, C), weights over the embedding
    sets (B, L, n) and (B, R, n)."""

    def __init__(self, cfg: DMEConfig) -> None:
        super().__init__()
        data = cfg.data
        self.vector_sets = vector_sets(data)
        self.train_vectors = data.train_vectors
        dims = [vectors.dimension(name, data.embed_dim) for name in self.vector_sets]
        self.embeddings = nn.ModuleList(
            nn.Embedding(data.vocab_size, d, padding_idx=PAD) for d in dims
        )
        self.meta = MetaEmbedding(dims, cfg.projection)
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = BiLSTMMax(cfg.projection, cfg.hidden)
        self.classifier = nn.Sequential(
            nn.Linear(8 * cfg.hidden, cfg.mlp),
            nn.ReLU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.mlp, classes(data)),
        )

    def load_vectors(self, task: PairTask) -> None:
        """Called by PairTask.initialise: each set's table (pretrained ones frozen)."""
        for embedding, name in zip(self.embeddings, self.vector_sets, strict=True):
            assert isinstance(embedding, nn.Embedding)
            task.fill(embedding, name, self.train_vectors)

    def forward(self, left_ids: Tensor, right_ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        ids = torch.cat([left_ids, right_ids], dim=1)  # (B, L + R): one DME call for both
        embedded = [embedding(ids) for embedding in self.embeddings]  # n x (B, L + R, d_j)
        meta, weights = self.meta(embedded, ids != PAD)  # (B, L + R, d'), (B, L + R, n)
        sizes = [left_ids.shape[1], right_ids.shape[1]]
        left_meta, right_meta = torch.split(self.drop(meta), sizes, dim=1)  # (B, L|R, d')
        left_weights, right_weights = torch.split(weights, sizes, dim=1)  # (B, L|R, n)
        u = self.encoder(left_meta, keep_mask(left_ids))  # (B, 2H)
        v = self.encoder(right_meta, keep_mask(right_ids))  # (B, 2H)
        logits = self.classifier(torch.cat([u, v, (u - v).abs(), u * v], dim=-1))  # (B, C)
        return logits, left_weights, right_weights


def build(cfg: DMEConfig) -> nn.Module:
    return DMEClassifier(cfg)


def attention_outputs(cfg: DMEConfig) -> list[AttentionOutput]:
    sets = ", ".join(f"{j} = {name}" for j, name in enumerate(vector_sets(cfg.data)))
    return [
        AttentionOutput(
            name=f"{side}_set_weights",
            description=f"Sentence {k}'s tokens: attention weights over the embedding sets "
            f"({sets}); each row sums to 1, 0 on padding",
            legend=f"(B, {length}, n): sentence-{k} positions x embedding sets",
            sizes=(len(vector_sets(cfg.data)),),
        )
        for k, (side, length) in enumerate((("left", "L"), ("right", "R")), 1)
    ]


def export(model: nn.Module, cfg: DMEConfig, task: PairTask) -> ExportSpec:
    return export_spec(model, task, attention_outputs(cfg))


def evaluate(onnx_path: Any, cfg: DMEConfig, task: PairTask) -> list[Metric]:
    # Kiela et al. report SNLI, MultiNLI, SST and Flickr30k, not SICK or MSRP: no paper figure.
    return evaluate_onnx(onnx_path, task)


SPEC = register(
    ModelSpec(
        name="dme",
        config=DMEConfig,
        presets=PRESETS,
        build=build,
        task=make_task,
        export=export,
        evaluate=evaluate,
        card=CardInfo(
            title="Dynamic meta-embeddings, BiLSTM-max (SICK entailment)",
            citation=Citation(
                title="Dynamic Meta-Embeddings for Improved Sentence Representations",
                authors=["Douwe Kiela", "Changhan Wang", "Kyunghyun Cho"],
                year=2018,
                venue="EMNLP",
                arxiv="1804.07983",
            ),
            task="textual entailment (sentence-pair classification: neutral, entailment, "
            "contradiction)",
            dataset="SICK 2014 (train 4,500 / trial 500 as dev / test 4,927)",
            structure=Facets(architecture=frozenset({Architecture.ENCODER_DECODER})),
            notes="Send the premise as text_a and the hypothesis as text_b. The embedding sets "
            "are word2vec vectors trained here on the pair corpora and the token-embedding "
            "table of all-MiniLM-L6-v2 (a word = the mean of its WordPiece rows); both fixed, "
            "the projections learned. Architecture encoder-decoder: the survey's closest class "
            "for a recurrent encoder read by a classifier. The paper reports no SICK figure.",
        ),
        datasets=DATASETS,
    )
)
