"""bAbI QA tasks v1.2, English (Weston et al. 2015): stories, questions, answers, supporting facts.

Files: ``<data>/babi/en/qa{N}_<name>_{train,test}.txt`` (1k: 1,000 questions per file) and
``<data>/babi/en-10k/`` (10k: 10,000 training questions per task; task 3's training file is not in
the mirror, so the 10k set has 19 tasks; its test files equal the 1k ones). Each line is
``<id> <sentence>``; ids restart at 1 with a new story; a question line is
``<id> <question>\\t<answer>\\t<supporting fact ids>``. Questions are not memories: a question's
story is every statement of its story before it, and its supporting facts are indices into that.

Validation: 10% of each task's *training stories* (seeded shuffle, ``VAL_SEED``; at least one
story) with all their questions are held out, so no validation question shares a story with a
training question. Test is the task's test file, untouched.

Text is tokenized by one word-level tokenizer (HF ``tokenizers`` JSON, served with the model):
lower case, words and punctuation split apart (``"Where is Mary?"`` -> ``where is mary ?``).
Sentences of a story are joined into one token sequence, each ended by ``"."`` (the
``SEPARATOR``), which is how a story travels as one string and is cut into memories in the model.
Ids: the project's specials ([PAD]=0, [BOS]=1, [EOS]=2, [UNK]=3), then ``"."`` = 4, then every
word of the training stories and questions, then every answer (an answer is one token, also
``"n,w"`` or ``"apple,football"``, so answers are classes of the same vocabulary).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

from training.data.tokenizer import PAD, SPECIALS, UNK

TASKS = tuple(range(1, 21))
SETS = {"1k": "en", "10k": "en-10k"}
MISSING = {("10k", 3)}  # (set, task) whose training file the mirror lacks
SEPARATOR = "."
SEP = len(SPECIALS)  # id of "."
VAL_SHARE = 0.1
VAL_SEED = 0
MEMORY = 50  # the paper's memory: the most recent 50 sentences

__all__ = ["PAD", "SEP", "UNK", "Question", "Splits", "load", "read_file", "task_file"]


@dataclass(frozen=True)
class Question:
    task: int
    story: tuple[str, ...]  # statements before the question, oldest first
    question: str
    answer: str
    supporting: tuple[int, ...]  # indices into ``story``
    story_id: int  # index of the story in its file

    def memory(self, size: int = MEMORY) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """The last ``size`` statements and the supporting facts' indices into them (facts
        older than the window are dropped)."""
        first = max(0, len(self.story) - size)
        return self.story[first:], tuple(i - first for i in self.supporting if i >= first)


def task_file(data_dir: Path, task: int, split: str, size: str = "1k") -> Path:
    """``split``: "train" | "test"; ``size``: "1k" | "10k"."""
    folder = data_dir / "babi" / SETS[size]
    found = sorted(folder.glob(f"qa{task}_*_{split}.txt"))
    if len(found) != 1:
        raise FileNotFoundError(f"bAbI {size} task {task} {split}: no single file in {folder}")
    return found[0]


def read_file(path: Path, task: int) -> list[Question]:
    questions: list[Question] = []
    story: list[str] = []
    index: dict[int, int] = {}  # line id -> statement index in the story
    stories = -1
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        number, text = line.split(" ", 1)
        line_id = int(number)
        if line_id == 1:
            story, index, stories = [], {}, stories + 1
        if "\t" in text:
            question, answer, facts = text.split("\t")
            supporting = tuple(index[int(f)] for f in facts.split())
            questions.append(
                Question(task, tuple(story), question.strip(), answer.strip(), supporting, stories)
            )
        else:
            index[line_id] = len(story)
            story.append(text.strip())
    return questions


def available(size: str) -> tuple[int, ...]:
    return tuple(t for t in TASKS if (size, t) not in MISSING)


def split_train(questions: list[Question], seed: int = VAL_SEED) -> tuple[list, list]:
    """(train, val): 10% of the stories (at least one) held out with all their questions."""
    stories = sorted({q.story_id for q in questions})
    random.Random(seed).shuffle(stories)
    held = set(stories[: max(1, round(VAL_SHARE * len(stories)))])
    return [q for q in questions if q.story_id not in held], [
        q for q in questions if q.story_id in held
    ]


@dataclass(frozen=True)
class Splits:
    train: list[Question]
    val: list[Question]
    test: list[Question]
    tasks: tuple[int, ...]


@lru_cache(maxsize=4)
def load(data_dir: Path, size: str = "1k", tasks: tuple[int, ...] | None = None) -> Splits:
    """Every task of ``size`` (or ``tasks``), joined: train / val / test question lists."""
    chosen = tasks or available(size)
    train: list[Question] = []
    val: list[Question] = []
    test: list[Question] = []
    for task in chosen:
        fit, held = split_train(read_file(task_file(data_dir, task, "train", size), task))
        train += fit
        val += held
        test += read_file(task_file(data_dir, task, "test", size), task)
    return Splits(train, val, test, tuple(chosen))


# --- vocabulary -----------------------------------------------------------------------------------


_SPLIT = pre_tokenizers.Whitespace()  # words and runs of punctuation: \w+|[^\w\s]+


def _pipeline(tok: Tokenizer) -> Tokenizer:
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = _SPLIT
    return tok  # no decoder: decoding joins tokens with spaces


def words(text: str) -> list[str]:
    """The tokenizer's pieces of ``text``."""
    return [piece for piece, _ in _SPLIT.pre_tokenize_str(text.lower())]


def build_tokenizer(questions: list[Question]) -> Tokenizer:
    """Word-level vocabulary of ``questions`` (the training split): see the module docstring."""
    seen: dict[str, None] = {}
    for q in questions:
        for sentence in (*q.story, q.question):
            for w in words(sentence):
                seen.setdefault(w, None)
    answers = {q.answer.lower() for q in questions}
    vocab = {name: i for i, name in enumerate(SPECIALS)}
    vocab[SEPARATOR] = SEP
    for w in [*sorted(seen), *sorted(answers)]:
        vocab.setdefault(w, len(vocab))
    assert vocab["[PAD]"] == PAD and vocab["[UNK]"] == UNK
    return _pipeline(Tokenizer(models.WordLevel(vocab, unk_token="[UNK]")))


def join_story(sentences: tuple[str, ...] | list[str]) -> str:
    """One string for a story: sentences ending without '.' get one."""
    return " ".join(s if s.rstrip().endswith(SEPARATOR) else f"{s} {SEPARATOR}" for s in sentences)
