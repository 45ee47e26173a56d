"""End-to-end memory network (Sukhbaatar, Szlam, Weston, Fergus 2015, MemN2N) on bAbI v1.2.

One joint model over all 20 tasks (the paper's best 1k result, column "PE LS RN" joint of Table 1:
mean error 12.4 %, 11 tasks failed), with every detail of that column:

* PE, position encoding: a sentence's memory vector is m_i = Σ_j l_j ⊙ A x_ij with
  l_kj = (1 - j/J) - (k/d)(1 - 2j/J), j = 1..J the word's position, J the sentence's words,
  k = 1..d the dimension; the question's u = Σ_j l_j ⊙ B q_j likewise.
* Temporal encoding: m_i += T_A(i), c_i += T_C(i), i counted back from the most recent sentence.
* 3 hops with adjacent weight tying: A^{k+1} = C^k, B = A^1, Wᵀ = C^K (and T_A^{k+1} = T_C^k), so
  K + 1 embedding tables of d columns; the answer is â = softmax(W u^{K+1}), u^{k+1} = u^k + o^k.
* LS, linear start, and RN, random noise (10 % empty memories while training): see
  training/tasks/babi_qa.py.
* Memory: the most recent ``memory`` (50) sentences of the story.

Input layout. A story is one token sequence: its sentences, each ended by the separator ``"."``
(id :data:`training.data.babi.SEP`), so the server's text path can carry a story as one string
("Mary moved to the bathroom. John went to the hallway.") and the model cuts it into memory slots
itself — a (B, T) ids tensor, not (B, M, W). In the graph: a token's sentence is the number of
separators before it; the last ``memory`` sentences that end up holding a word are the slots (in
story order, oldest first; two separators in a row make an empty sentence, i.e. an empty memory,
which is exactly what RN inserts); per-slot sums are a (B, T, M) one-hot matrix product (no
scatter ops). Slots without a sentence are masked: attention weight exactly 0.

Served: ``story_ids (B, T)``, ``question_ids (B, W)`` (or the text inputs ``story``,
``question``) -> ``answer_probabilities (B, V)`` over the vocabulary (answers are tokens of it),
``answer_ids (B, 1)`` (argmax), ``answer`` (text, added by the server) and ``attention (B, K, M)``,
hop k's weights over the M slots (slot i = i-th kept sentence, oldest first; 0 on empty slots).

Legend: B batch, T story tokens, W question tokens, M memory slots, D embedding dim (d), K hops,
V vocabulary (capacity; the tokenizer's ids fill its first rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.export import Dim

from taxonomy.axes import Architecture
from taxonomy.card import (
    Citation,
    Facets,
    Metric,
    ModelIO,
    TensorSpec,
    TextInput,
    TextOutput,
)
from training.attention.base import exporting
from training.attention.memory_hop import MemoryHop
from training.config import TrainConfig
from training.data import babi
from training.data.babi import PAD, SEP
from training.registry import register
from training.spec import CardInfo, ExportSpec, ModelSpec
from training.tasks import babi_qa
from training.tasks.babi_qa import TOKENIZER_FILE, BabiTask
from training.tasks.examples import ids_and_text


@dataclass
class MemN2NConfig:
    dataset: str = "1k"  # "1k" (20 tasks) | "10k" (19 tasks: task 3's training file is missing)
    vocab_size: int = 192  # rows of each embedding (capacity: 1k has 179 ids, 10k 182)
    dim: int = 50  # d (the paper's joint models)
    hops: int = 3
    memory: int = 50  # most recent sentences kept
    max_story_tokens: int = 2048  # longest story a request may send (the longest bAbI: ~1,400)
    position_encoding: bool = True  # PE; False: bag of words (l = 1)
    temporal: bool = True
    init_std: float = 0.1  # N(0, 0.1) for every embedding (the paper)
    random_noise: float = 0.1  # RN: expected share of empty memories inserted while training
    linear_start: bool = True  # LS
    ls_max_epochs: int = 20  # LS ends when validation loss stops falling, at the latest here
    ls_lr: float = 0.005  # learning rate during LS (the paper)
    anneal_every: int = 15  # after LS: lr halves every this many epochs (the paper's joint runs)
    optimizer: str = "sgd"  # "sgd" (the paper) | "adam" (short presets: more per epoch)
    tasks: list[int] | None = None  # None: every task of the set (tests: a few)
    train_limit: int | None = None  # questions per task kept for training (tests)
    eval_limit: int | None = None  # questions per task evaluated (tests)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=80,  # LS (<= 20) then ~60 with softmax, lr 0.01 halved every 15
            lr=0.01,
            batch_size=32,
            clip_norm=40.0,
            max_minutes=15.0,
            # Small tensors: one thread; a second one beside another busy process slowed epochs.
            threads=1,
        )
    )


PRESETS: dict[str, dict[str, Any]] = {
    # Tests: 3 tasks, 100 training questions each, a few epochs: a few seconds.
    "tiny": {
        "dim": 16,
        "tasks": [1, 6, 15],
        "train_limit": 100,
        "eval_limit": 50,
        "ls_max_epochs": 1,
        "ls_lr": 0.01,
        "optimizer": "adam",
        "train": {"epochs": 6, "lr": 0.02, "max_minutes": 1.0},
    },
    # make run: every task, ~20 s of training (wall clock), Adam without LS: 2 epochs on a quiet
    # machine (an epoch is ~560 steps of batch 32), mean test error 34.4 % (17 tasks > 5 %);
    # build + export + test evaluation ~42 s. On a busy machine fewer steps: 44.0 % measured.
    "quick": {
        "optimizer": "adam",
        "linear_start": False,
        "anneal_every": 1,
        "train": {"epochs": 2, "lr": 0.01, "max_minutes": 0.35},
    },
    # The paper's joint recipe, capped at 15 minutes of training (max_minutes). Measured once
    # (seed 0, 1 thread, a machine busy at first): LS 4 + 53 epochs, mean test error 17.4 %,
    # 14 tasks failed (the paper: 12.4 %, 11, best of 10 runs).
    "full": {},
}


def position_encoding(j: Tensor, length: Tensor, dim: int) -> Tensor:
    """l_kj = (1 - j/J) - (k/d)(1 - 2j/J) for k = 1..d: j, length (...) floats (j = 1..J; length
    clamped to >= 1) -> (..., d)."""
    k = torch.arange(1, dim + 1, dtype=j.dtype, device=j.device) / dim  # (D,)
    ratio = (j / length.clamp(min=1.0)).unsqueeze(-1)  # (..., 1): j / J
    return (1.0 - ratio) - k * (1.0 - 2.0 * ratio)  # (..., D)


@dataclass
class Layout:
    """Where every story token goes: ``slot`` (B, T) its memory slot and ``inside`` (B, T) whether
    it counts (a word of a kept sentence: not a separator, padding or an older sentence),
    ``j``/``length`` (B, T) its position and its sentence's word count, ``mask`` (B, M) slots
    holding a sentence, ``recency`` (B, M) slot i's distance from the most recent kept sentence
    (0 = newest; clamped to 0 on empty slots)."""

    slot: Tensor
    inside: Tensor
    j: Tensor
    length: Tensor
    mask: Tensor
    recency: Tensor


def story_layout(story: Tensor, slots: int) -> Layout:
    """story (B, T) ids with sentences ended by SEP -> the :class:`Layout` of ``slots`` slots."""
    is_sep = (story == SEP).long()  # (B, T)
    word = (story != PAD) & (story != SEP)  # (B, T)
    sentence = torch.cumsum(is_sep, dim=1) - is_sep  # (B, T): separators before t
    count = torch.where(word, sentence + 1, torch.zeros_like(sentence)).amax(dim=1)  # (B,)
    kept = count.clamp(max=slots)  # (B,)
    slot = sentence - (count - kept).unsqueeze(1)  # (B, T): -1, -2, ... for older sentences
    inside = word & (slot >= 0)  # (B, T)
    slot = slot.clamp(min=0, max=slots - 1)  # (B, T): padding and separators may lie outside
    index = torch.arange(slots, device=story.device)  # (M,)
    onehot = (slot.unsqueeze(-1) == index) & inside.unsqueeze(-1)  # (B, T, M)
    words = onehot.sum(dim=1)  # (B, M): words per slot
    first = torch.cumsum(words, dim=1) - words  # (B, M): words in the slots before
    seen = torch.cumsum(inside.long(), dim=1)  # (B, T): kept words up to t, inclusive
    j = seen - first.gather(1, slot)  # (B, T): 1..J
    length = words.gather(1, slot)  # (B, T): J
    mask = index < kept.unsqueeze(1)  # (B, M)
    recency = (kept.unsqueeze(1) - 1 - index).clamp(min=0)  # (B, M)
    return Layout(slot, inside, j.to(torch.float32), length.to(torch.float32), mask, recency)


def slot_sums(values: Tensor, layout: Layout, slots: int) -> Tensor:
    """Σ over each slot's tokens: values (B, T, E) -> (B, M, E) (tokens outside count 0), as a
    (B, M, T) one-hot matrix product: no ScatterND in the graph (its onnxruntime kernel races)."""
    values = values * layout.inside.unsqueeze(-1).to(values.dtype)  # (B, T, E)
    index = torch.arange(slots, device=values.device)  # (M,)
    onehot = (layout.slot.unsqueeze(1) == index.unsqueeze(-1)).to(values.dtype)  # (B, M, T)
    return torch.bmm(onehot, values)  # (B, M, E)


def bag_sums(story: Tensor, table: Tensor, weights: Tensor, layout: Layout, slots: int) -> Tensor:
    """Σ_j w_j table[x_j] over each slot's tokens with scalar weights (B, T) -> (B, M, E).

    The training path: one ``embedding_bag`` (a slot's tokens are contiguous and slots never
    decrease along a story), which never builds the (B, T, E) product."""
    B, T = story.shape
    index = torch.arange(slots, device=story.device).expand(B, slots).contiguous()  # (B, M)
    starts = torch.searchsorted(layout.slot.contiguous(), index)  # (B, M): first token of a slot
    offsets = (starts + T * torch.arange(B, device=story.device).unsqueeze(1)).reshape(-1)
    scale = (weights * layout.inside.to(weights.dtype)).reshape(-1)  # (B T,)
    sums = F.embedding_bag(
        story.reshape(-1), table, offsets, mode="sum", per_sample_weights=scale
    )  # (B M, E)
    return sums.reshape(B, slots, -1)


class MemN2N(nn.Module):
    """forward(story_ids (B, T), question_ids (B, W)) -> answer probabilities (B, V), answer ids
    (B, 1), attention (B, K, M). :meth:`logits` gives the training logits."""

    def __init__(self, cfg: MemN2NConfig) -> None:
        super().__init__()
        self.cfg = cfg
        D, K = cfg.dim, cfg.hops
        # Tables 0..K side by side: 0 = A^1 = B, k = C^k = A^{k+1}; the last one is also Wᵀ.
        self.embed = nn.Parameter(torch.randn(cfg.vocab_size, (K + 1) * D) * cfg.init_std)
        self.temporal = nn.Parameter(torch.randn(cfg.memory, (K + 1) * D) * cfg.init_std)
        self.hops = nn.ModuleList([MemoryHop() for _ in range(K)])

    def set_linear(self, linear: bool) -> None:
        """Linear start: every hop without its softmax (training only)."""
        for hop in self.hops:
            assert isinstance(hop, MemoryHop)
            hop.linear = linear

    def _weights(self, j: Tensor, length: Tensor) -> Tensor:
        """(B, L) positions and lengths -> (B, L, D) PE weights (ones without PE)."""
        if self.cfg.position_encoding:
            return position_encoding(j, length, self.cfg.dim)
        return torch.ones(*j.shape, self.cfg.dim, dtype=j.dtype, device=j.device)

    def question_state(self, question: Tensor) -> Tensor:
        """(B, W) ids -> u (B, D) = Σ_j l_j ⊙ B q_j over the question's words."""
        D = self.cfg.dim
        word = ((question != PAD) & (question != SEP)).to(torch.float32)  # (B, W)
        j = torch.cumsum(word, dim=1)  # (B, W)
        length = word.sum(dim=1, keepdim=True).expand_as(j)  # (B, W)
        weights = self._weights(j, length) * word.unsqueeze(-1)  # (B, W, D)
        embedded = F.embedding(question, self.embed[:, :D])  # (B, W, D): B = A^1
        return (embedded * weights).sum(dim=1)  # (B, D)

    def memories(self, story: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T) ids -> every table's memory vectors (B, M, (K+1) D) and the slot mask (B, M).

        Exported: the paper's form, Σ_j l_j ⊙ A x_j as one-hot sums. Training: the same sums
        split as l_kj = a_j + (k/d) b_j, a_j = 1 - j/J, b_j = 2j/J - 1, so each is a
        scalar-weighted bag of embeddings (about 3x faster an epoch here)."""
        cfg, M = self.cfg, self.cfg.memory
        layout = story_layout(story, M)
        if exporting() or not cfg.position_encoding:
            weights = self._weights(layout.j, layout.length)  # (B, T, D)
            weights = weights.repeat(1, 1, cfg.hops + 1)  # (B, T, (K+1) D)
            embedded = F.embedding(story, self.embed) * weights  # (B, T, (K+1) D)
            memory = slot_sums(embedded, layout, M)  # (B, M, (K+1) D)
        else:
            ratio = layout.j / layout.length.clamp(min=1.0)  # (B, T): j / J
            k = torch.arange(1, cfg.dim + 1, dtype=ratio.dtype, device=ratio.device) / cfg.dim
            k = k.repeat(cfg.hops + 1)  # ((K+1) D,)
            a = bag_sums(story, self.embed, 1.0 - ratio, layout, M)  # (B, M, (K+1) D)
            b = bag_sums(story, self.embed, 2.0 * ratio - 1.0, layout, M)  # (B, M, (K+1) D)
            memory = a + k * b  # (B, M, (K+1) D)
        if self.cfg.temporal:
            memory = memory + self.temporal[layout.recency]  # (B, M, (K+1) D)
        return memory, layout.mask

    def logits(self, story: Tensor, question: Tensor) -> tuple[Tensor, Tensor]:
        """-> answer logits (B, V) and attention (B, K, M)."""
        D = self.cfg.dim
        memory, mask = self.memories(story)  # (B, M, (K+1) D), (B, M)
        u = self.question_state(question)  # (B, D)
        weights = []
        for k, hop in enumerate(self.hops):
            keys = memory[:, :, k * D : (k + 1) * D]  # (B, M, D): m = A^{k+1} x
            values = memory[:, :, (k + 1) * D : (k + 2) * D]  # (B, M, D): c = C^k x
            o, p = hop(u, keys, values, mask)  # (B, D), (B, M)
            u = u + o
            weights.append(p)
        answer = self.embed[:, self.cfg.hops * D :]  # (V, D): Wᵀ = C^K
        return u @ answer.T, torch.stack(weights, dim=1)  # (B, V), (B, K, M)

    def forward(self, story: Tensor, question: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        logits, attention = self.logits(story, question)
        probabilities = torch.softmax(logits, dim=-1)  # (B, V)
        return probabilities, logits.argmax(dim=-1, keepdim=True), attention


def build(cfg: MemN2NConfig) -> nn.Module:
    return MemN2N(cfg)


def make_task(cfg: MemN2NConfig, data_dir: Path, run_dir: Path) -> BabiTask:
    return BabiTask(cfg, data_dir, run_dir)


def export(model: nn.Module, cfg: MemN2NConfig, task: Task) -> ExportSpec:
    assert isinstance(model, MemN2N) and isinstance(task, BabiTask)
    model.set_linear(False)
    V, K, M = cfg.vocab_size, cfg.hops, cfg.memory
    val = task.val
    by_length = sorted(range(len(val)), key=lambda i: len(val[i].story))
    mixed = task.batch([val[by_length[0]], val[by_length[len(val) // 2]], val[by_length[-1]]])
    single = task.batch([val[0]])
    first = task.splits.test[0]
    story_text = babi.join_story(first.memory(M)[0])
    story_ids = task.tokenizer.encode(story_text).ids
    question_ids = task.tokenizer.encode(first.question).ids
    io = ModelIO(
        max_batch_size=64,
        inputs=[
            TensorSpec(
                name="story_ids",
                datatype="INT64",
                shape=[-1, -1],
                description=f"The story's token ids, every sentence ended by '.' (id {SEP}), rows "
                f"padded with [PAD]={PAD}; the last {M} sentences are the memory",
                vocab_size=V,
                max_shape=[-1, cfg.max_story_tokens],
                legend="(B, T)",
            ),
            TensorSpec(
                name="question_ids",
                datatype="INT64",
                shape=[-1, -1],
                description=f"The question's token ids, rows padded with [PAD]={PAD}",
                vocab_size=V,
                legend="(B, W)",
            ),
        ],
        outputs=[
            TensorSpec(
                name="answer_probabilities",
                datatype="FP32",
                shape=[-1, V],
                description="Probability of each vocabulary entry being the answer (answers, "
                "also 'n,w' or 'apple,milk', are single tokens of tokenizer.json)",
                legend="(B, V)",
            ),
            TensorSpec(
                name="answer_ids",
                datatype="INT64",
                shape=[-1, 1],
                description="The most probable answer's token id",
                legend="(B, 1)",
            ),
            TensorSpec(
                name="attention",
                datatype="FP32",
                shape=[-1, K, M],
                description="Each hop's attention over the memory slots; slot i is the i-th of "
                f"the story's last {M} sentences, oldest first; 0 on slots without a sentence",
                legend="(B, K, M): hop k, memory slot i",
            ),
        ],
        text_inputs=[
            TextInput(
                name="story",
                ids_input="story_ids",
                tokenizer=TOKENIZER_FILE,
                max_length=cfg.max_story_tokens,
            ),
            TextInput(
                name="question", ids_input="question_ids", tokenizer=TOKENIZER_FILE, max_length=64
            ),
        ],
        text_outputs=[TextOutput(name="answer", ids_output="answer_ids", tokenizer=TOKENIZER_FILE)],
        pad_id=PAD,
        ragged_batching=True,  # [PAD] is neither a word nor a separator: it reaches no slot
    )
    described = f"bAbI task {first.task} test question 0 ({first.question} -> {first.answer})"
    examples = ids_and_text(
        f"token ids of {described}",
        {"story_ids": story_ids, "question_ids": question_ids},
        f"{described}, as text tokenized by the server",
        {"story": story_text, "question": first.question},
    )
    batch = Dim("batch", min=1, max=1024)
    return ExportSpec(
        module=model.eval(),
        args=mixed,
        input_names=["story_ids", "question_ids"],
        output_names=["answer_probabilities", "answer_ids", "attention"],
        dynamic_shapes={
            "story": {0: batch, 1: Dim("story_length", min=2, max=cfg.max_story_tokens)},
            "question": {0: batch, 1: Dim("question_length", min=2, max=64)},
        },
        io=io,
        examples=examples,
        parity_inputs=[mixed, single],
        tolerance=1e-4,
        exact_outputs=["answer_ids"],
        files={TOKENIZER_FILE: task.tokenizer_path},
        preferred_batch_sizes=[16, 32, 64],
    )


def evaluate(onnx_path: Path, cfg: MemN2NConfig, task: BabiTask) -> list[Metric]:
    return babi_qa.metrics(babi_qa.onnx_errors(onnx_path, task, "test"), cfg.dataset)


Task = BabiTask

CITATION = Citation(
    title="End-To-End Memory Networks",
    authors=["Sainbayar Sukhbaatar", "Arthur Szlam", "Jason Weston", "Rob Fergus"],
    year=2015,
    venue="NeurIPS",
    arxiv="1503.08895",
)

SPEC = register(
    ModelSpec(
        name="memn2n",
        config=MemN2NConfig,
        presets=PRESETS,
        build=build,
        task=make_task,
        export=export,
        evaluate=evaluate,
        card=CardInfo(
            title="End-to-end memory network (bAbI, 20 tasks jointly)",
            citation=CITATION,
            task="question answering over a story (bAbI)",
            dataset="bAbI QA v1.2 English, 1k training questions per task, all 20 tasks jointly",
            structure=Facets(architecture=frozenset({Architecture.MEMORY_NETWORK})),
            notes="One joint model (PE, temporal encoding, LS, RN, 3 hops, adjacent tying). "
            "Send a story as one string whose sentences end with '.'; the model keeps the last "
            "50 as its memory. Metrics: test error per task and their mean, beside the paper's "
            "PE LS RN joint column (Table 1).",
        ),
        datasets=("babi",),
    )
)
