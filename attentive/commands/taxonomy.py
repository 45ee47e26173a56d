"""`attentive taxonomy`: query the survey's taxonomy over the built models.

    attentive taxonomy list [--sequences V ...] [--levels V ...] [--positions V ...]
                            [--representations V ...] [--architecture V ...] [--any] [--json]
    attentive taxonomy show MODEL [--json]
    attentive taxonomy coverage [--json]
    attentive taxonomy axes [--json]

Values listed for one axis must all be present (``--any``: at least one); axes combine with AND.
Cards come from the model repository (``--repository``, default ``ATTENTIVE_REPOSITORY``); the
data source is the one function :func:`load_entries`, so the server's taxonomy service
(``--server``) can replace it. Imports only the pure taxonomy package: never torch or grpc.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from taxonomy.axes import ALIASES, AXES, DEFINITIONS
from taxonomy.card import Facets
from taxonomy.query import (
    CardEntry,
    Query,
    UnknownModelError,
    coverage,
    filter_cards,
    find_card,
    load_cards,
)

PROG = "attentive taxonomy"


class SourceError(Exception):
    """The cards could not be had; ``code`` is the exit status to return."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def load_entries(args: argparse.Namespace) -> list[CardEntry]:
    """Where the cards come from: the repository on disk now, the server's service later."""
    if args.server:
        return _server_entries(args.server)
    if args.repository is not None:
        repository = args.repository
    else:
        from attentive.settings import Settings

        repository = Settings().repository
    try:
        return load_cards(repository)
    except FileNotFoundError as error:
        raise SourceError(str(error), code=1) from None


def _server_entries(address: str) -> list[CardEntry]:
    """The cards as a running server's taxonomy service reports them (imports grpc only here)."""
    import grpc

    from server.client import Client

    try:
        with Client.from_env(address, timeout=30) as client:  # token, TLS: ATTENTIVE_* env
            return client.card_entries()
    except grpc.RpcError as error:
        detail = f"{error.code().name}: {error.details()}"  # type: ignore[attr-defined]
        raise SourceError(f"--server {address}: {detail}", code=1) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = argparse.ArgumentParser(add_help=False)
    source.add_argument("--repository", type=Path, help="model repository (ATTENTIVE_REPOSITORY)")
    source.add_argument("--server", metavar="HOST:PORT", help="ask a running server instead")
    source.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub = parser.add_subparsers(dest="action", metavar="ACTION")

    listing = sub.add_parser("list", parents=[source], help="models whose tags match")
    for axis, enum in AXES.items():
        aliases = ", ".join(f"{a} = {v}" for a, v in ALIASES.get(axis, {}).items())
        listing.add_argument(
            f"--{axis}",
            nargs="+",
            action="extend",
            default=[],
            metavar="V",
            help=f"values: {', '.join(enum)}" + (f"; aliases: {aliases}" if aliases else ""),
        )
    listing.add_argument("--any", action="store_true", help="per axis, any listed value suffices")
    listing.set_defaults(handler=_list)

    show = sub.add_parser("show", parents=[source], help="one model's card and attention layers")
    show.add_argument("model")
    show.set_defaults(handler=_show)

    cover = sub.add_parser("coverage", parents=[source], help="axis value x models, gaps included")
    cover.set_defaults(handler=_coverage)

    axes = sub.add_parser("axes", help="the axes, their values, definitions and sources")
    axes.add_argument("--json", action="store_true", help="print JSON instead of text")
    axes.set_defaults(handler=_axes)
    parser.set_defaults(handler=None, usage=parser.format_help)


def run(args: argparse.Namespace) -> int:
    if args.handler is None:
        print(args.usage(), file=sys.stderr)
        return 2
    try:
        return int(args.handler(args))
    except SourceError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return error.code
    except UnknownModelError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2


# ---- actions ----


