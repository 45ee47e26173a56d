"""Document classification as a trainer task, shared by HAN, the structured self-attentive
sentence embedding and the DiSAN-style model: AG News (training/data/ag_news.py) or the generated
deciding-sentence task (training/data/deciding_sentence.py), chosen by ``DocumentData.dataset``.

Tokenizer. A word-level HF ``tokenizers`` model saved beside the checkpoint (``tokenizer.json``)
and served with the model, so the server's text path (``document_text`` -> ``document_ids``)
feeds the graph what training saw. Its normaliser marks every sentence boundary — ``.``, ``!`` or
``?``, whitespace, then a capital letter, digit or quote — with the separator token ``¶`` (id
:data:`SEP`), then lower-cases; the pre-tokenizer splits words from punctuation. The vocabulary is
the training split's words seen at least ``min_frequency`` times, most frequent first. Ids:
[PAD]=0, [BOS]=1, [EOS]=2 (unused), [UNK]=3, ``¶``=4. The tokenizer truncates to ``max_length``.

Documents are flat ids (B, L) for every model. HAN regroups them into (B, sentences, words) with
:func:`sentence_grid` — inside its graph too, so one text input serves all three models.

Metrics (on the exported graph): accuracy, and on the generated task the sentence-attention
correctness: the share of documents whose most-attended sentence is the deciding one (HAN: its
sentence-level weights; flat models: the sentence whose word tokens hold the most attention mass).

Legend: N documents, B batch, L tokens, S sentences, W words per sentence, C classes.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers
from torch import Tensor, nn
from torch.export import Dim

from taxonomy.card import Metric, ModelIO, TensorSpec, TextInput
from training.config import TrainConfig
from training.data import ag_news, deciding_sentence
from training.data.deciding_sentence import GeneratedDocs
from training.data.documents import Document
from training.data.tokenizer import PAD, SPECIALS, UNK
from training.spec import ExportSpec
from training.tasks.examples import ids_and_text

TOKENIZER_FILE = "tokenizer.json"
SEPARATOR = "¶"
SEP = len(SPECIALS)  # 4: the sentence separator's id
DATASETS = {"ag_news": ag_news.CLASSES, "deciding_sentence": deciding_sentence.CLASSES}
# A sentence ends at . ! or ? followed by whitespace and a capital letter, digit or quote.
BOUNDARY = r"(?<=[.!?])\s+(?=[\"'A-Z0-9])"


@dataclass
class DocumentData:
    dataset: str = "ag_news"  # "ag_news" | "deciding_sentence"
    vocab_size: int = 20000  # at most, specials included
    min_frequency: int = 2
    max_length: int = 128  # tokens (separators included): truncation and the served limit
    max_sentences: int = 8  # HAN's sentence slots S (later sentences are dropped)
    max_words: int = 40  # HAN's word slots W per sentence (later words are dropped)
    split_seed: int = 0  # AG News's stratified 80/10/10 split
    train_limit: int | None = None  # the first N training documents (tests)
    eval_limit: int | None = None  # the first N documents of val / test (tests)
    generated: GeneratedDocs = field(default_factory=GeneratedDocs)


class DocBatch(NamedTuple):
    ids: Tensor  # (B, L)
    labels: Tensor  # (B,)
    deciding: Tensor  # (B,) index of the deciding sentence, -1 if unknown


class DocOutput(NamedTuple):
    logits: Tensor  # (B, C)
    attention: dict[str, Tensor]  # served name -> weights
    penalty: Tensor | None = None  # (B,) already weighted (Lin's ‖AAᵀ − I‖²_F), else None


def _normalizer() -> normalizers.Normalizer:
    return normalizers.Sequence(
        [
            normalizers.NFKC(),
            normalizers.Replace(Regex(BOUNDARY), f" {SEPARATOR} "),
            normalizers.Lowercase(),
        ]
    )


def build_tokenizer(
    texts: Iterable[str], vocab_size: int, min_frequency: int, max_length: int
) -> Tokenizer:
    """The word tokenizer of the module docstring, its vocabulary counted on ``texts``."""
    normalizer, pre = _normalizer(), pre_tokenizers.Whitespace()
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    specials = [*SPECIALS, SEPARATOR]
    words = sorted(
        (w for w, n in counts.items() if n >= min_frequency and w not in specials),
        key=lambda w: (-counts[w], w),
    )[: max(vocab_size - len(specials), 0)]
    vocab = {w: i for i, w in enumerate([*specials, *words])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=SPECIALS[UNK]))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.enable_truncation(max_length)
    return tok


def documents(data: DocumentData, data_dir: Path, split: str) -> list[Document]:
    if data.dataset == "ag_news":
        docs = ag_news.load(data_dir, split, data.split_seed)
    elif data.dataset == "deciding_sentence":
        docs = deciding_sentence.make(data.generated, split)
    else:
        raise ValueError(f"unknown dataset {data.dataset!r}; valid: {', '.join(DATASETS)}")
    return docs[: data.train_limit] if split == "train" else docs[: data.eval_limit]


def pad_rows(rows: list[list[int]]) -> Tensor:
    out = torch.full((len(rows), max(len(r) for r in rows)), PAD, dtype=torch.long)  # (B, L)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out


def sentence_of_tokens(ids: Tensor) -> Tensor:
    """(B, L) ids -> (B, L) int64: the sentence each token belongs to (a separator opens the
    next sentence)."""
    return torch.cumsum((ids == SEP).long(), 1)


def sentence_grid(ids: Tensor, sentences: int, words: int) -> tuple[Tensor, Tensor]:
    """Flat ids (B, L) -> the word grid (B, S, W) of the first S sentences' first W words
    (separators dropped, [PAD] elsewhere) and ``slot`` (B, L): where each token sits in the
    flattened grid (s W + w), or -1 for separators, padding and dropped words.

    Gathers and comparisons only (no scatter), so it exports as it runs: global word k of the
    grid lies at the flat position whose running word count first reaches k + 1."""
    B, L = ids.shape
    is_word = (ids != PAD) & (ids != SEP)  # (B, L)
    sentence = sentence_of_tokens(ids)  # (B, L)
    count = torch.cumsum(is_word.long(), 1)  # (B, L): words up to and including t
    slots = torch.arange(sentences, device=ids.device).view(1, -1, 1)  # (1, S, 1)
    mine = is_word.unsqueeze(1) & (sentence.unsqueeze(1) == slots)  # (B, S, L)
    earlier = is_word.unsqueeze(1) & (sentence.unsqueeze(1) < slots)  # (B, S, L)
    lengths = mine.long().sum(-1)  # (B, S): words per sentence
    before = earlier.long().sum(-1)  # (B, S): words in earlier sentences
    offsets = torch.arange(words, device=ids.device).view(1, 1, -1)  # (1, 1, W)
    wanted = (before.unsqueeze(-1) + offsets).reshape(B, -1, 1)  # (B, S W, 1): global word k
    where = (count.unsqueeze(1) <= wanted).long().sum(-1)  # (B, S W): flat position of word k
    grid = ids.gather(1, where.clamp(max=L - 1)).view(B, sentences, words)  # (B, S, W)
    grid = torch.where(offsets < lengths.unsqueeze(-1), grid, torch.zeros_like(grid))
    capped = sentence.clamp(max=sentences - 1)  # (B, L)
    position = count - 1 - before.gather(1, capped)  # (B, L): word index within its sentence
    placed = is_word & (sentence < sentences) & (position < words)  # (B, L)
    slot = torch.where(placed, capped * words + position, torch.full_like(position, -1))
    return grid, slot


def grid_to_tokens(weights: Tensor, slot: Tensor) -> Tensor:
    """Grid weights (B, S, W) -> one weight per flat token (B, L) by ``slot`` (0 where -1)."""
    flat = weights.reshape(weights.shape[0], -1)  # (B, S W)
    picked = flat.gather(1, slot.clamp(min=0))  # (B, L)
    return torch.where(slot >= 0, picked, torch.zeros_like(picked))


def mass_by_sentence(token_mass: np.ndarray, ids: np.ndarray, sentences: int) -> np.ndarray:
    """Attention mass (B, L) summed over each sentence's word tokens -> (B, S) (separators and
    padding count for nothing; sentences past S are dropped)."""
    index = np.cumsum(ids == SEP, axis=1)  # (B, L)
    is_word = (ids != PAD) & (ids != SEP)
    out = np.zeros((ids.shape[0], sentences))
    for s in range(sentences):
        out[:, s] = (token_mass * (is_word & (index == s))).sum(1)
    return out


class DocumentTask:
    monitor = "val_accuracy"

    def __init__(self, data: DocumentData, batch_size: int, data_dir: Path, run_dir: Path) -> None:
        self.data = data
        self.data_dir = data_dir
        self.batch_size = batch_size
        self.classes = DATASETS[data.dataset]
        self.tokenizer_path = run_dir / TOKENIZER_FILE
        if self.tokenizer_path.exists():
            self.tokenizer = Tokenizer.from_file(str(self.tokenizer_path))
        else:
            texts = [d.text for d in self.documents("train")]
            self.tokenizer = build_tokenizer(
                texts, data.vocab_size, data.min_frequency, data.max_length
            )
            run_dir.mkdir(parents=True, exist_ok=True)
            self.tokenizer.save(str(self.tokenizer_path))
        self.vocab_size = self.tokenizer.get_vocab_size()
        self._encoded: dict[str, list[tuple[list[int], int, int]]] = {}

    def documents(self, split: str) -> list[Document]:
        return documents(self.data, self.data_dir, split)

    def encoded(self, split: str) -> list[tuple[list[int], int, int]]:
        """(ids, label, deciding sentence) per document of a split."""
        if split not in self._encoded:
            docs = self.documents(split)
            enc = self.tokenizer.encode_batch([d.text for d in docs])
            self._encoded[split] = [
                (e.ids or [PAD], d.label, d.deciding) for e, d in zip(enc, docs, strict=True)
            ]
        return self._encoded[split]

    def tensors(self, split: str) -> DocBatch:
        rows = self.encoded(split)
        return DocBatch(
            pad_rows([r[0] for r in rows]),
            torch.tensor([r[1] for r in rows]),
            torch.tensor([r[2] for r in rows]),
        )

    def batches(self, split: str, epoch: int) -> Iterator[DocBatch]:
        rows = self.encoded(split)
        order = list(range(len(rows)))
        size = self.batch_size
        if split == "train":
            # Shuffle, sort pools of 50 batches by length (less padding), shuffle the batches.
            rng = random.Random(epoch)
            rng.shuffle(order)
            pool = 50 * size
            order = [
                i
                for p in range(0, len(order), pool)
                for i in sorted(order[p : p + pool], key=lambda i: len(rows[i][0]))
            ]
        starts = list(range(0, len(order), size))
        if split == "train":
            rng.shuffle(starts)
        for start in starts:
            chunk = [rows[i] for i in order[start : start + size]]
            yield DocBatch(
                pad_rows([r[0] for r in chunk]),
                torch.tensor([r[1] for r in chunk]),
                torch.tensor([r[2] for r in chunk]),
            )

    def loss(self, model: nn.Module, batch: DocBatch) -> Tensor:
        out: DocOutput = model(batch.ids)
        loss = F.cross_entropy(out.logits, batch.labels)
        return loss if out.penalty is None else loss + out.penalty.mean()

    def validate(self, model: nn.Module) -> dict[str, float]:
        total, correct, count = 0.0, 0, 0
        for batch in self.batches("val", 0):
            out: DocOutput = model(batch.ids)
            total += float(F.cross_entropy(out.logits, batch.labels, reduction="sum"))
            correct += int((out.logits.argmax(-1) == batch.labels).sum())
            count += len(batch.labels)
        return {"val_loss": total / count, "val_accuracy": correct / count}

    def optimizer(
        self, model: nn.Module, train: TrainConfig
    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]:
        opt = torch.optim.Adam(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
        return opt, None


class Served(nn.Module):
    """The served graph: document ids (B, L) -> class probabilities (B, C) and the model's
    attention outputs named ``names``, in that order."""

    def __init__(self, model: nn.Module, names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, document_ids: Tensor) -> tuple[Tensor, ...]:
        out: DocOutput = self.model(document_ids)
        return (torch.softmax(out.logits, -1), *[out.attention[n] for n in self.names])


def export_spec(model: nn.Module, task: DocumentTask, attention: list[TensorSpec]) -> ExportSpec:
    """The served contract shared by the document models: ``document_ids`` (or
    ``document_text``) in; ``probabilities`` and the attention outputs ``attention`` out."""
    val = task.encoded("val")
    by_length = sorted(val, key=lambda r: len(r[0]))
    mixed = pad_rows([by_length[0][0], by_length[len(val) // 2][0], by_length[-1][0]])  # (3, L)
    longest = pad_rows([by_length[-1][0]])  # (1, L)
    first = task.documents("test")[0]
    first_ids = task.tokenizer.encode(first.text).ids
    classes = ", ".join(f"{i} {c}" for i, c in enumerate(task.classes))
    max_length = task.data.max_length
    outputs = [
        TensorSpec(
            name="probabilities",
            datatype="FP32",
            shape=[-1, len(task.classes)],
            description=f"Class probabilities ({classes})",
            legend="(B, C)",
        ),
        *attention,
    ]
    return ExportSpec(
        module=Served(model, [t.name for t in attention]).eval(),
        args=(mixed,),
        input_names=["document_ids"],
        output_names=[t.name for t in outputs],
        dynamic_shapes={
            "document_ids": {
                0: Dim("batch", min=1, max=1024),
                1: Dim("document_length", min=2, max=max_length),
            }
        },
        io=ModelIO(
            max_batch_size=64,
            inputs=[
                TensorSpec(
                    name="document_ids",
                    datatype="INT64",
                    shape=[-1, -1],
                    description=f"Word ids, sentences separated by {SEPARATOR} (id {SEP}), rows "
                    "padded with [PAD]=0",
                    vocab_size=task.vocab_size,
                    max_shape=[-1, max_length],
                    legend="(B, L)",
                )
            ],
            outputs=outputs,
            text_inputs=[
                TextInput(
                    name="document_text",
                    ids_input="document_ids",
                    tokenizer=TOKENIZER_FILE,
                    max_length=max_length,
                )
            ],
            pad_id=PAD,
            # [PAD] is masked everywhere (attention, RNN lengths, HAN's fixed sentence grid)
            ragged_batching=True,
        ),
        examples=ids_and_text(
            f"test document 0 (class {task.classes[first.label]}): {first.text}",
            {"document_ids": first_ids},
            "the same document as text, tokenized by the server",
            {"document_text": first.text},
        ),
        parity_inputs=[(mixed,), (longest,)],
        tolerance=1e-4,
        files={TOKENIZER_FILE: task.tokenizer_path},
        preferred_batch_sizes=[8, 16, 32],
    )


# Sentence scores of one exported model: (its outputs by name, the ids fed) -> (B, S).
SentenceScores = Callable[[dict[str, np.ndarray], np.ndarray], np.ndarray]


def onnx_outputs(onnx_path: Path, task: DocumentTask, split: str, batch: int = 64) -> tuple:
    """Run the exported graph over a split (onnxruntime CPU), batches of similar length.
    Returns (per-document outputs {name: list of arrays}, ids list, labels, deciding)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    rows = task.encoded(split)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))
    chunks = []
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        ids = pad_rows([rows[i][0] for i in chunk]).numpy()
        out = dict(zip(names, session.run(names, {"document_ids": ids}), strict=True))
        chunks.append((chunk, ids, out))
    return chunks, rows


