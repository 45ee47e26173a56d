"""Sentence pairs as a trainer task, shared by every pair model (BCNN/ABCNN, attention-MPCNN,
DME): one model spec trains and is measured on several tasks by overriding its ``data`` config.

Tasks (:data:`TASKS`, chosen by ``PairData.task``):

=================  ========  ==============  ===========================  =================
task               dataset   kind            served prediction            val monitor
=================  ========  ==============  ===========================  =================
wikiqa             wikiqa    classification  probabilities (B, 2); the    val_map
                                             positive class ranks
msrp               msrp      classification  probabilities (B, 2)         val_accuracy
sick-entailment    sick      classification  probabilities (B, 3)         val_accuracy
sick-relatedness   sick      relatedness     score (B,) in [1, 5]         val_pearson
msrvid             msrvid    relatedness     score (B,) in [0, 5]         val_pearson
=================  ========  ==============  ===========================  =================

The interface a pair model implements (``training/models/abcnn.py`` is the reference):

* config: a dataclass derived from :class:`PairConfig` (fields ``data: PairData`` and
  ``train: TrainConfig``); build it with ``classes(cfg.data)`` outputs and an embedding of
  ``cfg.data.vocab_size`` rows x ``embedding_dim(cfg.data)``.
* ``forward(left_ids (B, L), right_ids (B, R)) -> (logits (B, C), *attention)``: ids padded
  with ``PAD`` = 0 (mask = ids != PAD; padded positions must get zero attention everywhere); C =
  ``classes(cfg.data)``: the classes, or for relatedness the K integer score points (Tai et
  al.'s sparse target, see :func:`sparse_target`). Each attention tensor is declared in the
  export spec with an :class:`AttentionOutput`.
* vectors: before training, :meth:`PairTask.initialise` (called from ``optimizer``) fills the
  model's tables. By default it copies ``task.table(cfg.data.vectors)`` into
  ``model.embedding`` (an ``nn.Embedding``), frozen unless ``cfg.data.train_vectors`` says
  otherwise (default: pretrained tables frozen, random trained), and fills a buffer
  ``model.idf`` (V,) with the training split's IDF if the model has one. A model with other
  needs (several tables: DME) defines ``load_vectors(task)`` and is called instead; it reads
  ``task.table(name)`` (:class:`training.data.vectors.VectorTable`, cached per name).
* spec: ``task=make_task``, ``export=lambda model, cfg, task: export_spec(model, task,
  [AttentionOutput(...), ...])``, ``evaluate=lambda path, cfg, task: evaluate_onnx(path, task,
  paper={...})``, ``datasets=DATASETS``.

Relatedness objective: Tai et al.'s sparse target distribution over the integer scores with a
KL loss and the expected value as the score, as MPCNN's paper does (He et al. 2015/2016). Chosen
over MSE because it is what the papers whose figures we compare against trained with, and the
distribution keeps a classifier's softmax head for every task (one served head shape).

Splits: see training/data/pairs.py (WikiQA dev and MSRVID dev carved from train). The word
tokenizer (training/data/words.py) is trained on the task's training split and saved beside the
checkpoint as ``tokenizer.json``; the server turns ``text_a`` / ``text_b`` (BYTES) into
``left_ids`` / ``right_ids`` with it.

Legend: B batch, L left (sentence 1) length, R right (sentence 2) length, C classes, V vocabulary.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch import Tensor, nn
from torch.export import Dim

from taxonomy.card import Metric, ModelIO, TensorSpec, TextInput
from training.config import TrainConfig
from training.data import pairs, vectors
from training.data.pairs import Pair
from training.data.vectors import VectorTable
from training.data.words import PAD, load_or_train, vocabulary
from training.spec import ExportSpec
from training.tasks import pair_metrics
from training.tasks.examples import ids_and_text

TOKENIZER_FILE = "tokenizer.json"
DATASETS = pairs.DATASETS  # every pair model may be measured on any of them


@dataclass(frozen=True)
class PairKind:
    name: str
    dataset: str
    kind: str  # "classification" | "relatedness"
    classes: int  # classes, or integer score points (relatedness)
    labels: tuple[str, ...]  # class names (relatedness: the score points)
    monitor: str  # validation metric to maximise
    title: str
    low: float = 0.0  # relatedness: the lowest score

    @property
    def relatedness(self) -> bool:
        return self.kind == "relatedness"


TASKS: dict[str, PairKind] = {
    "wikiqa": PairKind(
        "wikiqa", "wikiqa", "classification", 2, ("wrong", "correct"), "val_map",
        "WikiQA answer selection (question, candidate sentence)",
    ),
    "msrp": PairKind(
        "msrp", "msrp", "classification", 2, ("not paraphrase", "paraphrase"), "val_accuracy",
        "MSRP paraphrase identification",
    ),
    "sick-entailment": PairKind(
        "sick-entailment", "sick", "classification", 3,
        tuple(label.lower() for label in pairs.SICK_LABELS), "val_accuracy",
        "SICK entailment (premise, hypothesis)",
    ),
    "sick-relatedness": PairKind(
        "sick-relatedness", "sick", "relatedness", 5, ("1", "2", "3", "4", "5"), "val_pearson",
        "SICK semantic relatedness (1-5)", low=1.0,
    ),
    "msrvid": PairKind(
        "msrvid", "msrvid", "relatedness", 6, ("0", "1", "2", "3", "4", "5"), "val_pearson",
        "MSRVID semantic textual similarity (0-5)", low=0.0,
    ),
}  # fmt: skip


@dataclass
class PairData:
    task: str = "wikiqa"  # a key of TASKS
    vectors: str = "word2vec"  # random | word2vec | minilm (training/data/vectors.py)
    embed_dim: int = 300  # random / word2vec vector size (minilm is 384)
    train_vectors: bool | None = None  # None: train random tables, freeze pretrained ones
    vocab_size: int = 20000  # the tokenizer's most frequent training words (specials included)
    max_length: int = 64  # tokens per sentence: longer ones are truncated (training and served)
    # WikiQA: train only on the questions with a correct candidate (873 of the 2,118; the
    # others teach nothing a ranking uses: 44 % of the pairs, 2x faster epochs on a CPU budget).
    answered_only: bool = True
    train_limit: int | None = None  # the first N training pairs (tests)
    eval_limit: int | None = None  # the first N pairs of dev / test (tests)


@dataclass
class PairConfig:
    """Base of every pair model's config: the task's data and the training loop."""

    data: PairData = field(default_factory=PairData)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(batch_size=64))


def kind_of(data: PairData) -> PairKind:
    if data.task not in TASKS:
        raise ValueError(f"unknown pair task {data.task!r}; valid: {', '.join(TASKS)}")
    return TASKS[data.task]


def classes(data: PairData) -> int:
    """The model's output size for the task: classes, or integer score points."""
    return kind_of(data).classes


