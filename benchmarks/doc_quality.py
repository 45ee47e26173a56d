"""Document-classification quality of HAN (``han``), Lin et al.'s structured self-attention
(``lin``) and the DiSAN-style network (``disan``), each on both document datasets.

For every model and dataset (the served one and the other, by overriding the config's ``data``
with :data:`training.tasks.documents.DATA_SETTINGS`), the model is trained with the preset,
exported to ONNX (opset 23, its mechanisms as named local functions, parity-checked), and the
*exported* graph is run through onnxruntime (CPU) on the test split:

* AG News: accuracy on the stated seeded stratified split's 760 test documents;
* the deciding sentence: accuracy and the sentence-attention correctness on 1,000 generated test
  documents (goal >= 0.9): the share of documents whose most-attended sentence is the deciding
  one (HAN: sentence-level weights; Lin: hop-mean token mass per sentence; DiSAN: feature-mean
  source2token mass per sentence).

None of the papers reports AG News (HAN: Yelp, IMDB, Yahoo, Amazon; Lin: Yelp, Age, SNLI;
DiSAN: SNLI, SST, ...), so there is no paper column. ``full`` caps training at 5 min per model
and dataset.

``attentive bench quality --models han lin disan`` calls :func:`run`; standalone::

    .venv/bin/python -m benchmarks.doc_quality --preset full --models han --out results/docs.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

MODELS = ("han", "lin", "disan")
DATASETS = ("deciding_sentence", "ag_news")
GOALS = {"sentence_attention": 0.9}


def run_one(name: str, dataset: str, preset: str, out_dir: Path, data_dir: Path) -> dict[str, Any]:
    """Train + export ``name`` on ``dataset`` under ``out_dir/dataset``; metrics from ONNX."""
    from export.build import export, preset_config, train
    from training import registry
    from training.config import with_overrides
    from training.datasets import ensure_datasets
    from training.tasks.documents import DATA_SETTINGS

    start = time.monotonic()
    spec = registry.get(name)
    config = with_overrides(preset_config(spec, preset), {"data": DATA_SETTINGS[dataset]})
    variant = dataclasses.replace(
        spec, config=lambda: config, presets={preset: {}}, datasets=(dataset,)
    )
    ensure_datasets([dataset], data_dir)
    work = out_dir / dataset
    run_dir = work / "runs" / preset / name
    ckpt = train(variant, preset, data_dir, run_dir)
    built = export(variant, ckpt, data_dir, run_dir, work / "repository")
    metrics = []
    for m in built.card.metrics:
        row = m.model_dump(mode="json")
        if m.name in GOALS:
            met = "met" if m.value >= GOALS[m.name] else "NOT met"
            row["note"] = f"goal >= {GOALS[m.name]} ({met}); {m.note}"
        metrics.append(row)
    return {
        "dataset": dataset,
        "metrics": metrics,
        "training": built.card.training.model_dump(mode="json") if built.card.training else None,
        "wall_time_s": round(time.monotonic() - start, 1),
    }


def run(name: str, preset: str, out_dir: Path, data_dir: Path) -> dict[str, Any]:
    """``name`` on every document dataset; rows for bench quality's table."""
    start = time.monotonic()
    runs = {ds: run_one(name, ds, preset, out_dir, data_dir) for ds in DATASETS}
    metrics = [{**m, "name": f"{ds} {m['name']}"} for ds, r in runs.items() for m in r["metrics"]]
    return {
        "model": name,
        "preset": preset,
        "dataset": " + ".join(DATASETS),
        "metrics": metrics,
        "runs": runs,
        "goals": GOALS,
        "wall_time_s": round(time.monotonic() - start, 1),
    }


def main(argv: list[str] | None = None) -> int:
    from attentive.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="full", choices=["tiny", "quick", "full"])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--out", default="results/docs.json")
    parser.add_argument("--work", default=None, help="default: beside --out")
    args = parser.parse_args(argv)
    out = Path(args.out)
    work = Path(args.work) if args.work else out.with_suffix("")
    results = {n: run(n, args.preset, work / n, Settings().data) for n in args.models}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    for name, r in results.items():
        shown = ", ".join(f"{m['name']}={m['value']}" for m in r["metrics"])
        print(f"{name}: {shown} ({r['wall_time_s']} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
