"""`attentive batch`: score a JSONL, CSV or Parquet file against running servers, exactly once.

    attentive batch --model NAME --input FILE --output FILE [--server HOST:PORT ...]
                    [--columns COLUMN=INPUT ...] [--attention] [--outputs NAME ...]
                    [--batch-size N] [--concurrency N] [--restart]

One input per row: text columns for text models, tensors as (nested) lists otherwise (JSON in a
CSV cell). Which column feeds which input comes from the model's card where that is unambiguous
(a column named like the input, or the only column left); --columns says it otherwise. The output
has the same format as the input unless its suffix says another, one row per scored input with
the input's ``id`` column (else the row number) and the predictions; --attention adds the
attention outputs. Rows the server rejects go to OUTPUT.errors.jsonl with the gRPC code and
message, and the job goes on.

Killed at any moment and run again with the same arguments, it continues where it stopped; the
output then holds every row exactly once, byte-identical to an uninterrupted run (the journal
OUTPUT.journal records what is committed; a different job refuses it: --restart starts over).
The job flags have ATTENTIVE_BATCH_* variables (attentive/batch/settings.py), used
when the flag is not given. Several --server addresses, or one DNS name with several addresses, are spread by gRPC's
round_robin policy. UNAVAILABLE / DEADLINE_EXCEEDED are retried with backoff; a job that still
fails stops with status 1 and resumes when run again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _mapping(text: str) -> tuple[str, str]:
    column, sep, name = text.partition("=")
    if not sep or not column or not name:
        raise argparse.ArgumentTypeError(f"expected COLUMN=INPUT, got {text!r}")
    return column, name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--model", help="(ATTENTIVE_BATCH_MODEL)")
    parser.add_argument("--input", type=Path, metavar="FILE", help="(ATTENTIVE_BATCH_INPUT)")
    parser.add_argument("--output", type=Path, metavar="FILE", help="(ATTENTIVE_BATCH_OUTPUT)")
    parser.add_argument(
        "--server",
        action="append",
        metavar="HOST:PORT",
        help="repeat for several servers; one DNS name may have several addresses "
        "(default localhost:ATTENTIVE_GRPC_PORT)",
    )
    parser.add_argument(
        "--columns", nargs="+", type=_mapping, metavar="COLUMN=INPUT",
        help="which column feeds which model input (text input or graph input)",
    )  # fmt: skip
    parser.add_argument(
        "--attention", action="store_true", default=None, help="also write attention outputs"
    )
    parser.add_argument("--outputs", nargs="+", metavar="NAME", help="exactly these outputs")
    parser.add_argument("--batch-size", type=int, help="rows per chunk (default 32)")
    parser.add_argument("--concurrency", type=int, help="requests in flight (default 4)")
    parser.add_argument("--id-column", help="input column with the row id (default id)")
    parser.add_argument("--errors", type=Path, metavar="FILE", help="OUTPUT.errors.jsonl")
    parser.add_argument("--journal", type=Path, metavar="FILE", help="OUTPUT.journal")
    parser.add_argument("--input-format", choices=["jsonl", "csv", "parquet"])
    parser.add_argument("--format", dest="output_format", choices=["jsonl", "csv", "parquet"])
    parser.add_argument("--restart", action="store_true", help="discard the journal, start over")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request (60)")
    parser.add_argument("--retries", type=int, default=8, help="per request, with backoff (8)")
    parser.add_argument("--token", help="auth token (ATTENTIVE_AUTH_TOKEN)")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", action="store_true", default=None, help="always show")
    progress.add_argument("--no-progress", dest="progress", action="store_false")


def _with_environment(args: argparse.Namespace) -> argparse.Namespace:
    """Flags not given take their ATTENTIVE_BATCH_* variable (attentive.batch.settings)."""
    from attentive.batch.settings import BatchSettings

    env = BatchSettings()
    merged = argparse.Namespace(**vars(args))
    for name in ("model", "input", "output", "attention", "batch_size", "concurrency", "id_column"):
        if getattr(args, name) is None:
            setattr(merged, name, getattr(env, name))
    merged.server = args.server or env.split(env.server) or None
    merged.outputs = args.outputs or env.split(env.outputs) or None
    merged.columns = args.columns or [_mapping(c) for c in env.split(env.columns)]
    return merged


def run(args: argparse.Namespace) -> int:
    from attentive.batch import journal, plan, sender
    from attentive.batch.job import Job, summary_line
    from attentive.batch.job import run as run_job
    from server.settings import ServerSettings

    try:
        args = _with_environment(args)
    except (ValueError, argparse.ArgumentTypeError) as error:
        print(f"attentive batch: error: ATTENTIVE_BATCH_*: {error}", file=sys.stderr)
        return 2
    missing = [f"--{n}" for n in ("model", "input", "output") if getattr(args, n) is None]
    if missing:
        print(
            f"attentive batch: error: {', '.join(missing)} required (or ATTENTIVE_BATCH_"
            f"{'/'.join(m[2:].upper() for m in missing)})",
            file=sys.stderr,
        )
        return 2
    if args.batch_size < 1 or args.concurrency < 1:
        print("attentive batch: --batch-size and --concurrency must be at least 1", file=sys.stderr)
        return 2
    if not args.input.is_file():
        print(f"attentive batch: error: no input file {args.input}", file=sys.stderr)
        return 2
    settings = ServerSettings()
    token = args.token or (settings.auth_token.get_secret_value() if settings.auth_token else None)
    job = Job(
        model=args.model,
        input=args.input,
        output=args.output,
        servers=args.server or [f"localhost:{settings.grpc_port}"],
        columns=dict(args.columns),
        attention=args.attention,
        outputs=args.outputs,
        batch_size=args.batch_size,
        concurrency=args.concurrency,
        id_column=args.id_column,
        errors=args.errors,
        journal=args.journal,
        input_format=args.input_format,
        output_format=args.output_format,
        restart=args.restart,
        timeout=args.timeout,
        retries=args.retries,
        token=token,
        progress=args.progress,
    )
    try:
        summary = run_job(job)
    except (plan.PlanError, journal.JournalMismatch, ValueError, OSError) as error:
        print(f"attentive batch: error: {error}", file=sys.stderr)
        return 2
    except sender.Fatal as error:
        print(
            f"attentive batch: stopped: {error}\n  what was written is committed; run the same "
            "command again to continue",
            file=sys.stderr,
        )
        return 1
    print(summary_line(job, summary))
    return 0
