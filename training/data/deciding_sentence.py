"""The deciding sentence: a generated document-classification task where exactly one sentence
decides the class, and which one is known, so sentence-level attention can be checked.

A document has ``min_sentences``..``max_sentences`` sentences. Every sentence carries exactly one
*cue word* of one of four topics (sport, money, science, politics) among neutral filler words.
Exactly one sentence — the deciding one, at a uniformly random index — opens with the marker
word ``Crucially``; the others open with a neutral opener (``Meanwhile``, ``Also``, ...). The
label is the topic of the deciding sentence's cue. Distractor sentences take their cue's topic
uniformly from all four topics, the label's included, so counting cue words (a bag of words)
finds the label only a little better than chance (see :func:`majority_cue_accuracy`): the model
has to tie the cue to the marker *within its sentence*.

Sentences end with a full stop and start with a capital letter, which is how the document
tokenizer finds sentence boundaries (training/tasks/documents.py). Everything is a pure function
of the config (``seed`` included) and the split: nothing is downloaded.

Default sizes: 6,000 train, 600 validation, 1,000 test documents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.data.documents import Document

CLASSES = ("sport", "money", "science", "politics")
CUES: tuple[tuple[str, ...], ...] = (
    ("match", "goal", "coach", "league", "striker", "stadium"),
    ("bank", "shares", "profit", "market", "investor", "loan"),
    ("lab", "telescope", "genome", "physics", "experiment", "vaccine"),
    ("election", "senate", "minister", "ballot", "treaty", "parliament"),
)
MARKER = "crucially"
OPENERS = ("meanwhile", "also", "earlier", "elsewhere", "then", "later", "separately")
FILLERS = (
    "the", "a", "report", "said", "that", "people", "new", "was", "today", "about", "many",
    "week", "after", "city", "they", "more", "group", "plan", "year", "news", "local", "some",
    "still", "again", "big", "other", "talk", "day",
)  # fmt: skip
SPLITS = ("train", "val", "test")


@dataclass
class GeneratedDocs:
    train_size: int = 6000
    val_size: int = 600
    test_size: int = 1000
    min_sentences: int = 3
    max_sentences: int = 6
    min_words: int = 3  # filler words per sentence (plus the opener and the cue)
    max_words: int = 7
    seed: int = 0


def _sentence(rng: np.random.Generator, cfg: GeneratedDocs, opener: str, cue: str) -> str:
    count = int(rng.integers(cfg.min_words, cfg.max_words + 1))
    words = [FILLERS[i] for i in rng.integers(0, len(FILLERS), size=count)]
    words.insert(int(rng.integers(0, count + 1)), cue)
    return " ".join([opener.capitalize(), *words]) + "."


def make(cfg: GeneratedDocs, split: str) -> list[Document]:
    """The documents of one split: deterministic in ``cfg`` (seed included) and ``split``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    size = {"train": cfg.train_size, "val": cfg.val_size, "test": cfg.test_size}[split]
    rng = np.random.default_rng([cfg.seed, SPLITS.index(split) + 1])
    docs = []
    for _ in range(size):
        n = int(rng.integers(cfg.min_sentences, cfg.max_sentences + 1))
        label = int(rng.integers(len(CLASSES)))
        deciding = int(rng.integers(n))
        sentences = []
        for s in range(n):
            topic = label if s == deciding else int(rng.integers(len(CLASSES)))
            cue = CUES[topic][int(rng.integers(len(CUES[topic])))]
            opener = MARKER if s == deciding else OPENERS[int(rng.integers(len(OPENERS)))]
            sentences.append(_sentence(rng, cfg, opener, cue))
        docs.append(Document(" ".join(sentences), label, deciding))
    return docs


def cue_topics(sentence: str) -> list[int]:
    """The topics of the cue words in one sentence (lower-cased word match)."""
    words = sentence.lower().rstrip(".").split()
    return [t for t, cues in enumerate(CUES) for w in words if w in cues]


def majority_cue_accuracy(docs: list[Document]) -> float:
    """The best a cue-counting (bag-of-words) rule does: the most frequent cue topic of the
    document, ties broken towards the lower topic id."""
    hits = 0
    for d in docs:
        counts = np.bincount(cue_topics(d.text), minlength=len(CLASSES))
        hits += int(np.argmax(counts)) == d.label
    return hits / max(len(docs), 1)
