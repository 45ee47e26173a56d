"""Digit grids: deterministic splits, test handwriting held out of training, images that are
the cells' digits in reading order, and captions that name them."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from training.data import digit_grids
from training.data.digit_grids import BLANK, BLANK_LABEL, CELL, GridData, make_split, pools

SMALL = GridData(rows=2, cols=3, train_size=80, val_size=20, test_size=30, seed=3)


def test_pools_are_disjoint_and_cover_every_digit_image() -> None:
    p = pools(0)
    train, val, test = (set(p[s].tolist()) for s in ("train", "val", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    assert len(train | val | test) == 1797
    assert (len(test), len(val)) == (359, 180)  # 20 % and 10 %


def test_test_grids_use_only_held_out_handwriting() -> None:
    p = pools(SMALL.seed)
    for split in ("train", "val", "test"):
        used = make_split(SMALL, split).sources
        used = set(used[used >= 0].tolist())
        assert used <= set(p[split].tolist())
    test_used = make_split(SMALL, "test").sources
    assert not set(test_used[test_used >= 0].tolist()) & set(p["train"].tolist())


def test_splits_are_deterministic_and_differ_by_seed() -> None:
    a, b = make_split(SMALL, "train"), make_split(SMALL, "train")
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    other = make_split(GridData(**{**SMALL.__dict__, "seed": 4}), "train")
    assert not np.array_equal(a.labels, other.labels)


def test_sizes_shapes_and_pixel_range() -> None:
    grids = make_split(SMALL, "val")
    assert len(grids) == 20
    assert grids.images.shape == (20, 2 * CELL, 3 * CELL) and grids.images.dtype == np.float32
    assert grids.labels.shape == (20, 6) and grids.sources.shape == (20, 6)
    assert grids.images.min() >= 0.0 and grids.images.max() <= 1.0


def test_each_cell_holds_its_digit_image_in_reading_order() -> None:
    digits = load_digits()
    grids = make_split(SMALL, "train")
    for n in range(5):
        for cell in range(6):
            r, c = divmod(cell, SMALL.cols)
            patch = grids.images[n, r * CELL : (r + 1) * CELL, c * CELL : (c + 1) * CELL]
            source = grids.sources[n, cell]
            if source < 0:
                assert grids.labels[n, cell] == BLANK_LABEL and not patch.any()
            else:
                assert np.allclose(patch, digits.images[source] / 16.0)
                assert grids.labels[n, cell] == digits.target[source]
            assert digit_grids.cell_of_pixel(r * CELL + 3, c * CELL + 5, SMALL) == cell


def test_caption_names_the_cells_in_reading_order() -> None:
    assert digit_grids.caption([7, 3, BLANK_LABEL, 1]) == "seven three blank one"
    grids = make_split(SMALL, "test")
    words = grids.caption(0).split()
    assert len(words) == 6
    for word, label in zip(words, grids.labels[0], strict=True):
        assert word == (BLANK if label == BLANK_LABEL else digit_grids.WORDS[label])


def test_blank_share_follows_the_config() -> None:
    grids = make_split(GridData(blank_prob=0.2, train_size=2000), "train")
    share = float((grids.labels == BLANK_LABEL).mean())
    assert share == pytest.approx(0.2, abs=0.02)


def test_unknown_split_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown split"):
        make_split(SMALL, "dev")
