"""Document data and task pieces: the AG News reader and its stated split, the deciding-sentence
generator (deterministic, exactly one sentence decides, hard for a bag of words), the word
tokenizer's sentence separators, and the regrouping of flat ids into HAN's sentence grid."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from attentive.settings import Settings
from training.data import ag_news, deciding_sentence
from training.data.deciding_sentence import MARKER, GeneratedDocs, cue_topics, make
from training.tasks.documents import (
    SEP,
    build_tokenizer,
    grid_to_tokens,
    mass_by_sentence,
    sentence_grid,
)

DATA = Settings().data
SMALL = GeneratedDocs(train_size=300, val_size=50, test_size=80, seed=5)


@pytest.fixture(scope="module")
def ag() -> dict[str, list]:
    if not (Path(DATA) / "ag_news" / "test.csv").is_file():
        pytest.skip("AG News is not in the data directory")
    return {s: ag_news.load(DATA, s) for s in ag_news.SPLITS}


def test_ag_news_split_is_stratified_80_10_10_and_disjoint(ag: dict[str, list]) -> None:
    assert [len(ag[s]) for s in ag_news.SPLITS] == [6080, 760, 760]
    assert Counter(d.label for d in ag["test"]) == {c: 190 for c in range(4)}
    assert Counter(d.label for d in ag["train"]) == {c: 1520 for c in range(4)}
    texts = {s: {d.text for d in ag[s]} for s in ag}
    assert len(texts["train"] | texts["val"] | texts["test"]) > 7500  # (a few duplicate rows)
    assert ag_news.load(DATA, "test") == ag["test"]  # deterministic
    assert ag_news.load(DATA, "test", seed=1) != ag["test"]


def test_ag_news_text_is_title_then_description(ag: dict[str, list]) -> None:
    first = ag_news.read(Path(DATA))[0]  # "Fears for T N pension after talks", "Unions ..."
    assert first.label == 2  # class 3 = Business
    assert first.text.startswith("Fears for T N pension after talks. Unions representing")
    assert ag_news.clean(r"A second\team won #36;10 million") == "A second team won $10 million"


def test_generator_is_deterministic_and_seeded() -> None:
    assert make(SMALL, "train") == make(SMALL, "train")
    assert make(SMALL, "train") != make(GeneratedDocs(**{**SMALL.__dict__, "seed": 6}), "train")
    assert make(SMALL, "test") != make(SMALL, "train")[:80]
    assert [len(make(SMALL, s)) for s in ("train", "val", "test")] == [300, 50, 80]


def test_exactly_one_sentence_decides() -> None:
    for doc in make(SMALL, "train"):
        sentences = [s.strip() for s in doc.text.split(". ")]
        assert SMALL.min_sentences <= len(sentences) <= SMALL.max_sentences
        marked = [i for i, s in enumerate(sentences) if s.lower().startswith(MARKER)]
        assert marked == [doc.deciding]
        assert all(len(cue_topics(s)) == 1 for s in sentences)  # one cue per sentence
        assert cue_topics(sentences[doc.deciding]) == [doc.label]


def test_a_bag_of_words_does_not_solve_it() -> None:
    docs = make(GeneratedDocs(train_size=2000), "train")
    labels = np.array([d.label for d in docs])
    assert np.bincount(labels).min() > 400  # classes balanced
    assert deciding_sentence.majority_cue_accuracy(docs) < 0.6
    positions = Counter(d.deciding for d in docs)
    assert len(positions) == GeneratedDocs().max_sentences  # the deciding one can be anywhere


def test_tokenizer_marks_sentences_and_truncates() -> None:
    tok = build_tokenizer(["Hello world. This is it! U.S. is big."], 100, 1, 12)
    enc = tok.encode("Hello world. This is it! U.S. is big.")
    assert enc.tokens[:9] == ["hello", "world", ".", "¶", "this", "is", "it", "!", "¶"]
    assert "¶" not in enc.tokens[9:]  # "U.S. is" is no boundary (lower-case after it)
    assert len(enc.ids) == 12 and tok.token_to_id("¶") == SEP
    assert tok.encode("unseen words").ids == [3, 3]  # [UNK]


def test_sentence_grid_and_back() -> None:
    # two documents: sentences [5 6] [7 8 9] [10] and [5] [6] [7 8 9 10 11 12]
    ids = torch.tensor([[5, 6, SEP, 7, 8, 9, SEP, 10, 0, 0], [5, SEP, 6, SEP, 7, 8, 9, 10, 11, 12]])
    grid, slot = sentence_grid(ids, sentences=3, words=3)
    assert grid.tolist() == [
        [[5, 6, 0], [7, 8, 9], [10, 0, 0]],
        [[5, 0, 0], [6, 0, 0], [7, 8, 9]],  # words past W = 3 are dropped
    ]
    assert slot.tolist() == [
        [0, 1, -1, 3, 4, 5, -1, 6, -1, -1],
        [0, -1, 3, -1, 6, 7, 8, -1, -1, -1],
    ]
    weights = torch.arange(1.0, 19.0).view(2, 3, 3)
    assert grid_to_tokens(weights, slot).tolist() == [
        [1, 2, 0, 4, 5, 6, 0, 7, 0, 0],
        [10, 0, 13, 0, 16, 17, 18, 0, 0, 0],
    ]


def test_mass_by_sentence_counts_word_tokens_only() -> None:
    ids = np.array([[5, 6, SEP, 7, 0]])
    mass = np.array([[0.1, 0.2, 0.5, 0.15, 0.05]])
    assert np.allclose(mass_by_sentence(mass, ids, 3), [[0.3, 0.15, 0.0]])
