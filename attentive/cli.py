"""The `attentive` command line. Each subcommand lives in attentive/commands/<name>.py and is
imported only when it runs, so `attentive taxonomy ...` never imports torch or onnxruntime."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module under attentive.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "build": ("build", "train what is missing or stale and export it to the model repository"),
    "serve": ("serve", "serve the model repository over gRPC (KServe v2 + taxonomy service)"),
    "infer": ("infer", "call a running server with text or KServe v2 JSON tensors"),
    "taxonomy": ("taxonomy", "query the survey's taxonomy over the built models"),
    "bench": ("bench", "quality and performance benchmarks (results JSON + markdown)"),
    "data": ("data", "datasets: list, fetch (verified, converted), check, info"),
    "show": ("show", "draw what a served model attended to (PNG, or text in the terminal)"),
    "batch": ("batch", "score a JSONL / CSV / Parquet file on running servers, resumable"),
    "health": ("health", "ask a server's gRPC health service (exit 0 when SERVING)"),
}


def _module(name: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"attentive.commands.{COMMANDS[name][0]}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="attentive", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        if argv and argv[0] not in ("-h", "--help"):
            parser.print_usage(sys.stderr)
            print(
                f"attentive: unknown command {argv[0]!r}; valid: {', '.join(COMMANDS)}",
                file=sys.stderr,
            )
            return 2
        parser.print_help()
        return 0
    module = _module(argv[0])
    sub_parser = argparse.ArgumentParser(prog=f"attentive {argv[0]}")
    module.add_arguments(sub_parser)
    args = sub_parser.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except Exception as err:
        from attentive.settings import bad_environment

        message = bad_environment(err)
        if message is None:
            raise
        print(f"attentive {argv[0]}: bad environment: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
