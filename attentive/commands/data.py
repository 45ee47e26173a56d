"""`attentive data`: the datasets in ATTENTIVE_DATA (list, fetch, check, info).

    attentive data list                 what is present or missing, its guard and licence
    attentive data fetch [NAME ...]     download, verify, convert (default: every missing one)
    attentive data check [NAME ...]     verify what is there (SHA-256 + structure); exit 1 on errors
    attentive data info NAME            sources, licence, citation, how to place it by hand
    attentive data audit [NAME ...]     download every source URL, report what each serves
    attentive data mirror DIR [NAME ...]
                                        write the upstream files into DIR for machines without
                                        network (ATTENTIVE_DATA_MIRRORS=DIR or its URL there)

Never imports torch: it runs on a fresh machine before anything is built.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from attentive.settings import Settings

if TYPE_CHECKING:
    from training.datasets.registry import Dataset


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
    transfer = argparse.ArgumentParser(add_help=False)  # fetch's and mirror's download options
    transfer.add_argument(
        "--accept-licence",
        action="store_true",
        help="accept the non-commercial terms of the named datasets without a prompt",
    )
    transfer.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    transfer.add_argument("--retries", type=int, default=3, help="retries per URL")
    fetch = actions.add_parser(
        "fetch", parents=[common, transfer], help="download, verify and convert datasets"
    )
    fetch.add_argument("names", nargs="*", metavar="NAME", help="default: every missing one")
    fetch.add_argument("--force", action="store_true", help="replace a present dataset")
    fetch.add_argument(
        "--keep-downloads", action="store_true", help="keep <data>/.downloads/<name>/"
    )
    check = actions.add_parser(
        "check", parents=[common], help="verify datasets (SHA-256 + structure)"
    )
    check.add_argument("names", nargs="*", metavar="NAME", help="default: every present one")
    info = actions.add_parser(
        "info", parents=[common], help="sources, licence, citation, manual placement"
    )
    info.add_argument("name", metavar="NAME")
    audit = actions.add_parser(
        "audit",
        parents=[transfer],
        help="download every URL of every source (pins and copies) and report each one",
    )
    audit.add_argument("names", nargs="*", metavar="NAME", help="default: every dataset")
    audit.add_argument("--out", type=str, help="also write the report as JSON here")
    mirror = actions.add_parser(
        "mirror",
        parents=[transfer],
        help="write the upstream files into a folder other machines can fetch from",
    )
    mirror.add_argument("folder", metavar="DIR")
    mirror.add_argument("names", nargs="*", metavar="NAME", help="default: every dataset")


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


def _downloaded(requested: list[str]) -> list[Dataset] | None:
    """The named datasets (default: all) that are downloaded, not generated; None on a bad name."""
    from training.datasets import registry

    names = _names(requested)
    if names is None:
        return None
    return [d for d in map(registry.get, names or registry.names()) if d.kind == "download"]


def _mirror(args: argparse.Namespace) -> int:
    import tempfile

    from training.datasets import mirror, store

    chosen = _downloaded(args.names)
    if chosen is None:
        return 2
    folder = Path(args.folder).expanduser().resolve()
    try:
        mirror.bases()  # a bad ATTENTIVE_DATA_MIRRORS is named before anything is downloaded
    except ValueError as err:
        print(f"attentive data mirror: {err}", file=sys.stderr)
        return 2
    failed: list[str] = []
    options = {"timeout": args.timeout, "retries": args.retries}
    for ds in chosen:
        store.log(store.licence_notice(ds))
        if not store.licence_accepted(ds, True if args.accept_licence else None, None):
            failed.append(f"{ds.name}: licence not accepted (pass --accept-licence)")
            continue
        missing = mirror.write(ds, folder, log=store.log, **options)
        if missing:
            failed += [f"{ds.name}/{m}" for m in missing]
            continue
        with tempfile.TemporaryDirectory(prefix="attentive-mirror-check-") as scratch:
            try:  # the mirror alone must give a dataset that converts and passes its checks
                store.fetch(
                    mirror.only_from(ds, str(folder)),
                    Path(scratch),
                    accept_licence=True,
                    progress=False,
                    notice=False,
                )
            except (store.FetchError, OSError) as err:
                failed.append(f"{ds.name}: the mirrored files do not convert: {err}")
                continue
        store.log(f"{ds.name}: mirrored in {folder} and checked")
    if failed:
        for line in failed:
            print(f"attentive data mirror: {line}", file=sys.stderr)
        return 1
    print(
        f"mirror written to {folder}; on machines without network set\n"
        f"  ATTENTIVE_DATA_MIRRORS={folder}            (the folder, shared or copied)\n"
        f"  ATTENTIVE_DATA_MIRRORS=http://HOST:PORT    "
        f"(served, e.g. python3 -m http.server -d {folder})"
    )
    return 0


def _audit(args: argparse.Namespace) -> int:
    import json

    from training.datasets import audit, store

    downloaded = _downloaded(args.names)
    if downloaded is None:
        return 2
    for ds in downloaded:
        if not store.licence_accepted(ds, True if args.accept_licence else None, None):
            print(
                f"attentive data audit: {ds.name}: {ds.licence}; pass --accept-licence to "
                "download it",
                file=sys.stderr,
            )
            return 1
    options = {"timeout": args.timeout, "retries": args.retries, "progress": False}
    reports = audit.audit(downloaded, log=store.log, **options)
    for r in reports:
        where = "pin " if r.pinned else "copy"
        print(f"{r.verdict:9} {where} {r.dataset}/{r.source}  {r.sha256[:16] or r.detail}")
        print(f"{'':14} {r.url}")
    failed = audit.failures(reports)
    print(f"\n{audit.summary(reports)}; required sources no URL serves: {len(failed)}")
    for d, s in failed:
        print(f"  {d}/{s}")
    if args.out:
        Path(args.out).write_text(json.dumps(audit.as_json(reports), indent=2) + "\n")
        print(f"report: {args.out}")
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    data_dir = _data_dir(args)
    if args.action == "list":
        return _list(data_dir)
    if args.action == "fetch":
        return _fetch(args, data_dir)
    if args.action == "check":
        return _check(args, data_dir)
    if args.action == "mirror":
        return _mirror(args)
    if args.action == "audit":
        return _audit(args)
    return _info(args, data_dir)
