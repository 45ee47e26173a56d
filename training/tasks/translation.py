"""Translation as a trainer task: Multi30k English -> German with a shared BPE vocabulary.

Any model with ``forward(source_ids, target_in) -> logits (B, T, V)`` trains on it. Batches hold
at most ``max_tokens`` target tokens, bucketed by length; the tokenizer is trained once on the
training split and saved beside the checkpoint (``<run_dir>/tokenizer.json``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.export import Dim

from taxonomy.card import Metric, ModelIO, TensorSpec, TextInput, TextOutput
from training.config import TrainConfig
from training.data import multi30k
from training.data.tokenizer import BOS, EOS, PAD, decode, load_or_train
from training.spec import ExportSpec
from training.tasks.examples import ids_and_text

TOKENIZER_FILE = "tokenizer.json"


@dataclass
class TranslationData:
    vocab_size: int = 8000
    max_tokens: int = 4096  # target tokens per batch
    max_length: int = 64  # longer training pairs (in tokens) are dropped
    train_limit: int | None = None  # use the first N training pairs (tests)
    eval_limit: int | None = None  # evaluate on the first N pairs of a split (tests)
    label_smoothing: float = 0.1
    warmup_steps: int = 400


def pad_batch(rows: list[list[int]]) -> Tensor:
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), PAD, dtype=torch.long)  # (B, T)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out


class TranslationTask:
    monitor = "val_score"  # -(validation loss per token)

    def __init__(self, data: TranslationData, data_dir: Path, run_dir: Path) -> None:
        self.data = data
        self.data_dir = data_dir
        train = multi30k.read_pairs(data_dir, "train")[: data.train_limit]
        self.tokenizer = load_or_train(
            run_dir / TOKENIZER_FILE,
            (text for pair in train for text in pair),
            data.vocab_size,
        )
        self.tokenizer_path = run_dir / TOKENIZER_FILE
        self.vocab_size = self.tokenizer.get_vocab_size()
        if self.vocab_size > data.vocab_size:
            raise ValueError(f"tokenizer has {self.vocab_size} ids, over {data.vocab_size}")
        self.train = [p for p in self.encode(train) if max(len(p[0]), len(p[1])) <= data.max_length]
        self.val = self.encode(self.pairs("val"))

    def pairs(self, split: str) -> list[tuple[str, str]]:
        return multi30k.read_pairs(self.data_dir, split)[: self.data.eval_limit]

    def encode(self, pairs: list[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
        src = self.tokenizer.encode_batch([s for s, _ in pairs])
        tgt = self.tokenizer.encode_batch([t for _, t in pairs])
        return [(a.ids, b.ids) for a, b in zip(src, tgt, strict=True)]

    def _batches(self, pairs: list[tuple[list[int], list[int]]], shuffle: bool, seed: int) -> list:
        order = sorted(range(len(pairs)), key=lambda i: (len(pairs[i][1]), len(pairs[i][0])))
        batches: list[list[int]] = []
        current: list[int] = []
        width = 0
        for i in order:
            width = max(width, len(pairs[i][1]))
            if current and width * (len(current) + 1) > self.data.max_tokens:
                batches.append(current)
                current, width = [], len(pairs[i][1])
            current.append(i)
        if current:
            batches.append(current)
        if shuffle:
            random.Random(seed).shuffle(batches)
        return [
            (pad_batch([pairs[i][0] for i in b]), pad_batch([pairs[i][1] for i in b]))
            for b in batches
        ]

    def batches(self, split: str, epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
        pairs = self.train if split == "train" else self.val
        return iter(self._batches(pairs, shuffle=split == "train", seed=epoch))

    def loss(self, model: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
        src, tgt = batch  # (B, S), (B, T)
        logits = model(src, tgt[:, :-1])  # (B, T-1, V)
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            tgt[:, 1:].reshape(-1),
            ignore_index=PAD,
            label_smoothing=self.data.label_smoothing,
        )

    def validate(self, model: nn.Module) -> dict[str, float]:
        total, tokens = 0.0, 0
        for src, tgt in self.batches("val", 0):
            logits = model(src, tgt[:, :-1])
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
        loss = total / max(tokens, 1)
        return {"val_loss": loss, "val_ppl": math.exp(min(loss, 50.0)), "val_score": -loss}

    def optimizer(
        self, model: nn.Module, train: TrainConfig
    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler | None]:
        opt = torch.optim.Adam(
            model.parameters(), lr=train.lr, betas=(0.9, 0.98), weight_decay=train.weight_decay
        )
        warm = max(1, self.data.warmup_steps)

        def schedule(step: int) -> float:  # linear warm-up, then inverse square root decay
            step = max(1, step)
            return min(step / warm, math.sqrt(warm / step))

        return opt, torch.optim.lr_scheduler.LambdaLR(opt, schedule)


def export_spec(
    module: nn.Module,
    task: TranslationTask,
    weights_legend: str,
    max_source_length: int,
    attention: bool = True,
) -> ExportSpec:
    """The served contract shared by every translation model: source ids (or text) in, output
    ids, text and the cross-attention matrix out (``attention=False``: a model without
    attention, e.g. a fixed-vector encoder-decoder, serves ids and text only)."""
    val = task.val
    by_length = sorted(val, key=lambda p: len(p[0]))
    mixed = pad_batch([by_length[0][0], by_length[len(val) // 2][0], by_length[-1][0]])
    longest = pad_batch([by_length[-1][0]])
    first = task.pairs("test")[0][0]
    first_ids = task.tokenizer.encode(first).ids
    batch, length = (
        Dim("batch", min=1, max=1024),
        Dim("source_length", min=2, max=max_source_length),
    )
    outputs = [
        TensorSpec(
            name="output_ids",
            datatype="INT64",
            shape=[-1, -1],
            description="German token ids after [BOS], [EOS] included, then [PAD]",
            legend="(B, T)",
        ),
        TensorSpec(
            name="cross_attention",
            datatype="FP32",
            shape=[-1, -1, -1],
            description="For each output token, its attention over the source tokens",
            legend=weights_legend,
        ),
    ][: 2 if attention else 1]
    return ExportSpec(
        module=module.eval(),
        args=(mixed,),
        input_names=["source_ids"],
        output_names=[t.name for t in outputs],
        dynamic_shapes={"source_ids": {0: batch, 1: length}},
        io=ModelIO(
            max_batch_size=32,
            inputs=[
                TensorSpec(
                    name="source_ids",
                    datatype="INT64",
                    shape=[-1, -1],
                    description="English token ids: [BOS] ... [EOS], rows padded with [PAD]=0",
                    vocab_size=task.vocab_size,
                    max_shape=[-1, max_source_length],
                    legend="(B, S)",
                )
            ],
            outputs=outputs,
            text_inputs=[
                TextInput(
                    name="source_text",
                    ids_input="source_ids",
                    tokenizer=TOKENIZER_FILE,
                    max_length=max_source_length,
                )
            ],
            text_outputs=[
                TextOutput(name="output_text", ids_output="output_ids", tokenizer=TOKENIZER_FILE)
            ],
            pad_id=PAD,
            bos_id=BOS,
            eos_id=EOS,
            # every row decodes as if alone (training/models/greedy.py); the encoders mask [PAD]
            ragged_batching=True,
        ),
        examples=ids_and_text(
            f"token ids of: {first}",
            {"source_ids": first_ids},
            "English text, tokenized by the server",
            {"source_text": first},
        ),
        parity_inputs=[(mixed,), (longest,)],
        tolerance=1e-4,
        exact_outputs=["output_ids"],
        files={TOKENIZER_FILE: task.tokenizer_path},
        preferred_batch_sizes=[8, 16, 32],
    )


def evaluate_onnx(onnx_path: Path, task: TranslationTask, split: str) -> list[Metric]:
    """BLEU (sacrebleu, detokenised greedy output) of the exported graph on a held-out split."""
    import onnxruntime as ort
    import sacrebleu

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    pairs = task.pairs(split)
    sources = [ids for ids, _ in task.encode(pairs)]
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    hyps = [""] * len(sources)
    for start in range(0, len(order), 64):
        chunk = order[start : start + 64]
        batch = pad_batch([sources[i] for i in chunk]).numpy()
        out_ids = session.run(["output_ids"], {"source_ids": batch})[0]
        for row, i in zip(out_ids, chunk, strict=True):
            hyps[i] = decode(task.tokenizer, row.tolist())
    bleu = sacrebleu.corpus_bleu(hyps, [[t for _, t in pairs]])
    return [Metric(name="bleu", value=round(bleu.score, 2), split=split, note="sacrebleu 13a")]
