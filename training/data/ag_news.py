"""AG News (Zhang, Zhao, LeCun 2015), the test file only: 7,600 news items, 1,900 per class.

``<data>/ag_news/test.csv`` rows are ``"class","title","description"`` with classes 1-4 (World,
Sports, Business, Sci/Tech). A document's text is the title, a full stop when it has no final
punctuation, then the description, so the title is the document's first sentence. The corpus
writes line breaks as a backslash and some characters as ``#NN;`` entities: both are undone.

Split (stated): seeded (``seed``, default 0) and stratified, 80 / 10 / 10 per class, so 1,520 /
190 / 190 documents of each class: 6,080 train, 760 validation, 760 test.
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from training.data.documents import Document, stratified_split

CLASSES = ("World", "Sports", "Business", "Sci/Tech")
SHARES = {"val": 0.1, "test": 0.1}  # per class; train gets the remaining 80 %
SPLITS = ("train", "val", "test")
_ENTITY = re.compile(r"#(\d+);")


def clean(text: str) -> str:
    text = _ENTITY.sub(lambda m: chr(int(m.group(1))), text.replace("\\", " "))
    return " ".join(text.split())


def document_text(title: str, description: str) -> str:
    title, description = clean(title), clean(description)
    end = "" if title[-1:] in ".!?" else "."
    return f"{title}{end} {description}"


@lru_cache(maxsize=2)
def read(data_dir: Path) -> tuple[Document, ...]:
    """Every row of test.csv as a Document (label 0-3), in file order."""
    with open(Path(data_dir) / "ag_news" / "test.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    return tuple(Document(document_text(t, d), int(c) - 1) for c, t, d in rows)


def load(data_dir: Path, split: str, seed: int = 0) -> list[Document]:
    """One split of the stated 80/10/10 stratified split (deterministic in ``seed``)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    docs = read(Path(data_dir))
    index = stratified_split(np.array([d.label for d in docs]), SHARES, seed)[split]
    return [docs[i] for i in index.tolist()]
