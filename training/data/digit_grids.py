"""Digit grids: an image-captioning set generated from real handwriting, with known alignment.

scikit-learn's bundled ``load_digits()`` (1,797 real 8x8 handwritten digits, UCI optdigits,
shipped inside the wheel: nothing is downloaded) is the only source. An image is a
``rows x cols`` grid of 8x8 cells (default 3x3, i.e. 24x24 pixels); each cell holds one digit
image or stays empty (all zeros). Its caption names the cells in reading order (row by row, left
to right): ``"seven three blank one zero blank four four nine"``.

Held-out handwriting. The 1,797 digit images are first split once (seeded permutation) into three
disjoint pools: test (20 %, 359 images), validation (10 %, 180) and train (the remaining 1,258).
Grids of a split are built only from that split's pool, so every test image shows handwriting that
no training image contains.

Sizes (defaults of :class:`GridData`): 6,000 train, 500 validation and 1,000 test grids; a cell is
empty with probability 0.2. Everything is a pure function of the config (``seed`` included), so the
splits are identical from run to run and between training, export and benchmarks.

Because cell ``i`` (reading order) is named by word ``i`` of the caption, where a model *should*
look for each word is known: region ``i`` of a model that keeps one region per cell is cell ``i``.

Pixels are intensities in [0, 1] (load_digits' 0..16 divided by 16), background 0.

Legend: N grids, R rows, C columns, L = R C cells, H = 8 R, W = 8 C pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

CELL = 8  # pixels per cell side (load_digits images are 8x8)
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
BLANK = "blank"
VOCABULARY = (*WORDS, BLANK)  # caption words; BLANK_LABEL = 10 indexes BLANK
BLANK_LABEL = len(WORDS)
SPLITS = ("train", "val", "test")
POOL_SHARES = {"test": 0.2, "val": 0.1}  # of the 1,797 digit images; train gets the rest


@dataclass
class GridData:
    rows: int = 3
    cols: int = 3
    blank_prob: float = 0.2  # chance that a cell stays empty
    train_size: int = 6000
    val_size: int = 500
    test_size: int = 1000
    seed: int = 0  # pools and grids; independent of the training seed


@dataclass(frozen=True)
class Grids:
    """One split. images (N, H, W) float32 in [0, 1]; labels (N, L) int64: digit 0-9 per cell in
    reading order, BLANK_LABEL (10) for an empty cell; sources (N, L) int64: index into
    load_digits() of the digit image in each cell, -1 for an empty cell."""

    images: np.ndarray
    labels: np.ndarray
    sources: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def caption(self, i: int) -> str:
        return caption(self.labels[i])


def caption(labels: np.ndarray | list[int]) -> str:
    """Cell labels in reading order -> the caption, e.g. [7, 3, 10, 1] -> 'seven three blank one'."""
    return " ".join(VOCABULARY[int(label)] for label in labels)


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)  # (1797, 8, 8) in [0, 1]
    return images, digits.target.astype(np.int64)  # (1797, 8, 8), (1797,)


def pools(seed: int) -> dict[str, np.ndarray]:
    """Disjoint indices into load_digits() per split (test 20 %, val 10 %, train the rest)."""
    _, targets = _digits()
    order = np.random.default_rng(seed).permutation(len(targets))  # (1797,)
    n_test = round(POOL_SHARES["test"] * len(order))
    n_val = round(POOL_SHARES["val"] * len(order))
    return {
        "test": np.sort(order[:n_test]),
        "val": np.sort(order[n_test : n_test + n_val]),
        "train": np.sort(order[n_test + n_val :]),
    }


def make_split(data: GridData, split: str) -> Grids:
    """The grids of one split: deterministic in ``data`` (seed included) and ``split``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    images, targets = _digits()
    pool = pools(data.seed)[split]
    n = {"train": data.train_size, "val": data.val_size, "test": data.test_size}[split]
    L = data.rows * data.cols
    rng = np.random.default_rng([data.seed, SPLITS.index(split) + 1])
    sources = pool[rng.integers(0, len(pool), size=(n, L))]  # (N, L)
    blank = rng.random((n, L)) < data.blank_prob  # (N, L)
    sources = np.where(blank, -1, sources)  # (N, L)
    labels = np.where(blank, BLANK_LABEL, targets[np.maximum(sources, 0)])  # (N, L)
    cells = np.where(  # (N, L, 8, 8): the digit image of each cell, zeros where blank
        blank[:, :, None, None], 0.0, images[np.maximum(sources, 0)]
    ).astype(np.float32)
    grid = cells.reshape(n, data.rows, data.cols, CELL, CELL)  # (N, R, C, 8, 8)
    grid = grid.transpose(0, 1, 3, 2, 4)  # (N, R, 8, C, 8)
    out = np.ascontiguousarray(grid.reshape(n, data.rows * CELL, data.cols * CELL))  # (N, H, W)
    return Grids(images=out, labels=labels.astype(np.int64), sources=sources.astype(np.int64))


def cell_of_pixel(row: int, col: int, data: GridData) -> int:
    """The cell (reading order) that pixel (row, col) lies in."""
    return (row // CELL) * data.cols + col // CELL
