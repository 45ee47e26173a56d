"""The sentence-pair readers: split sizes, carved dev sets, labels; the word tokenizer."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from attentive.settings import Settings
from training.data import pairs
from training.data.words import PAD, UNK, split_words, train_words

DATA = Settings().data


def _needs(dataset: str) -> Path:
    if not (DATA / dataset).is_dir():
        pytest.skip(f"{dataset} is not in {DATA}")
    return DATA


def test_wikiqa_test_has_243_answered_questions() -> None:
    rows = pairs.read(_needs("wikiqa"), "wikiqa", "test")
    assert len(rows) == 6165 and len({p.group for p in rows}) == 633
    answered = {p.group for p in rows if p.label == 1}
    assert len(answered) == 243
    assert sum(p.group in answered for p in rows) == 2351


def test_wikiqa_dev_is_carved_by_question() -> None:
    data = _needs("wikiqa")
    train, dev = pairs.read(data, "wikiqa", "train"), pairs.read(data, "wikiqa", "dev")
    assert len(train) + len(dev) == 20360
    train_q, dev_q = {p.group for p in train}, {p.group for p in dev}
    assert len(dev_q) == 212 and len(train_q) == 2118 - 212
    assert not train_q & dev_q  # no question straddles the split
    assert dev == pairs.read(data, "wikiqa", "dev")  # deterministic


def test_msrp_sick_msrvid_sizes_and_labels() -> None:
    msrp = {s: pairs.read(_needs("msrp"), "msrp", s) for s in pairs.SPLITS}
    assert [len(msrp[s]) for s in pairs.SPLITS] == [3576, 500, 1725]
    assert Counter(p.label for p in msrp["test"]) == {1: 1147, 0: 578}
    sick = {s: pairs.read(_needs("sick"), "sick", s) for s in pairs.SPLITS}
    assert [len(sick[s]) for s in pairs.SPLITS] == [4500, 500, 4927]
    assert Counter(p.label for p in sick["train"]) == {0: 2536, 1: 1299, 2: 665}
    assert all(1.0 <= p.score <= 5.0 for p in sick["test"])
    msrvid = {s: pairs.read(_needs("msrvid"), "msrvid", s) for s in pairs.SPLITS}
    assert [len(msrvid[s]) for s in pairs.SPLITS] == [650, 100, 750]
    assert not {p.group for p in msrvid["train"]} & {p.group for p in msrvid["dev"]}


def test_word_tokenizer_lowercases_splits_and_reserves_specials() -> None:
    tok = train_words(["The cat sat.", "the dog sat"], vocab_size=100, max_length=4)
    assert tok.token_to_id("[PAD]") == PAD and tok.token_to_id("[UNK]") == UNK
    assert tok.encode("THE CAT").tokens == ["the", "cat"]
    assert tok.encode("the zebra").ids[1] == UNK
    assert len(tok.encode("the cat sat . the dog").ids) == 4  # truncated to max_length
    assert split_words("The cat, sat.") == ["the", "cat", ",", "sat", "."]
