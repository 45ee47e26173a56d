"""bAbI quality of the end-to-end memory network (``memn2n``): one joint model per training set.

The model is built with the preset on the 1k set (20 tasks) and, with ``dataset="10k"`` as the
only override, on the 10k set (19 tasks: task 3's training file is missing), each trained,
exported to ONNX opset 23 (three ``MemoryHop`` function calls), parity-checked and evaluated:
the *exported* graph runs on onnxruntime (CPU) over every test question of each task (the card's
metrics, computed by export/build.py from the file it writes). The tables give the error per task,
the mean and the failed tasks (error > 5 %) beside the paper's "PE LS RN" joint column (Table 1;
the per-task numbers are for 1k; for 10k only the paper's mean, 6.6 %).

``attentive bench quality --models memn2n`` calls :func:`run`; standalone::

    ATTENTIVE_TORCH_THREADS=1 .venv/bin/python -m benchmarks.babi_quality --preset full --sizes 1k
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import report
from training.tasks.babi_qa import FAILED_ABOVE, PAPER_1K, PAPER_FAILED, PAPER_MEAN

NAME = "memn2n"
SIZES = ("1k", "10k")


def build_size(size: str, preset: str, out_dir: Path, data_dir: Path) -> dict[str, Any]:
    """Train, export and evaluate ``memn2n`` on one training set under ``out_dir``."""
    import torch

    from export import build
    from training import registry
    from training.datasets import ensure_datasets
    from training.models.memn2n import MemN2NConfig

    spec = registry.get(NAME)
    if size != "1k":
        spec = dataclasses.replace(
            spec,
            config=functools.partial(MemN2NConfig, dataset=size),
            card=dataclasses.replace(
                spec.card,
                dataset=f"bAbI QA v1.2 English, {size} training questions per task, the 19 "
                "tasks with a training file (not task 3), jointly",
            ),
        )
    ensure_datasets(list(spec.datasets), data_dir)
    torch.set_num_threads(2)  # as `attentive build`; ATTENTIVE_TORCH_THREADS overrides it
    start = time.monotonic()
    run_dir = out_dir / "runs" / f"{preset}-{size}" / NAME
    ckpt = build.train(spec, preset, data_dir, run_dir)
    built = build.export(spec, ckpt, data_dir, run_dir, out_dir / f"repository-{size}")
    card = built.card
    errors = {
        int(m.name.removeprefix("error_task_")): m.value
        for m in card.metrics
        if m.name.startswith("error_task_")
    }
    mean = next(m.value for m in card.metrics if m.name == "mean_error")
    return {
        "size": size,
        "tasks": len(errors),
        "errors": errors,
        "mean_error": mean,
        "failed": [t for t, e in errors.items() if e > FAILED_ABOVE],
        "paper_mean": PAPER_MEAN.get(size),
        "paper_failed": PAPER_FAILED.get(size),
        "metrics": [m.model_dump(mode="json") for m in card.metrics],
        "training": card.training.model_dump(mode="json") if card.training else None,
        "export": card.export.model_dump(mode="json") if card.export else None,
        "wall_time_s": round(time.monotonic() - start, 1),
    }


def run(
    preset: str, out_dir: Path, data_dir: Path, sizes: tuple[str, ...] = SIZES
) -> dict[str, Any]:
    """Both training sets (or ``sizes``); the 1k card's metrics stand for the model."""
    by_size = {size: build_size(size, preset, out_dir, data_dir) for size in sizes}
    first = by_size[sizes[0]]
    return {
        "model": NAME,
        "preset": preset,
        "dataset": "bAbI QA v1.2 English, " + " and ".join(sizes),
        "metrics": [m for m in first["metrics"] if m["name"] in ("mean_error", "failed_tasks")],
        "training": first["training"],
        "babi": by_size,
        "wall_time_s": round(sum(r["wall_time_s"] for r in by_size.values()), 1),
    }


def markdown(result: dict[str, Any]) -> str:
    """One table per training set: error per task beside the paper's PE LS RN joint column."""
    out = []
    for size, r in result["babi"].items():
        paper_tasks = size == "1k"
        rows: list[list[Any]] = []
        for task, error in sorted(r["errors"].items(), key=lambda kv: int(kv[0])):
            t = int(task)
            paper = PAPER_1K[t - 1] if paper_tasks else None
            rows.append([t, error, "yes" if error > FAILED_ABOVE else "", paper])
        rows.append(["mean", r["mean_error"], "", r["paper_mean"]])
        failed = ", ".join(map(str, r["failed"])) or "none"
        rows.append([f"failed (> {FAILED_ABOVE:g} %)", len(r["failed"]), failed, r["paper_failed"]])
        training = r["training"] or {}
        head = (
            f"\n## bAbI {size} ({r['tasks']} tasks, one joint model), {result['preset']} preset\n\n"
            f"Test error (%) of the exported graph on onnxruntime; trained "
            f"{training.get('epochs', '?')} epochs in {training.get('wall_time_s', '?')} s "
            f"(build + evaluation {r['wall_time_s']} s). Paper: MemN2N PE LS RN, joint "
            f"(Sukhbaatar et al. 2015, Table 1).\n\n"
        )
        out.append(head + report.table(["task", "ours", "failed", "paper"], rows))
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    from attentive.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="full", choices=["tiny", "quick", "full"])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=SIZES)
    parser.add_argument("--out", default="results/babi-full", help="results folder")
    args = parser.parse_args(argv)
    out = Path(args.out)
    result = run(args.preset, out, Settings().data, tuple(args.sizes))
    md = markdown(result)
    report.write(out, "babi", result, md)
    print(md, file=sys.stderr)
    print(json.dumps({s: r["mean_error"] for s, r in result["babi"].items()}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