def embedding_dim(data: PairData) -> int:
    return vectors.dimension(data.vectors, data.embed_dim)


def sparse_target(scores: Tensor, kind: PairKind) -> Tensor:
    """Tai et al. (2015): score y -> p over the K integer points, p_⌊y⌋ = ⌊y⌋ - y + 1,
    p_⌊y⌋+1 = y - ⌊y⌋ (points counted from ``kind.low``). (B,) -> (B, K)."""
    K = kind.classes
    y = (scores - kind.low).clamp(0, K - 1)  # (B,)
    floor = y.floor()
    frac = y - floor
    low = F.one_hot(floor.long(), K).to(scores.dtype)  # (B, K)
    high = F.one_hot((floor.long() + 1).clamp(max=K - 1), K).to(scores.dtype)  # (B, K)
    return low * (1 - frac).unsqueeze(1) + high * frac.unsqueeze(1)


def expected_score(logits: Tensor, kind: PairKind) -> Tensor:
    """Σ_k p_k (low + k): (B, K) -> (B,)."""
    points = kind.low + torch.arange(kind.classes, dtype=logits.dtype)  # (K,)
    return torch.softmax(logits, dim=-1) @ points


def pad_batch(rows: Sequence[Sequence[int]]) -> Tensor:
    """Rows of ids -> (B, T) padded with PAD to the longest row (at least 1 column)."""
    width = max(1, max(len(r) for r in rows))
    out = torch.full((len(rows), width), PAD, dtype=torch.long)  # (B, T)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(list(r), dtype=torch.long)
    return out


