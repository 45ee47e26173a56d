"""Every picture family from known weights (synthetic cards, a stand-in client): the figure's
labels are the tokens the tokenizer makes of the input, the PNG has the size asked for, the text
rendering names the attended tokens, and the registry picks families by the card alone."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from attentive.pictures import draw, picture
from attentive.pictures.alignment import Alignment
from attentive.pictures.captioning import Captions, grid_of
from attentive.pictures.graph import GraphAttention, Neighbourhood
from attentive.pictures.hierarchy import Document
from attentive.pictures.registry import (
    Key,
    NoAttention,
    NoRenderer,
    Query,
    family_for,
    key_of,
    register,
)
from taxonomy.card import Tags
from tests.pictures.cards import FakeClient, card, document_tokenizer, repository, spec, text
from tests.server.fake_repository import VOCAB


def ids(*words: str) -> list[int]:
    return [VOCAB.index(w) for w in words]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    return width, height


def tick_labels(axes: object, axis: str) -> list[str]:
    return [t.get_text() for t in getattr(axes, f"get_{axis}ticklabels")()]


# --- registry ----------------------------------------------------------------------------------


def test_key_of_reads_the_legend_and_drops_the_layer_number() -> None:
    assert key_of(spec("edge_attention_2", "(H, E): attention of ...")) == Key(
        "edge_attention", ("H", "E")
    )
    assert key_of(spec("cross_attention", "(B, T, S)")) == Key("cross_attention", ("B", "T", "S"))
    assert key_of(spec("attention", None)) is None
    assert key_of(spec("attention", "weights over the regions")) is None


def test_families_are_chosen_by_the_card_not_the_name() -> None:
    translation = card("anything", [spec("cross_attention", "(B, T, S): rows are outputs")])
    assert family_for(translation).name == "translation"
    for name, legend in [
        ("input_attention_1", "(B, L, R): sentence-1 positions x sentence-2 positions"),
        ("pooling_attention_2", "(B, L + 3, R + 3): convolution columns"),
    ]:
        pair = card("x", [spec(name, legend)], texts=["text_a", "text_b"])
        assert family_for(pair).name == "pair"
    caption = card("x", [spec("attention", "(B, T, L): region l = cell l")])
    assert family_for(caption).name == "captioning"
    han = card(
        "x",
        [
            spec("word_attention", "(B, L): aligned", dims=2),
            spec("sentence_attention", "(B, S)", dims=2),
        ],
    )
    assert family_for(han).name == "hierarchy"
    hops = card("x", [spec("attention", "(B, K, M): hop k, slot i")], texts=["story", "question"])
    assert family_for(hops).name == "memory"


def test_a_model_without_attention_is_told_so() -> None:
    baseline = card("seq2seq", [], tags=Tags(architecture={"encoder-decoder"}))
    with pytest.raises(NoAttention, match="'seq2seq' has no attention to show"):
        family_for(baseline)
    silent = card("quiet", [])  # attends, but serves no weights
    with pytest.raises(NoAttention, match="serves no attention output"):
        family_for(silent)


def test_an_undrawn_attention_output_lists_what_is_drawn() -> None:
    odd = card("odd", [spec("feature_attention", "(B, S, D)")])
    with pytest.raises(NoRenderer) as info:
        family_for(odd)
    message = str(info.value)
    assert "feature_attention (B, S, D)" in message
    assert "cross_attention (B, T, S)" in message and "edge_attention (H, E)" in message


def test_registering_a_drawn_key_again_fails() -> None:
    class Again(GraphAttention):
        name = "graph-again"

    with pytest.raises(ValueError, match="already drawn by 'graph'"):
        register(Again())

    class Renamed(GraphAttention):
        name = "graph"
        keys = (Key("other_attention", ("B", "S")),)

    with pytest.raises(ValueError, match="'graph' is already registered"):
        register(Renamed())


# --- translation (through picture(), with a stand-in server) -----------------------------------


def translator() -> tuple[FakeClient, np.ndarray]:
    model = card(
        "mt", [spec("cross_attention", "(B, T, S): rows are outputs")], texts=["source_text"],
        answer="output_text",
    )  # fmt: skip
    weights = np.zeros((1, 4, 5), np.float32)  # (B, T, S): 3 produced steps, then padding
    weights[0, 0] = [0.0, 0.9, 0.1, 0.0, 0.0]
    weights[0, 1] = [0.0, 0.1, 0.2, 0.7, 0.0]
    weights[0, 2] = [0.05, 0.0, 0.0, 0.15, 0.8]

    def answer(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        assert inputs["source_text"].tolist() == [[b"a cat sat"]]
        return {
            "output_text_ids": np.array([ids("katze", "sass", "[EOS]", "[PAD]")]),
            "output_text": text("katze sass"),
            "cross_attention": weights,
        }

    return FakeClient(model, answer), weights


def test_translation_alignment_is_labelled_with_tokens(tmp_path: Path) -> None:
    client, weights = translator()
    repo = repository(tmp_path / "repo", "mt")
    view = picture(client, Query(model="mt", input="a cat sat", repository=repo))
    assert isinstance(view, Alignment) and not view.notes
    figure = view.figure()
    axes = figure.axes[0]
    assert tick_labels(axes, "x") == ["[BOS]", "a", "cat", "sat", "[EOS]"]
    assert tick_labels(axes, "y") == ["katze", "sass", "[EOS]"]
    np.testing.assert_array_equal(axes.images[0].get_array(), weights[0, :3])
    out = tmp_path / "mt.png"
    assert draw.save_png(figure, out) == png_size(out) == draw.pixel_size(figure)
    assert draw.save_png(figure, out, (640, 480)) == png_size(out) == (640, 480)


def test_translation_text_names_the_strongest_source_tokens(tmp_path: Path) -> None:
    client, _ = translator()
    repo = repository(tmp_path / "repo", "mt")
    lines = picture(client, Query(model="mt", input="a cat sat", repository=repo)).text()
    assert "columns  0:[BOS]  1:a  2:cat  3:sat  4:[EOS]" in lines
    row = next(line for line in lines.splitlines() if line.startswith("katze"))
    assert row.endswith("a 0.90, cat 0.10")
    assert "| █░  |" in row  # one shade per source token, scaled to the strongest weight
    assert "|01234| shades up to 0.90" in lines
    row = next(line for line in lines.splitlines() if line.startswith("sass"))
    assert row.endswith("sat 0.70, cat 0.20, a 0.10")
    assert "| ░░█ |" in row


def test_without_the_tokenizer_ids_and_positions_label_it_and_a_note_says_so(
    tmp_path: Path,
) -> None:
    client, _ = translator()
    view = picture(client, Query(model="mt", input="a cat sat", repository=tmp_path / "none"))
    assert isinstance(view, Alignment)
    assert view.cols == ["s0", "s1", "s2", "s3", "s4"]
    assert view.rows == [f"#{i}" for i in ids("katze", "sass", "[EOS]")]
    assert "--repository" in view.notes[0]


def test_a_card_without_attention_fails_before_any_request() -> None:
    baseline = card("seq2seq", [], tags=Tags(architecture={"encoder-decoder"}))
    client = FakeClient(baseline, lambda inputs: {})
    with pytest.raises(NoAttention):
        picture(client, Query(model="seq2seq", input="a cat"))
    assert client.requests == []
    with pytest.raises(ValueError, match="has no card"):
        picture(FakeClient(None, lambda inputs: {}), Query(model="plain", input="a"))


# --- sentence pairs ----------------------------------------------------------------------------


def test_pair_matrix_has_sentence_one_on_y_and_two_on_x(tmp_path: Path) -> None:
    model = card(
        "abcnn-3",
        [
            spec("probabilities", "(B, C)", dims=2, description="(0 = no, 1 = yes)"),
            spec("input_attention_1", "(B, L, R): sentence-1 positions x sentence-2 positions"),
            spec("pooling_attention_1", "(B, L + 2, R + 2): convolution columns"),
            spec("input_attention_2", "(B, L, R): sentence-1 positions x sentence-2 positions"),
        ],
        texts=["text_a", "text_b"],
        answer=None,
    )
    rng = np.random.default_rng(0)
    words = rng.random((1, 5, 8)).astype(np.float32)  # (B, L, R): 5 x 8 tokens

    def answer(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        assert inputs["text_a"].tolist() == [[b"a dog runs"]]
        assert inputs["text_b"].tolist() == [[b"the cat sat on the mat"]]
        return {
            "probabilities": np.array([[0.2, 0.8]], np.float32),
            "input_attention_1": words,
            "pooling_attention_1": rng.random((1, 7, 10)).astype(np.float32),
            "input_attention_2": rng.random((1, 5, 8)).astype(np.float32),
        }

    repo = repository(tmp_path, "abcnn-3")
    for query in (
        Query(model="abcnn-3", input="a dog runs\tthe cat sat on the mat", repository=repo),
        Query(
            model="abcnn-3", input="a dog runs", second="the cat sat on the mat", repository=repo
        ),
    ):
        view = picture(FakeClient(model, answer), query)
        assert isinstance(view, Alignment)
        axes = view.figure().axes[0]
        assert tick_labels(axes, "y") == ["[BOS]", "a", "dog", "runs", "[EOS]"]
        second = ["[BOS]", "the", "cat", "sat", "on", "the", "mat", "[EOS]"]
        assert tick_labels(axes, "x") == second
        np.testing.assert_array_equal(view.weights, words[0])  # block 1, over the words
        assert view.title.endswith("→ yes (0.80)") and "(input_attention_1)" in view.title
    with pytest.raises(ValueError, match="takes 2 text"):
        picture(FakeClient(model, answer), Query(model="abcnn-3", input="one", repository=repo))


def test_meta_embedding_weights_per_token_and_set(tmp_path: Path) -> None:
    sets = (
        "Sentence 1's tokens: attention weights over the embedding sets (0 = word2vec, 1 = minilm)"
    )
    model = card(
        "dme",
        [
            spec("probabilities", "(B, C)", dims=2, description="(0 = entail, 1 = neutral)"),
            spec("left_set_weights", "(B, L, n): sentence-1 positions x sets", description=sets),
            spec("right_set_weights", "(B, R, n): sentence-2 positions x sets"),
        ],
        texts=["text_a", "text_b"],
        answer=None,
    )
    left = np.array([[[0.5, 0.5], [0.9, 0.1], [0.2, 0.8], [0.5, 0.5]]], np.float32)  # (B, L, n)
    right = np.array([[[0.5, 0.5], [0.3, 0.7], [0.5, 0.5]]], np.float32)  # (B, R, n)

    def answer(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            "probabilities": np.array([[0.7, 0.3]], np.float32),
            "left_set_weights": left,
            "right_set_weights": right,
        }

    query = Query("dme", "a dog\tcat", repository=repository(tmp_path, "dme"))
    view = picture(FakeClient(model, answer), query)
    axes = view.figure().axes[0]
    assert tick_labels(axes, "x") == ["word2vec", "minilm"]
    assert tick_labels(axes, "y") == ["[BOS]", "a", "dog", "[EOS]", "[BOS]", "cat", "[EOS]"]
    assert axes.lines[0].get_ydata()[0] == 3.5  # the line between the two sentences
    np.testing.assert_array_equal(axes.images[0].get_array(), np.concatenate([left[0], right[0]]))
    assert view.title == 'dme: "a dog" / "cat" → entail (0.70)'
    assert "\na     |█░| word2vec 0.90, minilm 0.10\n" in view.text()


# --- memory network ----------------------------------------------------------------------------


def test_memory_hops_over_story_sentences(tmp_path: Path) -> None:
    model = card(
        "memn2n",
        [spec("attention", "(B, K, M): hop k, memory slot i")],
        texts=["story", "question"],
        answer="answer",
    )
    weights = np.zeros((1, 3, 4), np.float32)  # (B, K, M): 3 sentences + 1 empty slot
    weights[0, :, :3] = [[0.1, 0.7, 0.2], [0.6, 0.3, 0.1], [0.05, 0.05, 0.9]]
    story = "the cat sat on the mat. a dog runs. the dog sat."

    def answer(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"answer_ids": np.array([[6]]), "answer": text("dog"), "attention": weights}

    view = picture(
        FakeClient(model, answer),
        Query(model="memn2n", input=story, second="where is the dog", repository=tmp_path),
    )
    axes = view.figure().axes[0]
    assert tick_labels(axes, "y") == ["the cat sat on the mat.", "a dog runs.", "the dog sat."]
    assert tick_labels(axes, "x") == ["hop 1", "hop 2", "hop 3"]
    lines = view.text().splitlines()
    assert lines[0] == 'memn2n: "where is the dog" → dog'
    assert lines[1] == "hop 1:" and lines[2].endswith("0.70  a dog runs.")
    assert lines[9] == "hop 3:" and lines[10].endswith("0.90  the dog sat.")


# --- hierarchical attention --------------------------------------------------------------------


def test_han_words_and_sentences(tmp_path: Path) -> None:
    model = card(
        "han",
        [
            spec("probabilities", "(B, C)", dims=2),
            spec("word_attention", "(B, L): aligned with document_ids", dims=2),
            spec("sentence_attention", "(B, S): sentence s = the text after the s-th", dims=2),
        ],
        texts=["document_text"],
        answer=None,
    )
    # "a cat sat. the dog" -> a cat sat ¶ the dog: 6 tokens, the separator's weight 0
    words = np.array([[0.2, 0.7, 0.1, 0.0, 0.4, 0.6]], np.float32)  # (B, L)
    sentences = np.array([[0.25, 0.75, 0.0]], np.float32)  # (B, S): the third slot is empty

    def answer(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            "probabilities": np.array([[0.1, 0.9]], np.float32),
            "word_attention": words,
            "sentence_attention": sentences,
        }

    (tmp_path / "han").mkdir()
    document_tokenizer(tmp_path / "han" / "tokenizer.json")
    query = Query(model="han", input="a cat sat. the dog", repository=tmp_path)
    view = picture(FakeClient(model, answer), query)
    assert isinstance(view, Document)
    assert view.title == "han → class 1 (0.90)"
    figure = view.figure()
    bars, panel = figure.axes
    assert tick_labels(bars, "y") == ["sentence 1", "sentence 2"]
    assert [p.get_width() for p in bars.patches] == pytest.approx([0.25, 0.75])
    assert [t.get_text() for t in panel.texts] == ["a", "cat", "sat", "the", "dog"]
    lines = view.text().splitlines()
    assert lines[1] == "▒ 0.25 | a[▒] cat[█] sat[░]"
    assert lines[2] == "█ 0.75 | the[▓] dog[█]"
    with pytest.raises(ValueError, match="sentences of the document cannot be found"):
        picture(FakeClient(model, answer), Query("han", "a cat", repository=tmp_path / "none"))


# --- captioning and graphs (their served tests are in tests/server/test_show.py) ---------------


def test_captions_outline_the_most_attended_cell() -> None:
    image = np.zeros((16, 24), np.float32)  # 2 x 3 cells of 8 x 8
    weights = np.array([[0.1, 0.6, 0.1, 0.1, 0.05, 0.05], [0, 0, 0, 0, 0, 1.0]], np.float32)
    assert grid_of(16, 24, 6) == (2, 3)
    with pytest.raises(ValueError, match="do not tile"):
        grid_of(16, 24, 5)
    view = Captions("t", image, ["one", "two"], weights, (2, 3))
    figure = view.figure()
    assert [a.get_title() for a in figure.axes] == ["one  0.60", "two  1.00"]
    first, second = (a.patches[0] for a in figure.axes)
    assert first.get_xy() == (8 - 0.5, -0.5) and (first.get_width(), first.get_height()) == (8, 8)
    assert second.get_xy() == (16 - 0.5, 8 - 0.5)
    assert view.text().splitlines()[2] == "one [░█░|░░░] cell (0, 1) 0.60"


def test_neighbourhood_draws_each_neighbour_with_its_weight() -> None:
    from attentive.pictures.graph import Layer

    layer = Layer("edge_attention_1", [0, 3, 5], np.array([[0.2, 0.5, 0.3], [0.4, 0.3, 0.3]]))
    view = Neighbourhood("t", 0, [layer], classes={0: 1, 3: 2, 5: 1})
    axes = view.figure().axes[0]
    nodes = [t.get_text() for t in axes.texts if t.get_gid() == "node"]
    assert nodes == ["3\nclass 2", "5\nclass 1", "0\nclass 1\nself 0.30"]
    weights = [t.get_text() for t in axes.texts if t.get_gid() != "node"]
    assert weights == ["0.40", "0.30"]
    lines = view.text().splitlines()
    assert lines[2].split() == ["█", "3", "0.400", "[0.300,", "0.500]"]
    assert lines[3].split()[1:4] == ["0", "(self)", "0.300"]
