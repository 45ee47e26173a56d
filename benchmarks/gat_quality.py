"""GAT quality: test accuracy on Cora and Citeseer over several seeds, beside the paper's.

Every seed is trained with the preset, exported to ONNX (opset 23, attention outlined) and the
exported graph is evaluated in onnxruntime on the 1,000 test nodes: the number is what is served.
``attentive bench quality`` calls :func:`run`; standalone::

    .venv/bin/python -m benchmarks.gat_quality --preset full --seeds 10 --out results/gat.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnx

from training.config import with_overrides
from training.models import gat
from training.trainer import fit, seed_everything


def _log(message: str) -> None:
    print(f"[bench gat] {message}", file=sys.stderr, flush=True)


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "mean": round(statistics.fmean(values), 2),
        "std": round(statistics.stdev(values), 2) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def run_seed(config: gat.GATConfig, task: gat.NodeClassification, workdir: Path) -> dict[str, Any]:
    """Train one seed, export it, evaluate the ONNX graph; returns the per-seed record."""
    from export import onnx as onnx_export
    from export import parity

    seed = config.train.seed
    seed_everything(seed)
    model = gat.build(config)
    result = fit(
        model, task, config.train, label=f"gat {config.dataset} seed {seed}", progress=False
    )
    start = time.monotonic()
    spec = gat.export(model, config, task)
    exported = onnx_export.to_onnx(spec)
    check = parity.check(exported.model, spec)
    path = workdir / f"gat-{config.dataset}-{seed}.onnx"
    onnx.save_model(exported.model, str(path))
    (metric,) = gat.evaluate(path, config, task)
    path.unlink()
    best = result.best
    return {
        "seed": seed,
        "accuracy": metric.value,
        "epochs": result.epochs,
        "best_epoch": int(best.get("epoch", 0)),
        "val_acc": round(100 * best.get("val_acc", float("nan")), 2),
        "val_loss": round(best.get("val_loss", float("nan")), 4),
        "train_s": round(result.wall_time_s, 1),
        "export_s": round(time.monotonic() - start, 1),
        "parity_max_abs_diff": check.max_abs_diff,
    }


def run(
    preset: str = "full",
    seeds: int = 10,
    data_dir: Path | None = None,
    datasets: Sequence[str] = ("cora", "citeseer"),
    out_dir: Path | None = None,
) -> dict[str, Any]:
    """Seeds 0..seeds-1 per dataset. Returns a JSON-ready dict: ``metrics`` (one row per dataset
    in :mod:`benchmarks.quality`'s form: value = mean, std, n, paper) and, per dataset, the test
    accuracy (%) as mean ± sample std, min/max, the per-seed records and the paper's figure.
    With ``out_dir`` the report is also written to ``<out_dir>/gat_quality.json``."""
    if preset not in gat.PRESETS:
        raise KeyError(f"unknown preset {preset!r}; valid: {', '.join(gat.PRESETS)}")
    report: dict[str, Any] = {
        "model": "gat",
        "preset": preset,
        "seeds": seeds,
        "metric": "test accuracy (%), exported ONNX graph in onnxruntime (CPU)",
        "std": "sample standard deviation over seeds (ddof=1)",
        "dataset": ", ".join(d.capitalize() for d in datasets) + " (Planetoid split)",
        "metrics": [],
        "datasets": {},
    }
    with tempfile.TemporaryDirectory(prefix="gat-bench-") as tmp:
        for dataset in datasets:
            config = with_overrides(gat.GATConfig(), gat.PRESETS[preset])
            config = with_overrides(config, {"dataset": dataset})
            task = gat.NodeClassification(config, data_dir)
            start = time.monotonic()
            records = []
            for seed in range(seeds):
                seeded = with_overrides(config, {"train": {"seed": seed}})
                record = run_seed(seeded, task, Path(tmp))
                _log(
                    f"{dataset} seed {seed}: {record['accuracy']:.1f}% test after "
                    f"{record['epochs']} epochs ({record['train_s']}s training)"
                )
                records.append(record)
            accuracy = _summary([r["accuracy"] for r in records])
            paper, paper_std = gat.PAPER[dataset]
            report["datasets"][dataset] = {
                "accuracy": accuracy,
                "paper": {"mean": paper, "std": paper_std, "runs": 100},
                "epochs": _summary([float(r["epochs"]) for r in records]),
                "wall_time_s": round(time.monotonic() - start, 1),
                "per_seed": records,
            }
            report["metrics"].append(
                {
                    "name": "accuracy",
                    "split": "test",
                    "value": accuracy["mean"],
                    "std": accuracy["std"],
                    "n": seeds,
                    "paper": paper,
                    "dataset": dataset,
                    "note": f"{dataset.capitalize()}, %; paper {paper} ± {paper_std} (100 runs)",
                }
            )
            _log(
                f"{dataset}: {accuracy['mean']:.2f} ± {accuracy['std']:.2f} "
                f"(paper {paper} ± {paper_std})"
            )
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "gat_quality.json").write_text(
            json.dumps(report, indent=2, ensure_ascii=False) + "\n"
        )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--preset", default="full", choices=sorted(gat.PRESETS))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--data", type=Path, default=None, help="data dir (default: settings)")
    parser.add_argument("--datasets", nargs="+", default=["cora", "citeseer"])
    parser.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    args = parser.parse_args(argv)
    report = run(args.preset, args.seeds, args.data, tuple(args.datasets))
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
