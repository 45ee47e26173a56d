"""`attentive data`: the datasets in ATTENTIVE_DATA (list, fetch, check, info).

    attentive data list                 what is present or missing, its guard and licence
    attentive data fetch [NAME ...]     download, verify, convert (default: every missing one)
    attentive data check [NAME ...]     verify what is there (SHA-256 + structure); exit 1 on errors
    attentive data info NAME            sources, licence, citation, how to place it by hand

Never imports torch: it runs on a fresh machine before anything is built.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from attentive.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0] if __doc__ else None
    data_help = "data directory; default: $ATTENTIVE_DATA"
    parser.add_argument("--data", type=str, help=data_help)
    common = argparse.ArgumentParser(add_help=False)  # --data also after the action
    common.add_argument("--data", type=str, default=argparse.SUPPRESS, help=data_help)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser(
        "list", parents=[common], help="present / missing datasets with guard and licence"
    )
    fetch = actions.add_parser(
        "fetch", parents=[common], help="download, verify and convert datasets"
    )
    fetch.add_argument("names", nargs="*", metavar="NAME", help="default: every missing one")
    fetch.add_argument("--force", action="store_true", help="replace a present dataset")
    fetch.add_argument(
        "--accept-licence",
        action="store_true",
        help="accept the non-commercial terms of the named datasets without a prompt",
    )
    fetch.add_argument(
        "--keep-downloads", action="store_true", help="keep <data>/.downloads/<name>/"
    )
    fetch.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    fetch.add_argument("--retries", type=int, default=3, help="retries per URL")
    check = actions.add_parser(
        "check", parents=[common], help="verify datasets (SHA-256 + structure)"
    )
    check.add_argument("names", nargs="*", metavar="NAME", help="default: every present one")
    info = actions.add_parser(
        "info", parents=[common], help="sources, licence, citation, manual placement"
    )
    info.add_argument("name", metavar="NAME")


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(args.data) if args.data else Settings().data


def _names(requested: list[str]) -> list[str] | None:
    from training.datasets import registry

    for name in requested:
        if name not in registry.DATASETS:
            print(
                f"attentive data: unknown dataset {name!r}; valid: {', '.join(registry.names())}",
                file=sys.stderr,
            )
            return None
    return list(dict.fromkeys(requested))


def _list(data_dir: Path) -> int:
    from training.datasets import registry, store

    rows = [("dataset", "status", "guard", "licence")]
    for ds in registry.DATASETS.values():
        licence = ds.licence + (" [non-commercial]" if ds.non_commercial else "")
        rows.append((ds.name, store.status(ds, data_dir), ds.guard, licence))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    print(f"data directory: {data_dir}")
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)), row[3])
    missing = [r[0] for r in rows[1:] if r[1] in ("missing", "incomplete")]
    if missing:
        print(f"\nto fetch: attentive data fetch {' '.join(missing)}")
    return 0


def _fetch(args: argparse.Namespace, data_dir: Path) -> int:
    from training.datasets import registry, store

    names = _names(args.names)
    if names is None:
        return 2
    if not names:
        names = [
            ds.name
            for ds in registry.DATASETS.values()
            if store.status(ds, data_dir) in ("missing", "incomplete")
        ]
        if not names:
            print(f"every dataset is present in {data_dir}")
            return 0
    failed = []
    for name in names:
        try:
            store.fetch(
                registry.get(name),
                data_dir,
                force=args.force,
                accept_licence=True if args.accept_licence else None,
                keep_downloads=args.keep_downloads,
                timeout=args.timeout,
                retries=args.retries,
                allow_download=not store.offline(),
            )
        except (store.FetchError, OSError) as err:
            print(f"attentive data fetch: {err}", file=sys.stderr)
            failed.append(registry.get(name))
    if failed:
        for ds in failed:
            print(f"{ds.name} without network:\n{store.placement(ds, data_dir)}", file=sys.stderr)
        return 1
    return 0


def _check(args: argparse.Namespace, data_dir: Path) -> int:
    from training.datasets import registry, store

    names = _names(args.names)
    if names is None:
        return 2
    if not names:
        names = [ds.name for ds in registry.DATASETS.values() if store.status(ds, data_dir) != "missing"]  # fmt: skip
    errors = 0
    for name in names:
        ds = registry.get(name)
        findings = store.verify(ds, data_dir / ds.name)
        bad = [f for f in findings if f.level == "error"]
        gaps = [f for f in findings if f.level == "gap"]
        errors += len(bad)
        verdict = "FAILED" if bad else "ok"
        print(f"{name}: {verdict} ({ds.guard})")
        for f in bad:
            print(f"  error  {f.path or name}: {f.message}")
        for f in gaps:
            print(f"  gap    {f.path or name}: {f.message}")
    return 1 if errors else 0


def _info(args: argparse.Namespace, data_dir: Path) -> int:
    from training.datasets import registry, store

    names = _names([args.name])
    if names is None:
        return 2
    ds = registry.get(args.name)
    print(store.licence_notice(ds))
    print(f"  home:    {ds.homepage}")
    print(f"  status:  {store.status(ds, data_dir)} in {data_dir / ds.name}")
    print(f"  guard:   {ds.guard}")
    if ds.notes:
        print(f"  notes:   {ds.notes}")
    for gap in ds.gaps:
        print(f"  gap:     {gap}")
    if ds.sources:
        print("  sources (first URL pinned to a commit; later ones are mirrors):")
        for s in ds.sources:
            pin = f"sha256 {s.sha256}" if s.sha256 else "checked after conversion"
            flag = " (optional)" if s.optional else ""
            print(f"    {s.name}{flag}: {pin}")
            for url in s.urls:
                print(f"      {url}")
        print("  layout:")
        for o in ds.outputs:
            flag = " (optional)" if o.optional else ""
            print(f"    {ds.name}/{o.path}{flag}: {o.guard}")
        print("  offline:")
        print(store.placement(ds, data_dir, limit=3))
    return 0


def run(args: argparse.Namespace) -> int:
    data_dir = _data_dir(args)
    if args.action == "list":
        return _list(data_dir)
    if args.action == "fetch":
        return _fetch(args, data_dir)
    if args.action == "check":
        return _check(args, data_dir)
    return _info(args, data_dir)
