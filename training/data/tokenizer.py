"""Subword tokenizers (HF `tokenizers` BPE), trained on a training split and saved as JSON.

The saved JSON is what the server loads (as data) to turn text into ids and back, so the special
ids below are part of the served contract: [PAD]=0, [BOS]=1, [EOS]=2, [UNK]=3. Encoding adds
[BOS] ... [EOS] through the tokenizer's own post-processor.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ["[PAD]", "[BOS]", "[EOS]", "[UNK]"]


def train_bpe(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS, min_frequency=2, show_progress=False
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[BOS] $A [EOS]", special_tokens=[("[BOS]", BOS), ("[EOS]", EOS)]
    )
    for i, name in enumerate(SPECIALS):
        if tok.token_to_id(name) != i:
            raise RuntimeError(f"special token {name} got id {tok.token_to_id(name)}, not {i}")
    return tok


def load_or_train(path: Path, texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """The tokenizer saved beside a checkpoint, trained once from ``texts`` if absent."""
    if path.exists():
        return Tokenizer.from_file(str(path))
    tok = train_bpe(texts, vocab_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(path))
    return tok


def decode(tok: Tokenizer, ids: Iterable[int]) -> str:
    """Ids up to the first [EOS], specials dropped."""
    out: list[int] = []
    for i in ids:
        if i == EOS:
            break
        if i not in (PAD, BOS):
            out.append(int(i))
    return tok.decode(out)
