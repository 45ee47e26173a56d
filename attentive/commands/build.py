"""`attentive build`: train what is missing or stale and export it to the model repository."""

from __future__ import annotations

import argparse
import sys

from attentive.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="quick", choices=["tiny", "quick", "full"])
    parser.add_argument("--models", nargs="+", metavar="NAME", help="default: every model")
    parser.add_argument("--repository", type=str, help="default: $ATTENTIVE_REPOSITORY")
    parser.add_argument("--data", type=str, help="default: $ATTENTIVE_DATA")
    parser.add_argument("--runs", type=str, help="checkpoints; default: $ATTENTIVE_RUNS")
    parser.add_argument("--force", action="store_true", help="retrain and re-export")
    parser.add_argument(
        "--skip-missing-data",
        action="store_true",
        help="build the models whose datasets are present or fetched, name the others and what "
        "they lack, and succeed if any model is left (make run serves what it can)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        help="models built at once, one process each; default: $ATTENTIVE_BUILD_JOBS",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from export.build import build
    from training import registry

    settings = Settings()
    models = args.models or registry.names()
    for name in models:
        registry.get(name)  # fail early, listing the valid names
    from training.datasets.store import DatasetsMissing, ensure_datasets

    data = Path(args.data) if args.data else settings.data
    skipped: list[str] = []
    lacking: set[str] = set()
    try:
        ensure_datasets([d for name in models for d in registry.get(name).datasets], data)
    except DatasetsMissing as missing:  # says which datasets and how to place them
        print(f"attentive build: {missing}", file=sys.stderr)
        if not args.skip_missing_data:
            return 1
        lacking = set(missing.names)
        skipped = [m for m in models if lacking & set(registry.get(m).datasets)]
        models = [m for m in models if m not in skipped]
        print(
            f"attentive build: skipping {len(skipped)} models whose datasets are missing "
            f"({', '.join(skipped)}); building the other {len(models)}"
            + (f" ({', '.join(models)})" if models else ""),
            file=sys.stderr,
        )
        if not models:
            return 1
    try:
        built = build(
            models,
            args.preset,
            Path(args.repository) if args.repository else settings.repository,
            data,
            Path(args.runs) if args.runs else settings.runs,
            force=args.force,
            jobs=args.jobs or settings.build_jobs,
        )
    except DatasetsMissing as missing:  # says which datasets and how to place them
        print(f"attentive build: {missing}", file=sys.stderr)
        return 1
    for b in built:
        print(f"{b.name}: {b.entry}")
    if skipped:  # again at the end: the report above has scrolled away behind the training logs
        print(
            f"attentive build: built {len(built)} models; skipped {', '.join(skipped)} for "
            f"missing datasets ({', '.join(sorted(lacking))}): see the report above or "
            "`attentive data list`",
            file=sys.stderr,
        )
    return 0