def evaluate_onnx(
    onnx_path: Path, task: DocumentTask, split: str, sentence_scores: SentenceScores
) -> list[Metric]:
    """Accuracy of the exported graph on a split, and on the generated task the share of
    documents whose most-attended sentence (``sentence_scores``) is the deciding one."""
    chunks, rows = onnx_outputs(onnx_path, task, split)
    correct, attended, known = 0, 0, 0
    for chunk, ids, out in chunks:
        labels = np.array([rows[i][1] for i in chunk])
        deciding = np.array([rows[i][2] for i in chunk])
        correct += int((out["probabilities"].argmax(-1) == labels).sum())
        if (deciding >= 0).any():
            top = sentence_scores(out, ids).argmax(-1)  # (B,)
            attended += int(((top == deciding) & (deciding >= 0)).sum())
            known += int((deciding >= 0).sum())
    metrics = [
        Metric(
            name="accuracy",
            value=round(100 * correct / len(rows), 2),
            split=split,
            note=f"% of {len(rows)} {task.data.dataset} {split} documents",
        )
    ]
    if known:
        metrics.append(
            Metric(
                name="sentence_attention",
                value=round(attended / known, 4),
                split=split,
                note="share of documents whose most-attended sentence is the deciding one",
            )
        )
    return metrics


