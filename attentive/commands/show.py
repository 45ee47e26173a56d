"""`attentive show`: ask a running server, and draw what the model attended to.

    attentive show transformer "A man is riding a bike." --out alignment.png
    attentive show sat-soft grid.npy --out caption.png        (or --example: the card's image)
    attentive show gat 0                                      (node 0 of the card's example graph)
    attentive show abcnn-3 "first sentence" --second "second sentence"

Without --out, a compact text rendering is printed. The picture is chosen by the model's card
(its attention outputs and their shape legends), never by the model's name:

{families}

Token strings come from the model's tokenizer.json in the model repository (--repository, default
ATTENTIVE_REPOSITORY): the server sends tensors, not files. Without it, ids or positions label the
picture and a note says so. ``--server HOST:PORT`` (default localhost:ATTENTIVE_GRPC_PORT). Never
imports torch or onnxruntime.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from attentive.commands.infer import add_tls_arguments, client_settings


def _size(value: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not WIDTHxHEIGHT, e.g. 1200x800") from None
    if not (16 <= width <= 8000 and 16 <= height <= 8000):
        raise argparse.ArgumentTypeError("width and height lie in 16..8000 pixels")
    return width, height


def _families() -> str:
    from attentive.pictures.registry import describe

    return "\n".join(
        f"  {name:<15} attention output(s) {keys}\n  {'':<15} INPUT: {how}"
        for name, keys, how in describe()
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (__doc__ or "").replace("{families}", _families())
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("model")
    parser.add_argument("input", nargs="?", help="text, image file or node id (see above)")
    parser.add_argument("--second", metavar="TEXT", help="the second text of a pair")
    parser.add_argument(
        "--example", nargs="?", const="", metavar="NAME", help="a card example as the input"
    )
    parser.add_argument("--inputs", type=Path, metavar="FILE.npz", help="graph inputs by name")
    parser.add_argument("--out", type=Path, metavar="FILE.png", help="write a PNG picture")
    parser.add_argument("--size", type=_size, metavar="WxH", help="PNG size in pixels")
    parser.add_argument("--top", type=int, default=3, help="items listed per row in text (3)")
    parser.add_argument("--server", metavar="HOST:PORT", help="default localhost:<grpc port>")
    parser.add_argument("--repository", type=Path, help="model repository, for token strings")
    parser.add_argument("--token", help="auth token (ATTENTIVE_AUTH_TOKEN)")
    add_tls_arguments(parser)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")


def run(args: argparse.Namespace) -> int:
    import grpc

    from attentive.pictures import picture
    from attentive.pictures.registry import Query
    from server.client import Client
    from server.settings import ServerSettings

    if args.input is None and args.example is None:
        print("attentive show: give INPUT or --example (see --help)", file=sys.stderr)
        return 2
    address = args.server or f"localhost:{ServerSettings().grpc_port}"
    access = client_settings(args)
    query = Query(
        model=args.model,
        input=args.input,
        second=args.second,
        example=args.example,
        inputs_file=args.inputs,
        repository=args.repository,
        top=args.top,
    )
    try:
        with Client(
            address, token=access.token(), timeout=args.timeout, tls=access.tls_config()
        ) as client:
            view = picture(client, query)
    except grpc.RpcError as error:
        code = error.code().name  # type: ignore[attr-defined]
        print(f"attentive show: {code}: {error.details()}", file=sys.stderr)  # type: ignore[attr-defined]
        return 1
    except (ValueError, OSError) as error:
        print(f"attentive show: error: {error}", file=sys.stderr)
        return 2
    for note in getattr(view, "notes", []):
        print(f"attentive show: note: {note}", file=sys.stderr)
    if args.out is None:
        print(view.text())
        return 0
    from attentive.pictures.draw import save_png

    width, height = save_png(view.figure(), args.out, args.size)
    print(f"wrote {args.out} ({width} x {height} px)")
    return 0
