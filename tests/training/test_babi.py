"""The bAbI reader: counts of the v1.2 files, stories and supporting facts, the seeded story-level
validation split, the 50-sentence memory window and the word-level vocabulary."""

from __future__ import annotations

from pathlib import Path

import pytest

from attentive.settings import Settings
from training.data import babi

DATA = Settings().data
pytestmark = pytest.mark.skipif(
    not (DATA / "babi" / "en").is_dir(), reason="bAbI is not in the data directory"
)


def test_every_1k_file_has_1000_questions() -> None:
    for task in babi.TASKS:
        for split in ("train", "test"):
            questions = babi.read_file(babi.task_file(DATA, task, split), task)
            assert len(questions) == 1000, (task, split)
    stories = {q.story_id for q in babi.read_file(babi.task_file(DATA, 20, "train"), 20)}
    assert len(stories) == 94  # the data README's count


def test_10k_has_19_tasks_of_10000_training_questions() -> None:
    assert babi.available("10k") == tuple(t for t in babi.TASKS if t != 3)
    questions = babi.read_file(babi.task_file(DATA, 1, "train", "10k"), 1)
    assert len(questions) == 10_000
    with pytest.raises(FileNotFoundError):
        babi.task_file(DATA, 3, "train", "10k")


def test_story_supporting_facts_and_memory_window(tmp_path: Path) -> None:
    text = (
        "1 Mary moved to the bathroom.\n2 John went to the hallway.\n"
        "3 Where is Mary? \tbathroom\t1\n4 Daniel went back to the kitchen.\n"
        "5 Where is Daniel? \tkitchen\t4\n1 Sandra got the milk there.\n"
        "2 Where is the milk? \tgarden\t1\n"
    )
    path = tmp_path / "qa1_single-supporting-fact_train.txt"
    path.write_text(text, encoding="utf-8")
    first, second, third = babi.read_file(path, 1)
    assert first.story == ("Mary moved to the bathroom.", "John went to the hallway.")
    assert (first.question, first.answer, first.supporting) == ("Where is Mary?", "bathroom", (0,))
    assert second.story[-1] == "Daniel went back to the kitchen." and second.supporting == (2,)
    assert third.story == ("Sandra got the milk there.",) and third.story_id == 1
    window, facts = second.memory(2)  # the last two statements; fact 2 -> index 1 of the window
    assert window == second.story[1:] and facts == (1,)
    assert second.memory(1)[1] == (0,) and first.memory(1)[1] == ()


def test_validation_holds_out_10_percent_of_the_stories_seeded() -> None:
    splits = babi.load(DATA, "1k", (1, 20))
    for task in (1, 20):
        train = {q.story_id for q in splits.train if q.task == task}
        val = {q.story_id for q in splits.val if q.task == task}
        assert not train & val
        assert len(val) == round(0.1 * len(train | val))
    assert len([q for q in splits.val if q.task == 1]) == 100  # 20 stories x 5 questions
    assert len([q for q in splits.test if q.task == 1]) == 1000
    again = babi.load.__wrapped__(DATA, "1k", (1, 20))  # not the cached object
    assert [q.question for q in again.val] == [q.question for q in splits.val]


def test_vocabulary_keeps_answers_whole_and_the_separator_at_its_id() -> None:
    splits = babi.load(DATA, "1k", (19,))
    tok = babi.build_tokenizer(splits.train)
    assert tok.token_to_id(".") == babi.SEP and tok.token_to_id("[PAD]") == babi.PAD
    assert tok.token_to_id("n,w") is not None  # a path answer is one token
    ids = tok.encode("The Kitchen is north of the garden. Zebra?").ids
    assert ids[-3] == babi.SEP and ids[-2] == babi.UNK
    assert tok.decode([tok.token_to_id("n,w")]) == "n,w"
    assert babi.join_story(["a b.", "c d"]) == "a b. c d ."
