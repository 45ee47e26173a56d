"""`attentive show` against the session server: the PNG is written at the size asked for, the
figure's labels are the tokens the model read and wrote, the text rendering names them, and an
unknown model, a model without a card and a model without attention are told apart. Models are
picked by the family their card maps to, so this holds for the tiny zoo and the fake one alike."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from attentive.cli import main as cli
from attentive.pictures import draw, picture
from attentive.pictures.registry import NoAttention, NoRenderer, Query, family_for
from server.client import Client
from taxonomy.query import CardEntry
from tests.server.helpers import example_array, first_graph_example

ROOT = Path(__file__).resolve().parents[2]
TEXT = "A man is riding a bike."


def _family(entry: CardEntry) -> str | None:
    try:
        return family_for(entry.card).name  # type: ignore[arg-type]
    except (NoAttention, NoRenderer):
        return None


def _first(zoo: list[CardEntry], family: str) -> CardEntry:
    found = [e for e in zoo if _family(e) == family]
    if not found:
        pytest.skip(f"no {family} model in the served repository")
    return found[0]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli(["show", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    return width, height


def _produced(ids: np.ndarray, eos: int | None) -> list[int]:
    ended = np.flatnonzero(ids == eos)
    return ids[: int(ended[0]) + 1 if ended.size else len(ids)].tolist()


def test_translation_png_has_its_size_and_token_labels(
    capsys: pytest.CaptureFixture[str],
    address: str,
    repository: Path,
    zoo: list[CardEntry],
    tmp_path: Path,
) -> None:
    entry = _first(zoo, "translation")
    card = entry.card
    assert card is not None
    png = tmp_path / "alignment.png"
    code, out, err = _run(
        capsys, entry.name, TEXT, "--server", address, "--repository", str(repository),
        "--out", str(png),
    )  # fmt: skip
    assert code == 0, err
    width, height = _png_size(png)
    assert out.strip() == f"wrote {png} ({width} x {height} px)"
    query = Query(model=entry.name, input=TEXT, repository=repository)
    with Client(address) as client:
        view = picture(client, query)
        outputs = client.infer(entry.name, {"source_text": np.array([[TEXT.encode()]], object)})
    figure = view.figure()
    assert draw.pixel_size(figure) == (width, height)
    tok = Tokenizer.from_file(str(repository / entry.name / card.io.text_inputs[0].tokenizer))
    source = [tok.id_to_token(i) for i in tok.encode(TEXT).ids]
    target = [tok.id_to_token(i) for i in _produced(outputs["output_ids"][0], card.io.eos_id)]
    axes = figure.axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == source
    assert [t.get_text() for t in axes.get_yticklabels()] == target
    weights = outputs["cross_attention"][0, : len(target), : len(source)]
    np.testing.assert_array_equal(axes.images[0].get_array(), weights)

    sized = tmp_path / "sized.png"
    code, _, err = _run(
        capsys, entry.name, TEXT, "--server", address, "--repository", str(repository),
        "--out", str(sized), "--size", "900x600",
    )  # fmt: skip
    assert code == 0, err
    assert _png_size(sized) == (900, 600)


def test_translation_text_names_the_tokens(
    capsys: pytest.CaptureFixture[str], address: str, repository: Path, zoo: list[CardEntry]
) -> None:
    entry = _first(zoo, "translation")
    card = entry.card
    assert card is not None
    code, out, err = _run(
        capsys, entry.name, TEXT, "--server", address, "--repository", str(repository)
    )
    assert code == 0, err
    tok = Tokenizer.from_file(str(repository / entry.name / card.io.text_inputs[0].tokenizer))
    source = [tok.id_to_token(i) for i in tok.encode(TEXT).ids]
    with Client(address) as client:
        outputs = client.infer(entry.name, {"source_text": np.array([[TEXT.encode()]], object)})
    target = [tok.id_to_token(i) for i in _produced(outputs["output_ids"][0], card.io.eos_id)]
    lines = out.splitlines()
    assert lines[2] == "columns  " + "  ".join(f"{j}:{s}" for j, s in enumerate(source))
    rows = lines[4:]
    assert [row.split(" |", 1)[0].strip() for row in rows] == target
    weights = outputs["cross_attention"][0]  # (T, S): each row names its strongest source token
    for row, step in zip(rows, weights, strict=False):
        assert row.rsplit("| ", 1)[1].startswith(f"{source[int(step.argmax())]} {step.max():.2f}")


def test_captions_from_the_example_and_from_an_image_file(
    capsys: pytest.CaptureFixture[str],
    address: str,
    repository: Path,
    zoo: list[CardEntry],
    tmp_path: Path,
) -> None:
    entry = _first(zoo, "captioning")
    card = entry.card
    assert card is not None
    png = tmp_path / "caption.png"
    code, _, err = _run(
        capsys, entry.name, "--example", "--server", address, "--repository", str(repository),
        "--out", str(png), "--size", "700x400",
    )  # fmt: skip
    assert code == 0, err
    assert _png_size(png) == (700, 400)
    image = example_array(first_graph_example(entry).inputs[0])  # (1, H, W)
    np.save(tmp_path / "grid.npy", image[0])
    with Client(address) as client:
        from_example = picture(client, Query(entry.name, example="", repository=repository))
        from_file = picture(
            client, Query(entry.name, str(tmp_path / "grid.npy"), repository=repository)
        )
        outputs = client.infer(entry.name, {"image": image})
    np.testing.assert_array_equal(from_file.weights, from_example.weights)  # type: ignore[attr-defined]
    tok = Tokenizer.from_file(str(repository / entry.name / card.io.text_outputs[0].tokenizer))
    words = [tok.id_to_token(i) for i in _produced(outputs["output_ids"][0], card.io.eos_id)]
    if words and words[-1] == "[EOS]":
        words = words[:-1]
    figure = from_file.figure()
    titles = [a.get_title().rsplit("  ", 1)[0] for a in figure.axes]
    assert titles == words
    for axes, row in zip(figure.axes, outputs["attention"][0], strict=False):
        r, c = divmod(int(row.argmax()), from_file.grid[1])  # type: ignore[attr-defined]
        ch, cw = from_file.cell  # type: ignore[attr-defined]
        assert axes.patches[0].get_xy() == (c * cw - 0.5, r * ch - 0.5)

    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((5, 5), np.float32))
    code, _, err = _run(capsys, entry.name, str(wrong), "--server", address)
    assert code == 2 and "the model takes" in err


@pytest.mark.parametrize("family", ["pair", "embedding-sets"])
def test_sentence_pairs_are_labelled_with_both_sentences(
    capsys: pytest.CaptureFixture[str],
    address: str,
    repository: Path,
    zoo: list[CardEntry],
    tmp_path: Path,
    family: str,
) -> None:
    entry = _first(zoo, family)
    card = entry.card
    assert card is not None
    first, second = "A man is riding a bike.", "A person rides a bicycle."
    png = tmp_path / "pair.png"
    code, out, err = _run(
        capsys, entry.name, first, "--second", second, "--server", address,
        "--repository", str(repository), "--out", str(png), "--size", "640x480",
    )  # fmt: skip
    assert code == 0, err
    assert _png_size(png) == (640, 480)
    with Client(address) as client:
        view = picture(client, Query(entry.name, f"{first}\t{second}", repository=repository))
    tok = Tokenizer.from_file(str(repository / entry.name / card.io.text_inputs[0].tokenizer))
    a, b = ([tok.id_to_token(i) for i in tok.encode(t).ids] for t in (first, second))
    axes = view.figure().axes[0]
    ys = [t.get_text() for t in axes.get_yticklabels()]
    xs = [t.get_text() for t in axes.get_xticklabels()]
    if family == "pair":
        assert (ys, xs) == (a, b)
    else:
        assert ys == a + b and len(xs) == axes.images[0].get_array().shape[1]
    code, out, _ = _run(
        capsys, entry.name, first, "--second", second, "--server", address,
        "--repository", str(repository),
    )  # fmt: skip
    assert code == 0 and all(token in out for token in a + b)


def test_memory_hops_over_the_story_sentences(
    capsys: pytest.CaptureFixture[str],
    address: str,
    repository: Path,
    zoo: list[CardEntry],
    tmp_path: Path,
) -> None:
    entry = _first(zoo, "memory")
    story = "Mary moved to the bathroom. John went to the hallway. Mary travelled to the office."
    question = "Where is Mary?"
    png = tmp_path / "hops.png"
    code, _, err = _run(
        capsys, entry.name, story, "--second", question, "--server", address,
        "--repository", str(repository), "--out", str(png),
    )  # fmt: skip
    assert code == 0, err
    with Client(address) as client:
        view = picture(client, Query(entry.name, f"{story}\t{question}", repository=repository))
        text = np.array([[story.encode()]], object), np.array([[question.encode()]], object)
        outputs = client.infer(entry.name, {"story": text[0], "question": text[1]})
    figure = view.figure()
    assert _png_size(png) == draw.pixel_size(figure)
    axes = figure.axes[0]
    sentences = [
        "Mary moved to the bathroom.", "John went to the hallway.", "Mary travelled to the office."
    ]  # fmt: skip
    assert [t.get_text() for t in axes.get_yticklabels()] == sentences
    hops = outputs["attention"][0]  # (K, M): the three sentences are slots 0..2
    assert [t.get_text() for t in axes.get_xticklabels()] == [
        f"hop {k + 1}" for k in range(len(hops))
    ]
    np.testing.assert_array_equal(axes.images[0].get_array(), hops[:, :3].T)
    assert not hops[:, 3:].any()  # no sentence, no weight
    code, out, _ = _run(capsys, entry.name, "--example", "--server", address)
    assert code == 0 and out.splitlines()[1] == "hop 1:"


def test_graph_node_neighbourhood(
    capsys: pytest.CaptureFixture[str],
    address: str,
    repository: Path,
    zoo: list[CardEntry],
    tmp_path: Path,
) -> None:
    entry = _first(zoo, "graph")
    example = {t.name: example_array(t) for t in first_graph_example(entry).inputs}
    edges = next(v for v in example.values() if v.dtype == np.int64)  # (2, E)
    neighbours = sorted(set(edges[0, edges[1] == 0].tolist()))
    code, out, err = _run(capsys, entry.name, "0", "--server", address)
    assert code == 0, err
    listed = sorted(
        int(line.split()[1]) for line in out.splitlines() if line.startswith("  ")
    )  # every layer lists every neighbour once
    layers = sum(1 for line in out.splitlines() if line.startswith("edge_attention"))
    assert layers >= 1 and listed == sorted(neighbours * layers)
    np.savez(tmp_path / "graph.npz", **example)
    png = tmp_path / "node.png"
    code, _, err = _run(
        capsys, entry.name, "0", "--inputs", str(tmp_path / "graph.npz"), "--server", address,
        "--out", str(png),
    )  # fmt: skip
    assert code == 0, err
    assert _png_size(png)[0] > 100
    code, _, err = _run(capsys, entry.name, "zero", "--server", address)
    assert code == 2 and "node id" in err
    code, _, err = _run(capsys, entry.name, "9999", "--server", address)
    assert code == 2 and "is not in the graph" in err


def test_unknown_models_and_models_without_attention_are_told_apart(
    capsys: pytest.CaptureFixture[str],
    address: str,
    zoo: list[CardEntry],
    roles: dict[str, str],
) -> None:
    code, _, err = _run(capsys, "no_such_model", "a", "--server", address)
    assert code == 1 and "NOT_FOUND" in err and "'no_such_model'" in err
    code, _, err = _run(capsys, roles["plain"], "a", "--server", address)
    assert code == 2 and "has no card" in err
    silent = [e for e in zoo if e.card and not e.card.tags.has_attention]
    if silent:
        code, _, err = _run(capsys, silent[0].name, TEXT, "--server", address)
        assert code == 2 and "has no attention to show" in err
    code, _, err = _run(capsys, zoo[0].name, "--server", address)
    assert code == 2 and "INPUT or --example" in err


def test_show_never_imports_torch() -> None:
    probe = (
        "import sys\n"
        "import attentive.commands.show, attentive.pictures.families\n"
        "from attentive.pictures.registry import describe\n"
        "assert len(describe()) >= 3\n"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'training', 'export', 'onnxruntime'))]\n"
        "print(bad)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