# The data settings of each dataset, applied by a preset or by the benchmark's dataset override:
# AG News documents are a title and 1-4 sentences of up to ~60 words (99 % fit in 128 tokens,
# ~13k words occur twice in the training split); generated documents are 3-6 sentences of at
# most 10 tokens over a vocabulary of 61 words.
# The embedding table has vocab_size rows (the tokenizer's vocabulary is at most that).
DATA_SETTINGS: dict[str, dict[str, int | str]] = {
    "ag_news": {
        "dataset": "ag_news",
        "vocab_size": 16000,
        "max_length": 128,
        "max_sentences": 6,  # 99 % of documents have at most 5 sentences
        "max_words": 48,  # 90 % of sentences have at most 40 words
    },
    "deciding_sentence": {
        "dataset": "deciding_sentence",
        "vocab_size": 96,
        "max_length": 80,
        "max_sentences": 6,
        "max_words": 12,
    },
}


def data_for(dataset: str) -> DocumentData:
    """The default data settings of ``dataset`` (a model config's ``data`` default)."""
    return DocumentData(**DATA_SETTINGS[dataset])  # type: ignore[arg-type]


def token_mass_scores(output: str, axis: int, sentences: int) -> SentenceScores:
    """Sentence scores of a flat model: its attention ``output`` averaged over ``axis`` (hops or
    features) into one mass per token, summed over each sentence's word tokens."""

    def scores(outputs: dict[str, np.ndarray], ids: np.ndarray) -> np.ndarray:
        return mass_by_sentence(outputs[output].mean(axis), ids, sentences)

    return scores


class DocumentConfig(Protocol):
    data: DocumentData
    train: TrainConfig


def make_task(cfg: DocumentConfig, data_dir: Path, run_dir: Path) -> DocumentTask:
    return DocumentTask(cfg.data, cfg.train.batch_size, data_dir, run_dir)


def dataset_folders(data: DocumentData) -> tuple[str, ...]:
    """What ModelSpec.datasets names for a served dataset (generated sets included)."""
    return (data.dataset,)
