"""A word-level tokenizer (HF ``tokenizers`` WordLevel) for the sentence-pair models.

Lower-casing (after NFKC) and the ``Whitespace`` pre-tokenizer (runs of word characters, runs of
punctuation: ``"U.S. $2.5bn"`` -> ``u . s . $ 2 . 5bn``); the vocabulary is the training split's
most frequent words. Special ids, part of the served contract: ``[PAD]`` = 0, ``[UNK]`` = 1; no
[BOS]/[EOS]. The saved JSON truncates to ``max_length`` tokens, so the server's text path
(server/codecs.py TextCodec) feeds the graph exactly what training and evaluation saw.

:func:`split_words` applies the same normaliser and pre-tokenizer, so word vectors trained or
looked up elsewhere (training/data/vectors.py) see the tokenizer's words.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

PAD, UNK = 0, 1
SPECIALS = ["[PAD]", "[UNK]"]

_NORMALIZER = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
_PRE_TOKENIZER = pre_tokenizers.Whitespace()


def split_words(text: str) -> list[str]:
    """The words the tokenizer sees in ``text`` (normalised and pre-tokenized)."""
    return [w for w, _ in _PRE_TOKENIZER.pre_tokenize_str(_NORMALIZER.normalize_str(text))]


def train_words(texts: Iterable[str], vocab_size: int, max_length: int) -> Tokenizer:
    tok = Tokenizer(models.WordLevel(unk_token=SPECIALS[UNK]))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(
        vocab_size=vocab_size, min_frequency=1, special_tokens=SPECIALS, show_progress=False
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.enable_truncation(max_length)
    for i, name in enumerate(SPECIALS):
        if tok.token_to_id(name) != i:
            raise RuntimeError(f"special token {name} got id {tok.token_to_id(name)}, not {i}")
    return tok


def load_or_train(path: Path, texts: Iterable[str], vocab_size: int, max_length: int) -> Tokenizer:
    """The tokenizer saved beside a checkpoint, trained once from ``texts`` if absent."""
    if path.exists():
        return Tokenizer.from_file(str(path))
    tok = train_words(texts, vocab_size, max_length)
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return tok


def vocabulary(tok: Tokenizer) -> list[str]:
    """Words by id (index = id)."""
    vocab = tok.get_vocab()
    words = [""] * len(vocab)
    for word, i in vocab.items():
        words[i] = word
    return words