Encoded = tuple[list[int], list[int], int, float]  # left ids, right ids, label, score
Batch = tuple[Tensor, Tensor, Tensor]  # left (B, L), right (B, R), target (B,) label or score


class PairTask:
    """A sentence-pair dataset + objective for the model-agnostic trainer."""

    def __init__(self, data: PairData, batch_size: int, data_dir: Path, run_dir: Path) -> None:
        self.data = data
        self.kind = kind_of(data)
        self.monitor = self.kind.monitor
        self.batch_size = batch_size
        self.data_dir = Path(data_dir)
        self.run_dir = Path(run_dir)
        # Shared by every run under the same runs folder (runs/<preset>/<model>): word2vec
        # trains once.
        self.cache_dir = self.run_dir.parent.parent / "cache" / "vectors"
        self._pairs: dict[str, list[Pair]] = {}
        train = self.pairs("train")
        self.tokenizer_path = self.run_dir / TOKENIZER_FILE
        self.tokenizer: Tokenizer = load_or_train(
            self.tokenizer_path,
            (text for p in train for text in (p.left, p.right)),
            data.vocab_size,
            data.max_length,
        )
        self.vocab_size = self.tokenizer.get_vocab_size()
        if self.vocab_size > data.vocab_size:
            raise ValueError(f"tokenizer has {self.vocab_size} ids, over {data.vocab_size}")
        self.train = self.encode(train)
        self.val = self.encode(self.pairs("dev"))
        self._tables: dict[str, VectorTable] = {}

    # ---- data ----

    def pairs(self, split: str) -> list[Pair]:
        if split not in self._pairs:
            rows = pairs.read(self.data_dir, self.kind.dataset, split)
            if split == "train" and self.kind.name == "wikiqa" and self.data.answered_only:
                answered = {p.group for p in rows if p.label == 1}
                rows = [p for p in rows if p.group in answered]
            limit = self.data.train_limit if split == "train" else self.data.eval_limit
            self._pairs[split] = rows[:limit]
        return self._pairs[split]

    def encode(self, rows: Sequence[Pair]) -> list[Encoded]:
        left = self.tokenizer.encode_batch([p.left for p in rows])
        right = self.tokenizer.encode_batch([p.right for p in rows])
        return [(a.ids, b.ids, p.label, p.score) for a, b, p in zip(left, right, rows, strict=True)]

    def collate(self, rows: Sequence[Encoded]) -> Batch:
        left = pad_batch([r[0] for r in rows])  # (B, L)
        right = pad_batch([r[1] for r in rows])  # (B, R)
        if self.kind.relatedness:
            target = torch.tensor([r[3] for r in rows], dtype=torch.float32)  # (B,)
        else:
            target = torch.tensor([r[2] for r in rows], dtype=torch.long)  # (B,)
        return left, right, target

    def batches(self, split: str, epoch: int) -> Iterator[Batch]:
        """Training: shuffled, then sorted by length within pools of 20 batches (less padding),
        the batches shuffled again. Validation: in order, 256 a batch."""
        rows = self.train if split == "train" else self.val
        if split != "train":
            for start in range(0, len(rows), 256):
                yield self.collate(rows[start : start + 256])
            return
        rng = random.Random(epoch)
        order = list(range(len(rows)))
        rng.shuffle(order)
        size, pool = self.batch_size, 20 * self.batch_size
        chunks: list[list[int]] = []
        for start in range(0, len(order), pool):
            chunk = sorted(
                order[start : start + pool], key=lambda i: (len(rows[i][1]), len(rows[i][0]))
            )
            chunks += [chunk[k : k + size] for k in range(0, len(chunk), size)]
        rng.shuffle(chunks)
        for chunk in chunks:
            yield self.collate([rows[i] for i in chunk])

    # ---- vectors ----

    def table(self, name: str) -> VectorTable:
        """The initial vectors for this task's vocabulary from source ``name`` (cached)."""
        if name not in self._tables:
            table = vectors.load(
                name,
                vocabulary(self.tokenizer),
                dim=self.data.embed_dim,
                data_dir=self.data_dir,
                cache_dir=self.cache_dir,
            )
            print(f"[vectors] {self.data.task} vocabulary, {table.summary()}", file=sys.stderr)
            self._tables[name] = table
        return self._tables[name]

    def idf(self) -> Tensor:
        """log(N / df) per token id over the training sentences (both sides); 0 for ids that
        never occur and for PAD. (V,)"""
        documents = [ids for r in self.train for ids in (r[0], r[1])]
        df = np.zeros(self.vocab_size, dtype=np.float64)
        for ids in documents:
            df[list(set(ids))] += 1
        idf = np.where(df > 0, np.log(len(documents) / np.maximum(df, 1)), 0.0)
        idf[PAD] = 0.0
        return torch.tensor(idf, dtype=torch.float32)

    def fill(self, embedding: nn.Embedding, name: str, train: bool | None = None) -> None:
        """Copy table ``name`` into ``embedding`` (rows past the vocabulary stay 0); frozen
        unless ``train`` (None: train only a random table)."""
        weights = self.table(name).weights  # (V, D)
        if embedding.embedding_dim != weights.shape[1]:
            raise ValueError(
                f"embedding dim {embedding.embedding_dim} != {name} vectors' {weights.shape[1]}"
            )
        with torch.no_grad():
            embedding.weight.zero_()
            embedding.weight[: weights.shape[0]] = weights
        trainable = (name == "random") if train is None else train
        embedding.weight.requires_grad_(trainable)

    def initialise(self, model: nn.Module) -> None:
        """Fill the model's vectors (see the module docstring) before training."""
        load = getattr(model, "load_vectors", None)
        if callable(load):
            load(self)
            return
        embedding = getattr(model, "embedding", None)
        if not isinstance(embedding, nn.Embedding):
            raise TypeError("a pair model needs an `embedding` (nn.Embedding) or load_vectors()")
        self.fill(embedding, self.data.vectors, self.data.train_vectors)
        idf = getattr(model, "idf", None)
        if isinstance(idf, Tensor):
            values = self.idf()
            idf.zero_()
            idf[: values.shape[0]] = values

    # ---- objective ----

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        left, right, target = batch
        logits = model(left, right)[0]  # (B, C)
        if self.kind.relatedness:
            gold = sparse_target(target, self.kind)  # (B, K)
            return F.kl_div(F.log_softmax(logits, dim=-1), gold, reduction="batchmean")
        return F.cross_entropy(logits, target)

    def predict(self, model: nn.Module, split: str) -> np.ndarray:
        """The served prediction of a torch model on ``split`` (dev: ``val``): probabilities
        (N, C) or scores (N,)."""
        rows = self.val if split == "dev" else self.encode(self.pairs(split))
        outs = []
        for start in range(0, len(rows), 256):
            left, right, _ = self.collate(rows[start : start + 256])
            logits = model(left, right)[0]
            outs.append(head(logits, self.kind))
        return torch.cat(outs).numpy()

    def metrics(self, split: str, prediction: np.ndarray) -> dict[str, float]:
        return task_metrics(self.kind, self.pairs(split), prediction)

    def validate(self, model: nn.Module) -> dict[str, float]:
        measured = self.metrics("dev", self.predict(model, "dev"))
        return {f"val_{k}": v for k, v in measured.items() if k != "questions"}

    def optimizer(
        self, model: nn.Module, train: TrainConfig
    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]:
        self.initialise(model)
        params = [p for p in model.parameters() if p.requires_grad]
        return torch.optim.Adam(params, lr=train.lr, weight_decay=train.weight_decay), None


