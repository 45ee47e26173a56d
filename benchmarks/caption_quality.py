"""Captioning quality of Show, Attend and Tell (``sat-soft``, ``sat-hard``) on the digit grids.

Each model is built with the preset (trained, exported to ONNX opset 23 with its attention as a
local function, parity-checked), then the *exported* graph in the repository is run through
onnxruntime (CPU) on the whole test split — grids made only of handwriting held out of training —
and scored: exact caption match, token accuracy, BLEU-4 (sacrebleu on word tokens,
``tokenize="none"``) and attention localisation (see training/tasks/captioning.py). The paper's
Flickr8k BLEU-4 (soft 19.5, hard 21.3) is given as a reference column only: a different data set.

``attentive bench quality --models sat-soft sat-hard`` calls :func:`run`; standalone::

    .venv/bin/python -m benchmarks.caption_quality --preset full --out results/sat.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from training.tasks.captioning import PAPER_BLEU4

MODELS = ("sat-soft", "sat-hard")
# Goals of tracker issue #4 on the test split (full preset).
GOALS = {
    "sat-soft": {"localisation": 0.9, "token_accuracy": 0.95},
    "sat-hard": {"localisation": 0.8, "token_accuracy": 0.95},
}
NOTES: dict[str, Any] = {
    "exact_match": "share of captions equal to the reference",
    "token_accuracy": "reference words and [EOS] matched at their position",
    "bleu4": "corpus BLEU-4, sacrebleu on word tokens; paper: Flickr8k, not comparable",
    "localisation": {
        "sat-soft": "mean attention mass on the cell each generated word names",
        "sat-hard": "share of generated words whose chosen region is the cell they name",
    },
}


def run(name: str, preset: str, out_dir: Path, data_dir: Path) -> dict[str, Any]:
    """Build ``name`` with ``preset`` under ``out_dir`` and score its exported graph on test."""
    from export.build import build
    from training import checkpoint, registry
    from training.tasks.captioning import CaptionTask, caption_metrics, onnx_captions

    start = time.monotonic()
    (built,) = build([name], preset, out_dir / "repository", data_dir, out_dir / "runs")
    spec = registry.get(name)
    run_dir = out_dir / "runs" / preset / name
    ckpt = checkpoint.load(run_dir / "model.ckpt", spec)
    task = spec.task(ckpt.config, data_dir, run_dir)
    assert isinstance(task, CaptionTask)
    grids = task.grids("test")
    scored = time.monotonic()
    ids, attention = onnx_captions(built.entry / "1" / "model.onnx", grids.images)
    measured = caption_metrics(ids, attention, grids)
    mechanism = name.removeprefix("sat-")
    goals = GOALS[name]
    metrics = []
    for metric in ("exact_match", "token_accuracy", "bleu4", "localisation"):
        value = round(measured[metric], 2 if metric == "bleu4" else 4)
        note = NOTES[metric] if metric != "localisation" else NOTES[metric][name]
        if metric in goals:
            met = "met" if value >= goals[metric] else "NOT met"
            note = f"goal >= {goals[metric]} ({met}); {note}"
        metrics.append(
            {
                "name": metric,
                "value": value,
                "split": "test",
                "paper": PAPER_BLEU4[mechanism] if metric == "bleu4" else None,
                "note": note,
            }
        )
    card = built.card
    return {
        "model": name,
        "preset": preset,
        "dataset": card.dataset,
        "test_images": len(grids),
        "metrics": metrics,
        "goals": goals,
        "goals_met": all(measured[k] >= v for k, v in goals.items()),
        "training": card.training.model_dump(mode="json") if card.training else None,
        "onnx_eval_s": round(time.monotonic() - scored, 1),
        "wall_time_s": round(time.monotonic() - start, 1),
    }


def main(argv: list[str] | None = None) -> int:
    from attentive.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="full", choices=["tiny", "quick", "full"])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--out", default="results/sat.json")
    parser.add_argument("--work", default=None, help="default: beside --out")
    args = parser.parse_args(argv)
    out = Path(args.out)
    work = Path(args.work) if args.work else out.with_suffix("")
    results = {name: run(name, args.preset, work, Settings().data) for name in args.models}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    for name, r in results.items():
        shown = ", ".join(f"{m['name']}={m['value']}" for m in r["metrics"])
        print(f"{name}: {shown}; goals met: {r['goals_met']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
