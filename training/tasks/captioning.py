"""Image captioning as a trainer task: digit grids (training.data.digit_grids) -> captions, with
Show, Attend and Tell's objectives, and the caption metrics measured on an exported graph.

Objectives (Xu et al. 2015):

* soft: cross-entropy plus the doubly stochastic regulariser λ Σ_i (τ − Σ_t α_ti)², which asks
  every region to receive, over the caption, a total attention τ. The paper writes τ = 1 (and
  notes τ ≥ C/L); here τ = C / L with C the caption's decoded steps (words + [EOS]) and L regions,
  so the C rows of α can satisfy it exactly.
* hard: the paper's variational lower bound with REINFORCE. For a sampled sequence of locations
  s̃ (one per step), with log p(y | s̃, a) the caption's log-likelihood and
  log p(s̃ | a) = Σ_t log α_t,s̃_t, the surrogate loss is
  −[log p(y|s̃,a) + λ_r (log p(y|s̃,a) − b) log p(s̃|a) + λ_e Σ_t H(α_t)], with the moving-average
  baseline b_k = 0.9 b_{k−1} + 0.1 log p(y | s̃_k, a) over minibatches k (batch mean; the advantage
  of batch k uses b_{k−1}, the baseline from earlier batches only; b_0 = the first batch's mean).
  ``expectation_prob``: the paper's variance reduction, "with probability 0.5 for a given image,
  we set the sampled attention location s̃ to its expected value α" — those images train like
  soft attention and take no REINFORCE term.

Metrics (all from greedy captions; see :func:`caption_metrics`): exact caption match, token
accuracy, BLEU-4 (sacrebleu on whitespace word tokens, ``tokenize="none"``: standard corpus
BLEU-4 of Papineni et al. on words) and attention localisation.

Legend: B batch, H/W image pixels, L regions (= cells), T steps, V vocabulary.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from torch import Tensor, nn

from taxonomy.card import Metric
from training.config import TrainConfig
from training.data import digit_grids
from training.data.digit_grids import GridData, Grids
from training.data.tokenizer import BOS, EOS, PAD, SPECIALS, UNK

TOKENIZER_FILE = "tokenizer.json"
# Caption words follow the specials: word id = FIRST_WORD + cell label (0-9 digits, 10 blank).
FIRST_WORD = len(SPECIALS)
VOCAB_SIZE = FIRST_WORD + len(digit_grids.VOCABULARY)
# Show, Attend and Tell on Flickr8k (Xu et al. 2015, Table 1): BLEU-4 in %.
PAPER_BLEU4 = {"soft": 19.5, "hard": 21.3}


@dataclass
class CaptionObjective:
    doubly_stochastic: float = 1.0  # λ of the soft regulariser
    # λ_r: weight of the REINFORCE term (hard). At 1.0 the sentence-level term's noise drowned
    # α's other gradients (localisation 0.27 after 14 full-preset epochs); at 0.1 it reached 1.0
    # by epoch 7 (measured on the full preset, seed 0).
    reinforce: float = 0.1
    entropy: float = 0.01  # λ_e: weight of the entropy bonus (hard)
    baseline_decay: float = 0.9  # b_k = decay b_{k-1} + (1 - decay) log p(y | s̃_k, a)
    expectation_prob: float = 0.5  # hard: share of images trained with α's expectation


class CaptionOutput(NamedTuple):
    logits: Tensor  # (B, T, V)
    weights: Tensor  # (B, T, L): the attention applied (α for soft, one-hot s̃ for hard)
    probs: Tensor  # (B, T, L): the distribution α (equal to weights for soft)
    sampled: Tensor  # (B,) bool: rows whose context was a sampled location (hard, training)


class Captioner(Protocol):
    hard: bool

    def __call__(self, images: Tensor, target_in: Tensor) -> CaptionOutput: ...

    def greedy(self, images: Tensor) -> tuple[Tensor, Tensor]: ...


def word_tokenizer() -> Tokenizer:
    """A WordLevel tokenizer over the caption words with the served special ids ([PAD]=0,
    [BOS]=1, [EOS]=2, [UNK]=3); encoding adds [BOS] ... [EOS] itself."""
    vocab = {name: i for i, name in enumerate(SPECIALS)}
    vocab.update({word: FIRST_WORD + i for i, word in enumerate(digit_grids.VOCABULARY)})
    tok = Tokenizer(models.WordLevel(vocab, unk_token=SPECIALS[UNK]))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single=f"{SPECIALS[BOS]} $A {SPECIALS[EOS]}",
        special_tokens=[(SPECIALS[BOS], BOS), (SPECIALS[EOS], EOS)],
    )
    return tok


def caption_ids(labels: np.ndarray) -> Tensor:
    """labels (N, L) -> [BOS] words [EOS] ids (N, L + 2)."""
    n = labels.shape[0]
    words = torch.as_tensor(labels, dtype=torch.long) + FIRST_WORD  # (N, L)
    bos = torch.full((n, 1), BOS, dtype=torch.long)
    eos = torch.full((n, 1), EOS, dtype=torch.long)
    return torch.cat([bos, words, eos], dim=1)  # (N, L + 2)


class CaptionTask:
    monitor = "val_score"  # (token accuracy + localisation) / 2 of greedy captions on val

    def __init__(
        self, data: GridData, objective: CaptionObjective, batch_size: int, run_dir: Path
    ) -> None:
        self.data = data
        self.objective = objective
        self.batch_size = batch_size
        self.tokenizer = word_tokenizer()
        self.tokenizer_path = run_dir / TOKENIZER_FILE
        run_dir.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save(str(self.tokenizer_path))
        self.vocab_size = self.tokenizer.get_vocab_size()
        assert self.vocab_size == VOCAB_SIZE
        self._splits: dict[str, Grids] = {}
        self.baseline: float | None = None  # REINFORCE moving average (hard)

    def grids(self, split: str) -> Grids:
        if split not in self._splits:
            self._splits[split] = digit_grids.make_split(self.data, split)
        return self._splits[split]

    def tensors(self, split: str) -> tuple[Tensor, Tensor]:
        """images (N, H, W) float32 and captions (N, L + 2) int64 of a split."""
        grids = self.grids(split)
        return torch.from_numpy(grids.images), caption_ids(grids.labels)

    def batches(self, split: str, epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
        images, captions = self.tensors(split)
        order = list(range(len(images)))
        if split == "train":
            random.Random(epoch).shuffle(order)
        for start in range(0, len(order), self.batch_size):
            index = torch.tensor(order[start : start + self.batch_size])
            yield images[index], captions[index]

    def loss(self, model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
        images, captions = batch  # (B, H, W), (B, L + 2)
        out: CaptionOutput = model(images, captions[:, :-1])
        gold = captions[:, 1:]  # (B, T)
        real = (gold != PAD).float()  # (B, T)
        token_nll = F.cross_entropy(out.logits.transpose(1, 2), gold, reduction="none")  # (B, T)
        tokens = real.sum()
        if not getattr(model, "hard", False):
            return (token_nll * real).sum() / tokens + self.objective.doubly_stochastic * (
                doubly_stochastic(out.weights, real)
            )
        log_likelihood = -(token_nll * real).sum(1)  # (B,): log p(y | s̃, a)
        reward = float(log_likelihood.detach().mean())
        baseline = reward if self.baseline is None else self.baseline
        decay = self.objective.baseline_decay
        self.baseline = decay * baseline + (1 - decay) * reward
        chosen = (out.probs * out.weights).sum(-1).clamp_min(1e-12)  # (B, T): α_t,s̃_t
        log_locations = (chosen.log() * real).sum(1) * out.sampled.float()  # (B,): log p(s̃|a)
        advantage = (log_likelihood.detach() - baseline) * self.objective.reinforce  # (B,)
        entropy = -(out.probs * out.probs.clamp_min(1e-12).log()).sum(-1)  # (B, T)
        entropy = (entropy * real).sum(1)  # (B,)
        bound = log_likelihood + advantage * log_locations + self.objective.entropy * entropy
        return -bound.sum() / tokens

    def validate(self, model: nn.Module) -> dict[str, float]:
        images, captions = self.tensors("val")
        total, tokens = 0.0, 0
        ids_parts, attention_parts = [], []
        for start in range(0, len(images), 256):
            im, cap = images[start : start + 256], captions[start : start + 256]
            out: CaptionOutput = model(im, cap[:, :-1])
            gold = cap[:, 1:]
            total += float(
                F.cross_entropy(out.logits.transpose(1, 2), gold, ignore_index=PAD, reduction="sum")
            )
            tokens += int((gold != PAD).sum())
            ids, attention = model.greedy(im)  # type: ignore[operator]
            ids_parts.append(ids.numpy())
            attention_parts.append(attention.numpy())
        metrics = caption_metrics(
            np.concatenate(ids_parts), np.concatenate(attention_parts), self.grids("val")
        )
        loss = total / max(tokens, 1)
        return {
            "val_loss": loss,
            "val_token_accuracy": metrics["token_accuracy"],
            "val_localisation": metrics["localisation"],
            "val_exact_match": metrics["exact_match"],
            "val_score": (metrics["token_accuracy"] + metrics["localisation"]) / 2,
        }

    def optimizer(
        self, model: nn.Module, train: TrainConfig
    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]:
        opt = torch.optim.Adam(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
        return opt, None


def doubly_stochastic(weights: Tensor, real: Tensor) -> Tensor:
    """Σ_i (τ − Σ_t α_ti)², batch mean, with τ = C / L (C decoded steps, L regions).
    weights (B, T, L), real (B, T) 1 for decoded steps (words and [EOS]), 0 for padding."""
    per_region = (weights * real.unsqueeze(-1)).sum(1)  # (B, L): Σ_t α_ti
    tau = real.sum(1, keepdim=True) / weights.shape[-1]  # (B, 1)
    return ((tau - per_region) ** 2).sum(-1).mean()


def _produced(row: np.ndarray) -> list[int]:
    """Output ids up to (not including) the first [EOS]; [PAD]/[BOS] dropped."""
    out: list[int] = []
    for i in row.tolist():
        if i == EOS:
            break
        if i not in (PAD, BOS):
            out.append(int(i))
    return out


def _word(token: int) -> str:
    return digit_grids.VOCABULARY[token - FIRST_WORD] if token >= FIRST_WORD else SPECIALS[token]


def caption_metrics(
    ids: np.ndarray, attention: np.ndarray, grids: Grids, region_cells: np.ndarray | None = None
) -> dict[str, float]:
    """Metrics of greedy captions against a split's references.

    ids (N, T) output ids after [BOS] ([EOS] included, [PAD] after); attention (N, T, L_r) one
    row per output step; region_cells (L_r,) the cell of each region (default: region i = cell i).

    * exact_match: share of captions equal to the reference word for word.
    * token_accuracy: over every reference token (its L words and [EOS]), the share that the
      output has at the same position.
    * bleu4: corpus BLEU-4 (0-100) by sacrebleu on word tokens (``tokenize="none"``).
    * localisation: over every generated word (before [EOS]), the attention mass that its step put
      on the cell that word names — cell t for the word at position t in reading order; words past
      the last cell name none and count 0. For hard attention (one-hot rows) this is the share of
      words whose chosen location lies in the named cell.
    """
    import sacrebleu

    N, T = ids.shape
    L = grids.labels.shape[1]
    cells = np.arange(attention.shape[-1]) if region_cells is None else region_cells
    reference = caption_ids(grids.labels)[:, 1:].numpy()  # (N, L + 1): words, [EOS]
    width = min(T, reference.shape[1])
    padded = np.full((N, reference.shape[1]), PAD, dtype=ids.dtype)  # (N, L + 1)
    padded[:, :width] = ids[:, :width]
    exact, correct, mass, words = 0, 0, 0.0, 0
    hyps, refs = [], []
    for n in range(N):
        produced = _produced(ids[n])
        truth = [FIRST_WORD + int(c) for c in grids.labels[n]]
        exact += produced == truth
        correct += int((padded[n] == reference[n]).sum())
        for t in range(len(produced)):
            if t < L:
                mass += float(attention[n, t, cells == t].sum())
            words += 1
        hyps.append(" ".join(_word(i) for i in produced))
        refs.append(grids.caption(n))
    bleu = sacrebleu.corpus_bleu(hyps, [refs], tokenize="none")
    return {
        "exact_match": exact / N,
        "token_accuracy": correct / reference.size,
        "bleu4": float(bleu.score),
        "localisation": mass / max(words, 1),
    }


def onnx_captions(onnx_path: Path, images: np.ndarray, batch: int = 128) -> tuple[Any, Any]:
    """Greedy captions of the exported graph (onnxruntime CPU): ids (N, T), attention (N, T, L)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    ids, attention = [], []
    for start in range(0, len(images), batch):
        out_ids, out_attention = session.run(
            ["output_ids", "attention"], {"image": images[start : start + batch]}
        )
        ids.append(out_ids)
        attention.append(out_attention)
    return np.concatenate(ids), np.concatenate(attention)


def evaluate_onnx(onnx_path: Path, task: CaptionTask, split: str, mechanism: str) -> list[Metric]:
    """The caption metrics of the exported graph on a held-out split (card metrics)."""
    grids = task.grids(split)
    ids, attention = onnx_captions(onnx_path, grids.images)
    m = caption_metrics(ids, attention, grids)
    paper_note = "paper: Flickr8k, not comparable"
    return [
        Metric(name="exact_match", value=round(m["exact_match"], 4), split=split),
        Metric(name="token_accuracy", value=round(m["token_accuracy"], 4), split=split),
        Metric(
            name="bleu4",
            value=round(m["bleu4"], 2),
            split=split,
            paper=PAPER_BLEU4[mechanism],
            note=f"sacrebleu, word tokens; {paper_note}",
        ),
        Metric(
            name="localisation",
            value=round(m["localisation"], 4),
            split=split,
            note="attention mass on the named cell"
            if mechanism == "soft"
            else "chosen location in the named cell",
        ),
    ]