def make_task(cfg: Any, data_dir: Path, run_dir: Path) -> PairTask:
    """``ModelSpec.task`` for any :class:`PairConfig`."""
    return PairTask(cfg.data, cfg.train.batch_size, data_dir, run_dir)


def head(logits: Tensor, kind: PairKind) -> Tensor:
    """The served prediction: class probabilities (B, C), or the expected score (B,)."""
    return expected_score(logits, kind) if kind.relatedness else torch.softmax(logits, dim=-1)


def task_metrics(kind: PairKind, rows: Sequence[Pair], prediction: np.ndarray) -> dict[str, float]:
    """The task's metrics of a served prediction on ``rows`` (see pair_metrics)."""
    if kind.relatedness:
        return pair_metrics.correlations([p.score for p in rows], prediction.tolist())
    labels = [p.label for p in rows]
    if kind.name == "wikiqa":
        return pair_metrics.map_mrr([p.group for p in rows], labels, prediction[:, 1].tolist())
    predicted = prediction.argmax(axis=1).tolist()
    if kind.name == "msrp":
        return pair_metrics.accuracy_f1(labels, predicted)
    return pair_metrics.accuracy(labels, predicted)


# ---- export and evaluation -----------------------------------------------------------------


class PairHead(nn.Module):
    """What is served: the model's logits turned into the task's prediction, attention as is."""

    def __init__(self, model: nn.Module, kind: PairKind) -> None:
        super().__init__()
        self.model = model
        self.kind = kind

    def forward(self, left_ids: Tensor, right_ids: Tensor) -> tuple[Tensor, ...]:
        logits, *attention = self.model(left_ids, right_ids)
        return (head(logits, self.kind), *attention)


