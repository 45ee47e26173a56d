"""The card examples every text model ships: one row as token ids, the same row as text.

A user (or the tritonclient test) can send either; the server tokenizes the text form with the
model's own tokenizer, so both answer the same.
"""

from __future__ import annotations

from taxonomy.card import Example, ExampleTensor


def ids_example(name: str, description: str, ids: dict[str, list[int]]) -> Example:
    """One row per INT64 input: ``{input name: token ids}``."""
    return Example(
        name=name,
        description=description,
        inputs=[
            ExampleTensor(name=input_name, datatype="INT64", shape=[1, len(row)], data=row)
            for input_name, row in ids.items()
        ],
    )


def text_example(description: str, texts: dict[str, str]) -> Example:
    """One row per BYTES input: ``{text input name: text}``."""
    return Example(
        name="text",
        description=description,
        inputs=[
            ExampleTensor(name=input_name, datatype="BYTES", shape=[1, 1], data=[text])
            for input_name, text in texts.items()
        ],
    )


def ids_and_text(
    ids_description: str,
    ids: dict[str, list[int]],
    text_description: str,
    texts: dict[str, str],
) -> list[Example]:
    """The ``ids`` example and the ``text`` example of the same row."""
    return [ids_example("ids", ids_description, ids), text_example(text_description, texts)]
