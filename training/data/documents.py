"""What a document-classification example is, shared by AG News and the generated task.

A document is plain text whose sentences end with ``.``, ``!`` or ``?`` followed by whitespace
and a capital letter, digit or quote (the rule the word tokenizer of training/tasks/documents.py
marks with a sentence separator), its class, and — where it is known — the index of the one
sentence that decides the class.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Document(NamedTuple):
    text: str
    label: int
    deciding: int = -1  # index of the sentence that decides the label; -1 = not known


def stratified_split(
    labels: np.ndarray, shares: dict[str, float], seed: int
) -> dict[str, np.ndarray]:
    """Indices per split, the same share of every class in each (seeded, sorted). ``shares``
    names every split but the first-listed rest: e.g. {"val": 0.1, "test": 0.1} -> train gets
    the remaining 80 % of each class."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {"train": [], **{name: [] for name in shares}}
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))  # (n_c,)
        start = 0
        for name, share in shares.items():
            count = round(share * len(members))
            out[name].append(members[start : start + count])
            start += count
        out["train"].append(members[start:])
    return {name: np.sort(np.concatenate(parts)) for name, parts in out.items()}
