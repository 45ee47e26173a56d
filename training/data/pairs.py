"""Sentence-pair corpora: WikiQA, MSRP, SICK, MSRVID (files as ``../shared/data/README.md``
describes them; every file is read as ``utf-8-sig``, some start with a BOM).

``read(data_dir, dataset, split)`` returns :class:`Pair` rows for ``split`` in train / dev / test:

=========  ==================================  ====================  =========================
dataset    train                               dev                   test
=========  ==================================  ====================  =========================
wikiqa     WikiQA-train.tsv minus dev           10 % of the train     WikiQA-test.tsv (6,165
           (20,360 rows, 2,118 questions)       questions (carved)    rows, 633 questions)
msrp       msr-para-train.tsv (3,576)           msr-para-val.tsv      msr-para-test.tsv (1,725)
sick       SICK_train.txt (4,500)               SICK_trial.txt (500)  SICK_test_annotated (4,927)
msrvid     MSRVID_train.tsv minus dev           100 train pairs       MSRVID_dev.tsv (750; the
                                                (carved)              MPCNN papers' test set)
=========  ==================================  ====================  =========================

Carving rules (deterministic, no state): WikiQA has no dev file, so the training questions are
sorted by id, shuffled with ``random.Random(DEV_SEED)`` and the first ``round(10 %)`` (212 of
2,118) become dev *with all their candidate answers*: a question never straddles train and dev.
MSRVID: the 750 training pairs are shuffled the same way and the first 100 become dev.

Labels: ``label`` is the class id (MSRP 1 = paraphrase, WikiQA 1 = correct answer, SICK
:data:`SICK_LABELS` order), ``score`` the relatedness (SICK 1-5, MSRVID 0-5; the label for the
binary sets), ``group`` the question id (WikiQA) or the pair id.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

DEV_SEED = 13
WIKIQA_DEV_SHARE = 0.1
MSRVID_DEV_PAIRS = 100
SICK_LABELS = ("NEUTRAL", "ENTAILMENT", "CONTRADICTION")
DATASETS = ("wikiqa", "msrp", "sick", "msrvid")
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Pair:
    left: str
    right: str
    label: int
    score: float
    group: str


def _rows(path: Path) -> list[list[str]]:
    """TSV rows after the header; no quote handling (MSRP sentences hold bare quotes)."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    return [line.split("\t") for line in lines[1:] if line.strip()]


def _carve(keys: list[str], share: float | int) -> set[str]:
    """The dev keys: sorted, shuffled with DEV_SEED, the first ``share`` (a fraction or a count)."""
    order = sorted(set(keys))
    random.Random(DEV_SEED).shuffle(order)
    n = share if isinstance(share, int) else round(share * len(order))
    return set(order[:n])


def _wikiqa(folder: Path, split: str) -> list[Pair]:
    if split == "test":
        # QuestionID Question DocumentID DocumentTitle SentenceID Sentence Label
        return [
            Pair(r[1], r[5], int(r[6]), float(r[6]), r[0])
            for r in _rows(folder / "WikiQA-test.tsv")
        ]
    # QuestionID Question Sentence Label
    rows = _rows(folder / "WikiQA-train.tsv")
    dev = _carve([r[0] for r in rows], WIKIQA_DEV_SHARE)
    keep = (lambda q: q in dev) if split == "dev" else (lambda q: q not in dev)
    return [Pair(r[1], r[2], int(r[3]), float(r[3]), r[0]) for r in rows if keep(r[0])]


def _msrp(folder: Path, split: str) -> list[Pair]:
    name = {"train": "msr-para-train.tsv", "dev": "msr-para-val.tsv", "test": "msr-para-test.tsv"}
    # Quality #1ID #2ID #1String #2String
    return [
        Pair(r[3], r[4], int(r[0]), float(r[0]), f"{r[1]}-{r[2]}")
        for r in _rows(folder / name[split])
    ]


def _sts(path: Path) -> list[Pair]:
    """SICK layout: pair_ID sentence_A sentence_B relatedness_score entailment_judgment."""
    return [
        Pair(r[1], r[2], SICK_LABELS.index(r[4].strip()), float(r[3]), r[0]) for r in _rows(path)
    ]


def _sick(folder: Path, split: str) -> list[Pair]:
    name = {"train": "SICK_train.txt", "dev": "SICK_trial.txt", "test": "SICK_test_annotated.txt"}
    return _sts(folder / name[split])


def _msrvid(folder: Path, split: str) -> list[Pair]:
    if split == "test":
        return _sts(folder / "MSRVID_dev.tsv")
    pairs = _sts(folder / "MSRVID_train.tsv")
    dev = _carve([p.group for p in pairs], MSRVID_DEV_PAIRS)
    return [p for p in pairs if (p.group in dev) == (split == "dev")]


_READERS = {"wikiqa": _wikiqa, "msrp": _msrp, "sick": _sick, "msrvid": _msrvid}


def read(data_dir: Path, dataset: str, split: str) -> list[Pair]:
    if dataset not in _READERS:
        raise ValueError(f"unknown pair dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    return _READERS[dataset](Path(data_dir) / dataset, split)
