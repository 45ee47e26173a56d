"""Reading what the user gives `attentive show` and what labels a picture: texts, images, graph
files, the card's examples, and the model's tokenizer (read from the model repository)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from attentive.pictures.registry import Family, Query
from taxonomy.card import Example, ModelCard


class TextFamily(Family):
    """A family of text models: the request is the card's text inputs (see :func:`texts`)."""

    def request(self, card: ModelCard, query: Query) -> dict[str, np.ndarray]:
        return texts(card, query)


def texts(card: ModelCard, query: Query) -> dict[str, np.ndarray]:
    """The card's text inputs, in card order, from INPUT (fields separated by tabs) and
    ``--second``: each a BYTES tensor of shape (1, 1)."""
    names = [t.name for t in card.io.text_inputs]
    if not names:
        raise ValueError(f"model {card.name!r} takes no text")
    if query.example is not None:  # the card's example that gives every text
        texts = [e for e in card.examples if {t.name for t in e.inputs} == set(names)]
        if query.example:
            texts = [e for e in texts if e.name == query.example]
        if not texts:
            raise ValueError(f"model {card.name!r} has no text example {query.example!r}")
        return {n: a.reshape(1, 1) for n, a in example_arrays(texts[0]).items()}
    fields = [] if query.input is None else query.input.split("\t")
    if query.second is not None:
        fields.append(query.second)
    if len(fields) != len(names):
        raise ValueError(
            f"model {card.name!r} takes {len(names)} text(s) ({', '.join(names)}); got "
            f"{len(fields)} (separate them with a tab or give the second with --second)"
        )
    return {
        n: np.array([[f.encode("utf-8")]], dtype=object) for n, f in zip(names, fields, strict=True)
    }


def example(card: ModelCard, query: Query, graph_only: bool = False) -> Example:
    """The card example named by ``--example`` (or the first; with graph_only, the first that
    feeds graph inputs only)."""
    graph = {t.name for t in card.io.inputs}
    candidates = [
        e for e in card.examples if not graph_only or all(t.name in graph for t in e.inputs)
    ]
    if query.example:
        found = [e for e in candidates if e.name == query.example]
        if not found:
            names = ", ".join(e.name for e in candidates)
            raise ValueError(
                f"model {card.name!r} has no example {query.example!r}; examples: {names}"
            )
        return found[0]
    if not candidates:
        raise ValueError(f"model {card.name!r} has no example with graph inputs only")
    return candidates[0]


def example_arrays(example: Example) -> dict[str, np.ndarray]:
    from server import codecs

    return {t.name: codecs.from_list(t.name, t.datatype, t.shape, t.data) for t in example.inputs}


def npz(path: Path, card: ModelCard) -> dict[str, np.ndarray]:
    """Graph inputs from a .npz whose arrays are named as the card's inputs."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: np.asarray(data[name]) for name in data.files}
    wanted = [t.name for t in card.io.inputs]
    missing = [n for n in wanted if n not in arrays]
    if missing:
        raise ValueError(
            f"{path}: missing array(s) {', '.join(missing)}; model {card.name!r} takes "
            f"{', '.join(wanted)} (found: {', '.join(arrays) or 'none'})"
        )
    return {n: arrays[n] for n in wanted}


def image(path: Path, height: int, width: int) -> np.ndarray:
    """A grayscale image (H, W) float32 in [0, 1] from a .npy ((H, W) or (1, H, W)) or a .png
    (grayscale or RGB(A), averaged), which must already be H x W pixels."""
    if path.suffix.lower() == ".npy":
        array = np.load(path, allow_pickle=False).astype(np.float32)
        if array.ndim == 3 and array.shape[0] == 1:
            array = array[0]
    elif path.suffix.lower() == ".png":
        from matplotlib.image import imread

        array = np.asarray(imread(path), dtype=np.float32)  # (H, W) or (H, W, 3|4) in [0, 1]
        if array.ndim == 3:
            array = array[..., :3].mean(axis=-1)  # (H, W)
    else:
        raise ValueError(f"{path}: an image is a .npy or .png file")
    if array.shape != (height, width):
        raise ValueError(
            f"{path}: image of shape {list(array.shape)}; the model takes {height} x {width} "
            "pixels (H x W)"
        )
    if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
        raise ValueError(f"{path}: pixel values must lie in [0, 1]")
    return array


def tokenizer(card: ModelCard, query: Query, file: str) -> Any | None:
    """The model's tokenizer (``<repository>/<model>/<file>``), or None where it is not there.
    The server holds the same file; it sends no files, so the client reads the repository."""
    from attentive.settings import Settings

    repository = query.repository or Settings().repository
    path = Path(repository) / query.model / file
    if not path.is_file():
        return None
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path))


def token_strings(tok: Any | None, ids: np.ndarray | list[int]) -> list[str]:
    """Token strings as the tokenizer has them (subword markers kept), or '#id' without one."""
    if tok is None:
        return [f"#{int(i)}" for i in ids]
    return [tok.id_to_token(int(i)) or f"#{int(i)}" for i in ids]


def produced(ids: np.ndarray, eos_id: int | None) -> int:
    """How many steps of one output row were produced: up to and including the first EOS."""
    ended = np.flatnonzero(ids == eos_id) if eos_id is not None else np.array([], dtype=int)
    return int(ended[0]) + 1 if ended.size else len(ids)


def no_tokenizer_note(card: ModelCard, query: Query, file: str) -> str:
    return (
        f"{file} of {card.name!r} is not in the repository "
        f"({query.repository or 'ATTENTIVE_REPOSITORY'}): tokens are shown as ids or positions; "
        "pass --repository DIR (the served model repository) for token strings"
    )


def sentences(text: str) -> list[str]:
    """A story or document as sentences: its lines when it has several, else split after . ! ?"""
    import re

    lines = [s.strip() for s in text.splitlines() if s.strip()]
    if len(lines) > 1:
        return lines
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def prediction(card: ModelCard, outputs: dict[str, np.ndarray]) -> str:
    """The predicted class of a classifier's ``probabilities (B, C)`` as 'name (p)', the class
    named from the output's description '... (0 world, 1 sports, ...)' where it lists them; or
    a relatedness ``score (B,)``; '' when the model has neither."""
    import re

    for spec in card.io.outputs:
        if spec.name == "probabilities" and spec.name in outputs:
            row = outputs[spec.name][0]  # (C,)
            best = int(row.argmax())
            listed = re.search(r"\((0 =? ?[^()]*)\)", spec.description)
            names = {}
            for item in listed.group(1).split(", ") if listed else []:
                index, _, label = item.partition(" ")
                if index.isdigit():
                    names[int(index)] = label.removeprefix("= ").strip()
            return f"{names.get(best, f'class {best}')} ({row[best]:.2f})"
        if spec.name == "score" and spec.name in outputs:
            return f"score {float(outputs[spec.name].reshape(-1)[0]):.2f}"
    return ""
