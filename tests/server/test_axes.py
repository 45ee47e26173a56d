"""Shape legends parsed into axes (server/axes.py): every form the zoo's cards use."""

from __future__ import annotations

import pytest

from server.axes import Axis, parse_axis, parse_legend


@pytest.mark.parametrize(
    ("legend", "axes"),
    [
        ("(B, L)", [Axis("batch"), Axis("named", "L")]),
        (
            "(B, L + 3, R + 3): sentence-1 convolution columns x sentence-2 convolution columns",
            [Axis("batch"), Axis("named", "L", 3), Axis("named", "R", 3)],
        ),
        (
            "(B, T, S): the decoder's attention over the source, one row per output",
            [Axis("batch"), Axis("named", "T"), Axis("named", "S")],
        ),
        ("(B,)", [Axis("batch")]),
        (
            "(B, L, 2D): features 0..D-1 forward block, D..2D-1 backward block",
            [Axis("batch"), Axis("named", "L"), Axis("fixed")],
        ),
        ("(2, E)", [Axis("fixed", size=2), Axis("named", "E")]),
        ("(B, 1)", [Axis("batch"), Axis("fixed", size=1)]),
        (
            "(B, K, M): hop k, memory slot i",
            [Axis("batch"), Axis("named", "K"), Axis("named", "M")],
        ),
        ("(B, L - 1)", [Axis("batch"), Axis("named", "L", -1)]),
        ("(B,L+1)", [Axis("batch"), Axis("named", "L", 1)]),
        ("(B, n): embedding sets", [Axis("batch"), Axis("named", "n")]),
    ],
)
def test_the_zoo_legends_parse(legend: str, axes: list[Axis]) -> None:
    assert parse_legend(legend) == axes
    assert parse_legend(legend, len(axes)) == axes


@pytest.mark.parametrize(
    "legend",
    [
        None,
        "",
        "B, L",  # no parentheses
        "(B, L",
        "()",
        "(B, , L)",
        "(B, L * 2)",  # a form the batcher cannot size
        "(B, L + x)",
        "(B, max(L, R))",
        "aligned with document_ids",
    ],
)
def test_malformed_legends_are_none(legend: str | None) -> None:
    assert parse_legend(legend) is None


def test_a_legend_of_the_wrong_rank_is_none() -> None:
    assert parse_legend("(B, L)", 3) is None
    assert parse_legend("(B, L)", 2) is not None


def test_axes_print_as_written() -> None:
    assert [str(parse_axis(a)) for a in ["B", "L", "L + 3", "L - 1", "7", "2D"]] == [
        "B",
        "L",
        "L + 3",
        "L - 1",
        "7",
        "fixed",
    ]
    assert parse_axis("3 + L") is None