def _list(args: argparse.Namespace) -> int:
    spec = {axis: getattr(args, axis) for axis in AXES}
    query = Query(any_of=spec) if args.any else Query(all_of=spec)
    entries = load_entries(args)
    _warn_invalid(entries)
    found = filter_cards(entries, query)
    if args.json:
        _print_json({"query": query.to_dict(), "models": [e.summary() for e in found]})
        return 0
    rows = [[e.name, *_tag_cells(e)] for e in found]
    if rows:
        print(_table(["MODEL", *(a.upper() for a in AXES)], rows))
    print(f"{len(found)} of {len(entries)} models match: {query.describe()}")
    return 0


def _show(args: argparse.Namespace) -> int:
    entry = find_card(load_entries(args), args.model)
    if entry.error is not None:
        print(f"{PROG}: error: model {entry.name!r}: {entry.error}", file=sys.stderr)
        return 1
    card = entry.card
    if args.json:
        _print_json(card.model_dump(mode="json") if card else entry.summary())
        return 0
    if card is None:
        print(f"{entry.name}\n  taxonomy: unknown (no card.json in {entry.path})")
        return 0
    cite = card.citation
    print(f"{card.name}: {card.title}")
    print(f"  citation: {', '.join(cite.authors)} ({cite.year}), {cite.title}, {cite.venue}")
    print(f"  task: {card.task}; dataset: {card.dataset}")
    print("taxonomy:")
    print(
        textwrap.indent(
            _table(["AXIS", "VALUES"], list(zip(AXES, _tag_cells(entry), strict=True))), "  "
        )
    )
    if card.layers:
        print("attention layers:")
        head = ["PATH", "MECHANISM", "ONNX", *(a.upper() for a in AXES)]
        rows = [[la.path, la.mechanism, la.onnx, *_axis_cells(la.facets)] for la in card.layers]
        print(textwrap.indent(_table(head, rows), "  "))
    return 0


def _coverage(args: argparse.Namespace) -> int:
    entries = load_entries(args)
    _warn_invalid(entries)
    cover = coverage(entries)
    if args.json:
        _print_json(cover.to_dict())
        return 0
    rows = []
    for axis, row in cover.matrix.items():
        for i, (value, names) in enumerate(row.items()):
            rows.append([axis if i == 0 else "", value, str(len(names)), ", ".join(names) or "-"])
    print(_table(["AXIS", "VALUE", "N", "MODELS"], rows))
    print(f"{len(cover.models)} models; {len(cover.gaps())} values no model has")
    if cover.untagged:
        print(f"taxonomy unknown: {', '.join(cover.untagged)}")
    return 0


def _axes(args: argparse.Namespace) -> int:
    described: dict[str, dict[str, Any]] = {
        axis: {
            "values": [
                {
                    "value": v.value,
                    "definition": DEFINITIONS[v].text,
                    "source": DEFINITIONS[v].source,
                }
                for v in enum
            ],
            "aliases": ALIASES.get(axis, {}),
        }
        for axis, enum in AXES.items()
    }
    if args.json:
        _print_json(described)
        return 0
    for axis, info in described.items():
        aliases = ", ".join(f"{a} = {v}" for a, v in info["aliases"].items())
        print(f"{axis}" + (f" (aliases: {aliases})" if aliases else ""))
        for item in info["values"]:
            print(f"  {item['value']}")
            print(
                textwrap.fill(
                    item["definition"], 96, initial_indent=" " * 4, subsequent_indent=" " * 4
                )
            )
            print(f"    source: {item['source']}")
    return 0


# ---- output helpers ----


def _axis_cells(facets: Facets) -> list[str]:
    """One cell per axis, values in the survey's order; "-" for an empty axis."""
    dumped = facets.model_dump(mode="json")
    return [", ".join(dumped[axis]) or "-" for axis in AXES]


def _tag_cells(entry: CardEntry) -> list[str]:
    if entry.tags is None:
        return ["invalid card" if entry.error else "unknown"] * len(AXES)
    return _axis_cells(entry.tags)


def _warn_invalid(entries: Iterable[CardEntry]) -> None:
    for entry in entries:
        if entry.error is not None:
            print(f"{PROG}: warning: model {entry.name!r}: {entry.error}", file=sys.stderr)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart; the last column is not padded."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]
    return "\n".join(lines)
