"""`attentive bench quality`: train each model with a preset, export it, and measure the
exported graph on onnxruntime on the held-out test split; write results JSON + markdown.

Default runner: one build (one seed) whose card metrics come from the exported ONNX model.
Models whose papers report a mean over seeds (GAT) have their own runner.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import report


def _single_run(name: str, preset: str, out_dir: Path, data_dir: Path, seeds: int) -> dict:
    from export.build import build

    start = time.monotonic()
    (built,) = build([name], preset, out_dir / "repository", data_dir, out_dir / "runs")
    card = built.card
    return {
        "model": name,
        "preset": preset,
        "dataset": card.dataset,
        "metrics": [m.model_dump(mode="json") for m in card.metrics],
        "training": card.training.model_dump(mode="json") if card.training else None,
        "wall_time_s": round(time.monotonic() - start, 1),
    }


def _gat_runner(name: str, preset: str, out_dir: Path, data_dir: Path, seeds: int) -> dict:
    from benchmarks import gat_quality

    return gat_quality.run(preset=preset, seeds=seeds, data_dir=data_dir, out_dir=out_dir)


def _caption_runner(name: str, preset: str, out_dir: Path, data_dir: Path, seeds: int) -> dict:
    from benchmarks import caption_quality

    return caption_quality.run(name, preset, out_dir, data_dir)


def _babi_runner(name: str, preset: str, out_dir: Path, data_dir: Path, seeds: int) -> dict:
    from benchmarks import babi_quality

    return babi_quality.run(preset, out_dir, data_dir)


def _pair_runner(name: str, preset: str, out_dir: Path, data_dir: Path, seeds: int) -> dict:
    from benchmarks import pair_quality

    return pair_quality.run(name, preset, out_dir, data_dir)


def _document_runner(name: str, preset: str, out_dir: Path, data_dir: Path, seeds: int) -> dict:
    from benchmarks import doc_quality

    return doc_quality.run(name, preset, out_dir / name, data_dir)


RUNNERS: dict[str, Callable[[str, str, Path, Path, int], dict[str, Any]]] = {
    "gat": _gat_runner,
    "sat-soft": _caption_runner,
    "sat-hard": _caption_runner,
    "han": _document_runner,
    "lin": _document_runner,
    "disan": _document_runner,
    "memn2n": _babi_runner,
    "bcnn": _pair_runner,
    "abcnn-1": _pair_runner,
    "abcnn-2": _pair_runner,
    "abcnn-3": _pair_runner,
    "mpcnn-attention": _pair_runner,
    "dme": _pair_runner,
}


def _translation_report(results: dict[str, Any], out_dir: Path, data_dir: Path) -> str:
    from benchmarks import translation_quality

    return translation_quality.report(results, out_dir, data_dir)


def _pair_report(results: dict[str, Any], out_dir: Path, data_dir: Path) -> str:
    from benchmarks import pair_quality

    return pair_quality.report(results, out_dir, data_dir)


def _babi_report(results: dict[str, Any], out_dir: Path, data_dir: Path) -> str:
    from benchmarks import babi_quality

    found = results["models"].get(babi_quality.NAME)
    return babi_quality.markdown(found) if found and "babi" in found else ""


# Reports across models, run after every model is built: (results, out_dir, data_dir) ->
# markdown appended to the table (they may add their data to results).
REPORTS: list[Callable[[dict[str, Any], Path, Path], str]] = [
    _translation_report,
    _pair_report,
    _babi_report,
]


def run(
    models: list[str], preset: str, out_dir: Path, data_dir: Path, seeds: int = 10
) -> tuple[dict[str, Any], str]:
    results: dict[str, Any] = {"preset": preset, "environment": report.environment(), "models": {}}
    for name in models:
        runner = RUNNERS.get(name, _single_run)
        results["models"][name] = runner(name, preset, out_dir, data_dir, seeds)
    extra = "".join(report(results, out_dir, data_dir) for report in REPORTS)
    return results, markdown(results) + extra


def markdown(results: dict[str, Any]) -> str:
    rows = []
    for name, r in results["models"].items():
        for m in r.get("metrics", []):
            value = m["value"]
            if m.get("std") is not None:
                value = f"{m['value']:.2f} ± {m['std']:.2f} (n={m.get('n')})"
            rows.append(
                [
                    name,
                    r.get("dataset", ""),
                    m["name"],
                    m["split"],
                    value,
                    m.get("paper"),
                    m.get("note", ""),
                ]
            )
    head = f"# Quality ({results['preset']} preset, exported models on onnxruntime)\n\n"
    return head + report.table(
        ["model", "dataset", "metric", "split", "ours", "paper", "note"], rows
    )