@dataclass(frozen=True)
class AttentionOutput:
    """One attention tensor a pair model returns after its logits, as the card describes it."""

    name: str  # e.g. "attention_1"
    description: str
    legend: str = "(B, L, R): sentence-1 positions x sentence-2 positions"
    rank: int = 3
    sizes: tuple[int, ...] = ()  # the last axes' fixed sizes (the others vary: -1)


def prediction_spec(kind: PairKind) -> TensorSpec:
    if kind.relatedness:
        return TensorSpec(
            name="score",
            datatype="FP32",
            shape=[-1],
            description=f"{kind.title}: the expected score Σ_k p_k k over the integer points "
            f"{kind.labels[0]}..{kind.labels[-1]}",
            legend="(B,)",
        )
    names = ", ".join(f"{i} = {label}" for i, label in enumerate(kind.labels))
    extra = "; candidates are ranked by the probability of class 1" if kind.name == "wikiqa" else ""
    return TensorSpec(
        name="probabilities",
        datatype="FP32",
        shape=[-1, kind.classes],
        description=f"{kind.title}: class probabilities ({names}){extra}",
        legend="(B, C)",
    )


def export_spec(
    model: nn.Module, task: PairTask, attention: Sequence[AttentionOutput]
) -> ExportSpec:
    """The served contract of every pair model: ``left_ids (B, L)`` and ``right_ids (B, R)``
    (or the texts ``text_a`` / ``text_b``), the task's prediction (``probabilities`` or
    ``score``) and the model's attention tensors, in the order ``forward`` returns them."""
    kind = task.kind
    test = task.pairs("test")
    encoded = task.encode(test)
    by_length = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]) + len(encoded[i][1]))
    picked = [by_length[0], by_length[len(by_length) // 2], by_length[-1]]
    mixed = task.collate([encoded[i] for i in picked])[:2]  # different lengths, padded
    # Sentence 1 longer than sentence 2 where the data allows it (L != R, unpadded).
    swapped = next((r for r in encoded if len(r[0]) > len(r[1]) >= 2), encoded[by_length[-1]])
    single = task.collate([swapped])[:2]
    first = test[0]
    first_ids = encoded[0]
    batch = Dim("batch", min=1, max=1024)
    # The served tokenizer truncates to max_length; ids inputs are held to it (max_shape).
    left_len = Dim("left_length", min=1, max=task.data.max_length)
    right_len = Dim("right_length", min=1, max=task.data.max_length)
    ids_input = {
        "left_ids": "sentence 1" + (" (the question)" if kind.name == "wikiqa" else ""),
        "right_ids": "sentence 2" + (" (the candidate answer)" if kind.name == "wikiqa" else ""),
    }
    outputs = [prediction_spec(kind)] + [
        TensorSpec(
            name=a.name,
            datatype="FP32",
            shape=[-1] * (a.rank - len(a.sizes)) + list(a.sizes),
            description=a.description,
            legend=a.legend,
        )
        for a in attention
    ]
    return ExportSpec(
        module=PairHead(model, kind).eval(),
        args=mixed,
        input_names=["left_ids", "right_ids"],
        output_names=[t.name for t in outputs],
        dynamic_shapes={"left_ids": {0: batch, 1: left_len}, "right_ids": {0: batch, 1: right_len}},
        io=ModelIO(
            max_batch_size=64,
            inputs=[
                TensorSpec(
                    name=name,
                    datatype="INT64",
                    shape=[-1, -1],
                    description=f"Word ids of {what}, rows padded with [PAD]=0 (masked)",
                    vocab_size=task.vocab_size,
                    max_shape=[-1, task.data.max_length],
                    legend="(B, L)" if name == "left_ids" else "(B, R)",
                )
                for name, what in ids_input.items()
            ],
            outputs=outputs,
            text_inputs=[
                TextInput(
                    name="text_a",
                    ids_input="left_ids",
                    tokenizer=TOKENIZER_FILE,
                    max_length=task.data.max_length,
                ),
                TextInput(
                    name="text_b",
                    ids_input="right_ids",
                    tokenizer=TOKENIZER_FILE,
                    max_length=task.data.max_length,
                ),
            ],
            pad_id=PAD,
            # [PAD] is zeroed and masked: convolutions see zeros as their own padding, pooling
            # and attention skip it, RNNs read it last
            ragged_batching=True,
        ),
        examples=ids_and_text(
            f"word ids of: {first.left!r} / {first.right!r}",
            {"left_ids": first_ids[0], "right_ids": first_ids[1]},
            "two texts, tokenized by the server (lower-cased words)",
            {"text_a": first.left, "text_b": first.right},
        ),
        parity_inputs=[mixed, single],
        tolerance=1e-4,
        files={TOKENIZER_FILE: task.tokenizer_path},
        preferred_batch_sizes=[8, 16, 32],
    )


def onnx_predict(onnx_path: Path, task: PairTask, split: str) -> np.ndarray:
    """The exported graph's prediction (first output) on ``split``, on onnxruntime (CPU)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    name = session.get_outputs()[0].name
    encoded = task.encode(task.pairs(split))
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i][0]), len(encoded[i][1])))
    out: list[np.ndarray] = [np.empty(0)] * len(encoded)
    for start in range(0, len(order), 64):
        chunk = order[start : start + 64]
        left, right, _ = task.collate([encoded[i] for i in chunk])
        (pred,) = session.run([name], {"left_ids": left.numpy(), "right_ids": right.numpy()})
        for row, i in zip(pred, chunk, strict=True):
            out[i] = row
    return np.stack(out)


NOTES = {
    "map": "mean average precision over the {n} test questions with a correct answer",
    "mrr": "mean reciprocal rank over the {n} test questions with a correct answer",
    "accuracy": "% of test pairs",
    "f1": "F1 of the paraphrase class, %",
    "pearson": "Pearson r of the expected score",
    "spearman": "Spearman rho of the expected score",
    "mse": "mean squared error of the expected score",
}


def evaluate_onnx(
    onnx_path: Path, task: PairTask, split: str = "test", paper: dict[str, float] | None = None
) -> list[Metric]:
    """The task's metrics of the exported graph on ``split`` (see pair_metrics), each beside the
    paper's figure where ``paper`` has one."""
    measured = task.metrics(split, onnx_predict(onnx_path, task, split))
    n = int(measured.pop("questions", 0))
    paper = paper or {}
    digits = 2 if task.kind.name in ("msrp", "sick-entailment") else 4
    return [
        Metric(
            name=name,
            value=round(value, digits) if math.isfinite(value) else value,
            split=split,
            paper=paper.get(name),
            note=f"{task.kind.name}: " + NOTES[name].format(n=n),
        )
        for name, value in measured.items()
    ]
