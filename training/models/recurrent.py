"""Building blocks shared by the recurrent encoder-decoders (RNNsearch, Luong's global and local
attention, the fixed-vector baseline): the config, the encoder, the step-decoder contract, the
teacher-forced model, the greedy loop that runs inside the served graph, and the spec helpers.

Encoder: embeddings and a GRU or LSTM over the padded source; bidirectional = a forward RNN and a
backward RNN that reads every row reversed *within its length*, so padding is always read last
and never leaks into a real position's state. ``summary`` is [forward state at the last real
token; backward state at the first] — what a fixed-vector encoder hands the decoder.

Decoders implement :class:`StepDecoder`: ``start`` turns the encoder's output into loop-invariant
``memory`` (projected keys, values, the source mask) and the initial recurrent ``state``;
``step`` consumes the previous token and returns logits, the attention row (or None) and the next
state. Training runs ``step`` in a Python loop (input feeding and s_{i-1} make the decoder
sequential anyway); serving runs the same ``step`` in ``torch._higher_order_ops.while_loop``,
exported as one ONNX Loop whose body holds the mechanism's named function.

Legend: B batch, S source length, T target length, E embedding dim, H hidden dim, V vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from taxonomy.card import Metric
from training.attention.base import AttentionLayer, exporting
from training.config import TrainConfig
from training.data.tokenizer import EOS, PAD
from training.models import greedy
from training.spec import ExportSpec
from training.tasks import translation
from training.tasks.translation import TranslationData, TranslationTask, pad_batch

State = tuple[Tensor, ...]


@dataclass
class RecurrentConfig:
    """Shared by every recurrent translation model (each model file subclasses it)."""

    embed: int = 256
    hidden: int = 256
    bidirectional: bool = True
    dropout: float = 0.2
    max_source_length: int = 128  # served source limit in tokens ([BOS], [EOS] included)
    extra_output_tokens: int = 16  # served output length limit: source length + this
    data: TranslationData = field(
        default_factory=lambda: TranslationData(max_tokens=2048, warmup_steps=100)
    )
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            # One thread: these small sequential ops gain little from a second one, and with
            # any other busy process on a 2-core machine OpenMP spinning made them ~30x slower.
            epochs=20,
            lr=3e-3,
            clip_norm=1.0,
            patience=2,
            max_minutes=10,
            threads=1,
        )
    )


@contextmanager
def threads(n: int) -> Iterator[None]:
    """Run eager PyTorch work (greedy decoding, perplexity) with the model's thread count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# The recipe quick and full share. A short run is far from overfitting, so no dropout; a 1k BPE
# vocabulary and 64 units make a step ~2x cheaper; lr 1e-2 with a 100-step warm-up (the
# inverse-sqrt decay after 20 steps had lr at a third of its peak within a minute). Measured on
# luong-general (1 thread, 300 test sentences): the old quick preset (128 units, 2k vocab, lr
# 6e-3, dropout 0.2) gave BLEU 0.3 after 24 s and 2.0 after 60 s; this one 5.3 after 60 s, 13.6
# after 120 s (rnnsearch: 12.4 after 90 s).
_FAST: dict = {
    "embed": 64,
    "hidden": 64,
    "dropout": 0.0,
    "data": {"vocab_size": 1000, "max_tokens": 1024, "warmup_steps": 100},
    "train": {"lr": 1e-2},
}

# Presets every recurrent model shares (a model may add to them): tiny trains in seconds for the
# tests; quick gives each model 75 s on one thread (make run builds the zoo two models at a
# time); full gives the same recipe ten minutes (below: what larger models did in that time).
PRESETS: dict[str, dict] = {
    "tiny": {
        "embed": 24,
        "hidden": 32,
        "extra_output_tokens": 4,
        "data": {
            "vocab_size": 300,
            "train_limit": 600,
            "eval_limit": 40,
            "max_length": 24,
            "max_tokens": 1024,
            "warmup_steps": 10,
        },
        "train": {"epochs": 2, "max_minutes": 0.25},
    },
    # quick: 75 s of the fast recipe; quick builds evaluate on the first 300 sentences of a split.
    "quick": {
        **_FAST,
        "data": {**_FAST["data"], "eval_limit": 300},
        "train": {**_FAST["train"], "epochs": 5, "max_minutes": 1.25},
    },
    # full: the fast recipe given ten minutes. On one thread the step count decides: larger
    # models stayed in the language-model phase (fluent German unrelated to the source) for
    # the whole run. luong-general after 4 min, full test: 128 units, 4k BPE, batches of 2,048
    # tokens, dropout 0.1 (354 steps) -> BLEU 4.5, ppl 69; 128 units, 2k BPE, 1,024 tokens,
    # no dropout (782 steps) -> BLEU 4.7, ppl 25; the fast recipe: 13.6 after 2 min (300 sentences).
    "full": {**_FAST, "train": {**_FAST["train"], "epochs": 30, "max_minutes": 10}},
}


