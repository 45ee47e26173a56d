"""`attentive bench quality`: quality of the exported models on held-out splits.
`attentive bench perf`: speed of the repository's models against their alternatives (PyTorch
eager, onnxruntime in-process, no dynamic batching), with the issue-8 goals marked."""

from __future__ import annotations

import argparse
from pathlib import Path

from attentive.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", required=True)
    quality = sub.add_parser("quality", help="train, export and evaluate on the test splits")
    quality.add_argument("--models", nargs="+", metavar="NAME", help="default: every model")
    quality.add_argument("--preset", default="full", choices=["tiny", "quick", "full"])
    quality.add_argument("--seeds", type=int, default=10, help="for models measured over seeds")
    quality.add_argument("--out", default=None, help="default: results/quality-<preset>")
    quality.add_argument("--data", default=None, help="default: $ATTENTIVE_DATA")
    perf = sub.add_parser("perf", help="onnxruntime vs eager, served vs in-process, batching")
    _perf_arguments(perf)


def _perf_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks import perf

    parser.description = perf.__doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    perf.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.bench == "perf":
        from benchmarks import perf

        return perf.main(args)
    from benchmarks import quality, report
    from training import registry

    settings = Settings()
    models = args.models or registry.names()
    for name in models:
        registry.get(name)
    out = Path(args.out) if args.out else Path("results") / f"quality-{args.preset}"
    data = Path(args.data) if args.data else settings.data
    results, md = quality.run(models, args.preset, out, data, seeds=args.seeds)
    json_path, md_path = report.write(out, "quality", results, md)
    print(md)
    print(f"wrote {json_path} and {md_path}")
    return 0