class Encoded(NamedTuple):
    states: Tensor  # (B, S, dirs·H): the annotation of every source position
    keep: Tensor  # (B, S) bool, True = a real token
    summary: Tensor  # (B, dirs·H): the fixed-vector summary of the source


def reverse_within_length(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each row's first ``lengths[b]`` positions, padding stays at the end.
    x (B, S, E), lengths (B,) int64; an involution (applying it twice gives x back)."""
    B, S, E = x.shape
    positions = torch.arange(S).unsqueeze(0)  # (1, S)
    last = lengths.unsqueeze(1) - 1  # (B, 1)
    index = torch.where(positions <= last, last - positions, positions)  # (B, S)
    return x.gather(1, index.unsqueeze(-1).expand(B, S, E))  # (B, S, E)


class Encoder(nn.Module):
    def __init__(
        self, vocab: int, embed: int, hidden: int, cell: str, bidirectional: bool, dropout: float
    ) -> None:
        super().__init__()
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.embed = nn.Embedding(vocab, embed, padding_idx=PAD)
        self.forward_rnn = rnn(embed, hidden, batch_first=True)
        self.backward_rnn = rnn(embed, hidden, batch_first=True) if bidirectional else None
        self.drop = nn.Dropout(dropout)
        self.out_dim = hidden * (2 if bidirectional else 1)

    def forward(self, source_ids: Tensor) -> Encoded:
        keep = source_ids != PAD  # (B, S)
        lengths = keep.sum(1)  # (B,)
        x = self.drop(self.embed(source_ids))  # (B, S, E)
        forward_states = self.forward_rnn(x)[0]  # (B, S, H)
        last = (lengths - 1).view(-1, 1, 1).expand(-1, 1, forward_states.shape[-1])  # (B, 1, H)
        summary = forward_states.gather(1, last).squeeze(1)  # (B, H)
        if self.backward_rnn is None:
            return Encoded(forward_states, keep, summary)
        reversed_states = self.backward_rnn(reverse_within_length(x, lengths))[0]  # (B, S, H)
        backward_states = reverse_within_length(reversed_states, lengths)  # (B, S, H)
        states = torch.cat([forward_states, backward_states], dim=-1)  # (B, S, 2H)
        summary = torch.cat([summary, backward_states[:, 0]], dim=-1)  # (B, 2H)
        return Encoded(states, keep, summary)


class StepDecoder(nn.Module):
    """One decoder step at a time; see the module docstring. ``attention`` is None for the
    fixed-vector baseline. Token embedding and the output projection sit outside ``step`` so
    that teacher forcing applies each once to the whole sequence (one large matmul, and one
    gradient of the embedding and output matrices per batch instead of one per step)."""

    attention: AttentionLayer | None
    embed: nn.Embedding
    out: nn.Linear
    drop: nn.Dropout

    def embed_tokens(self, ids: Tensor) -> Tensor:
        """(B,) or (B, T) ids -> (B, E) or (B, T, E), with dropout."""
        return self.drop(self.embed(ids))

    def generate(self, readout: Tensor) -> Tensor:
        """(..., H) readout -> (..., V) logits."""
        return self.out(self.drop(readout))

    def start(self, encoded: Encoded) -> tuple[State, State]:
        """Returns (memory, initial state), both tuples of tensors."""
        raise NotImplementedError

    def step(
        self, e: Tensor, t: Tensor, state: State, memory: State
    ) -> tuple[Tensor, Tensor | None, State]:
        """e (B, E) the embedded previous token, t the 0-dim int64 step index. Returns the
        readout (B, H) (logits = :meth:`generate` of it), the attention row (B, S) or None, and
        the next state."""
        raise NotImplementedError


class RecurrentTranslator(nn.Module):
    """Encoder + step decoder: forward(source_ids, target_in) -> logits (B, T, V), teacher
    forced (the contract of :class:`TranslationTask`)."""

    def __init__(self, cfg: RecurrentConfig, encoder: Encoder, decoder: StepDecoder) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, source_ids: Tensor, target_in: Tensor) -> Tensor:
        return self.teacher_forced(source_ids, target_in)[0]

    def teacher_forced(self, source_ids: Tensor, target_in: Tensor) -> tuple[Tensor, Tensor | None]:
        """Logits (B, T, V) and the attention (B, T, S) (None without attention)."""
        memory, state = self.decoder.start(self.encoder(source_ids))
        embedded = self.decoder.embed_tokens(target_in)  # (B, T, E)
        readouts, rows = [], []
        for t in range(target_in.shape[1]):
            readout, weights, state = self.decoder.step(
                embedded[:, t], torch.tensor(t), state, memory
            )
            readouts.append(readout)
            if weights is not None:
                rows.append(weights)
        attention = torch.stack(rows, dim=1) if rows else None  # (B, T, S)
        return self.decoder.generate(torch.stack(readouts, dim=1)), attention  # (B, T, V)


class GreedyRecurrent(nn.Module):
    """The served graph: greedy decoding inside the model (an ONNX Loop after export; see
    training/models/greedy.py: each row decodes as if it were alone in its batch), carrying the
    recurrent state (h, c, input feed ...) from step to step.

    Returns output ids (B, T) - the tokens after [BOS], [EOS] included, [PAD] after it - and,
    for attention models, one attention row per output token (B, T, S) (zero after [EOS]).
    T = steps actually run (a row stops at [EOS] or after its own source length +
    extra_output_tokens tokens)."""

    def __init__(self, model: RecurrentTranslator) -> None:
        super().__init__()
        self.model = model
        self.attends = model.decoder.attention is not None

    def forward(self, source_ids: Tensor) -> tuple[Tensor, ...]:
        decoder = self.model.decoder
        memory, state = decoder.start(self.model.encoder(source_ids))

        def step(t: Tensor, ids: Tensor, s: State) -> tuple[Tensor, Tensor | None, State]:
            prev = ids.index_select(1, t.reshape(1)).squeeze(1)  # (B,)
            readout, weights, s = decoder.step(decoder.embed_tokens(prev), t, s, memory)
            return decoder.generate(readout), weights, s  # (B, V), (B, S) or None

        extra = self.model.cfg.extra_output_tokens
        # eagerly with the model's threads; while_loop would compile the body on every new shape
        with nullcontext() if exporting() else threads(self.model.cfg.train.threads):
            ids, attention = greedy.greedy(source_ids, extra, step, state, self.attends)
        return (ids, attention) if self.attends else (ids,)


def bridge(summary_dim: int, hidden: int) -> nn.Linear:
    """The encoder summary -> a decoder's initial state (tanh applied by the caller)."""
    return nn.Linear(summary_dim, hidden)


# --- spec helpers shared by every recurrent model --------------------------------------------


def make_task(cfg: RecurrentConfig, data_dir: Path, run_dir: Path) -> TranslationTask:
    return TranslationTask(cfg.data, data_dir, run_dir)


def export_spec(model: nn.Module, cfg: RecurrentConfig, task: TranslationTask) -> ExportSpec:
    assert isinstance(model, RecurrentTranslator)
    greedy = GreedyRecurrent(model)
    spec = translation.export_spec(
        greedy,
        task,
        weights_legend="(B, T, S): the decoder's attention over the source, one row per output",
        max_source_length=cfg.max_source_length,
        attention=greedy.attends,
    )
    # Trace with a short example: decomposing nn.GRU / nn.LSTM unrolls them over the example's
    # length while exporting (the graph keeps one ONNX GRU / LSTM op for any length), which
    # took minutes with the longest validation sentence. Parity still runs the long inputs.
    first = task.val[0][0]
    spec.args = (pad_batch([first[:5] + [EOS], first[:3] + [EOS]]),)  # (2, 6), one row padded
    return spec


CHECKPOINT_FILE = "model.ckpt"


def perplexity(model: RecurrentTranslator, task: TranslationTask, split: str) -> float:
    """Teacher-forced per-token perplexity (no label smoothing) of the PyTorch model."""
    pairs = task.encode(task.pairs(split))
    total, tokens = 0.0, 0
    model.eval()
    assert isinstance(model.cfg, RecurrentConfig)
    with torch.no_grad(), threads(model.cfg.train.threads):
        for start in range(0, len(pairs), 128):
            chunk = pairs[start : start + 128]
            src = pad_batch([s for s, _ in chunk])  # (B, S)
            tgt = pad_batch([t for _, t in chunk])  # (B, T)
            logits = model(src, tgt[:, :-1])  # (B, T-1, V)
            gold = tgt[:, 1:]
            total += float(
                F.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]),
                    gold.reshape(-1),
                    ignore_index=PAD,
                    reduction="sum",
                )
            )
            tokens += int((gold != PAD).sum())
    return math.exp(min(total / max(tokens, 1), 50.0))


def evaluate(onnx_path: Path, cfg: RecurrentConfig, task: TranslationTask) -> list[Metric]:
    """BLEU of the exported graph (onnxruntime, greedy) on the test split, and test perplexity.

    The served graph emits no logits, so perplexity is computed with the PyTorch model rebuilt
    from the checkpoint whose weights were exported (the run folder beside the tokenizer); the
    metric's note says so. Parity (ids identical, attention within tolerance) ties the two."""
    from training import checkpoint, registry

    metrics = translation.evaluate_onnx(onnx_path, task, "test")
    path = task.tokenizer_path.parent / CHECKPOINT_FILE
    if path.exists():
        raw = torch.load(path, map_location="cpu", weights_only=True)
        spec = registry.get(str(raw["model"]))
        model = checkpoint.rebuild(checkpoint.load(path, spec), spec)
        assert isinstance(model, RecurrentTranslator)
        metrics.append(
            Metric(
                name="perplexity",
                value=round(perplexity(model, task, "test"), 2),
                split="test",
                note="teacher-forced, per BPE token, PyTorch model with the exported weights",
            )
        )
    return metrics
