"""Sentence-pair quality (issue #5): every pair model on its served task *and* on its other
tasks, each measured from the exported ONNX graph on onnxruntime on the test split, beside the
paper's figure; plus a word-vector ablation (random / word2vec / minilm) for one model.

Each (model, task, vectors) run is a build of the model spec with the config overridden
(``data.task``, ``data.vectors``): the served task goes through the ordinary build into
``<out>/repository`` (what ``make run`` serves); the other runs are built into
``<out>/variants/<model>@<task>[@<vectors>]`` (same export, parity and ONNX evaluation).

Pluggable: :data:`TASKS` maps a model to its tasks (the first is the served one, the model's
default config); :data:`ABLATION` maps a model to the task its vector ablation runs on. A pair
model registered elsewhere (attention-MPCNN, DME) adds its own line to both; ``benchmarks/
quality.py`` routes every model of :data:`TASKS` here.

Standalone::

    .venv/bin/python -m benchmarks.pair_quality --preset quick --models abcnn-3 --out results/pairs.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import report as report_files

# model -> tasks (training/tasks/sentence_pair.py TASKS keys); the first is the served task.
TASKS: dict[str, list[str]] = {
    "bcnn": ["wikiqa", "msrp"],
    "abcnn-1": ["wikiqa", "msrp"],
    "abcnn-2": ["wikiqa", "msrp"],
    "abcnn-3": ["wikiqa", "msrp", "sick-entailment"],
    "mpcnn-attention": ["sick-relatedness", "msrvid"],
    "dme": ["sick-entailment", "msrp"],
}
# model -> (task, vector tables) of its word-vector ablation; the config's own vectors are
# measured by the TASKS runs already.
ABLATION: dict[str, tuple[str, list[str]]] = {
    "abcnn-3": ("wikiqa", ["random", "word2vec", "minilm"]),
    "mpcnn-attention": ("sick-relatedness", ["random", "word2vec", "minilm"]),
}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _variant(name: str, preset: str, task: str, vectors: str | None) -> Any:
    """The model's spec with ``data.task`` (and ``data.vectors``) overridden in ``preset``."""
    from training import registry
    from training.tasks.sentence_pair import TASKS as PAIR_TASKS

    spec = registry.get(name)
    data: dict[str, Any] = {"task": task}
    if vectors is not None:
        data["vectors"] = vectors
    label = "@".join([name, task, *([vectors] if vectors else [])])
    return dataclasses.replace(
        spec,
        name=label,
        presets={**spec.presets, preset: _merge(spec.presets[preset], {"data": data})},
        card=dataclasses.replace(spec.card, dataset=PAIR_TASKS[task].title),
    )


def _row(card: Any, task: str, vectors: str, seconds: float) -> dict[str, Any]:
    config = card.training.config if card.training else {}
    return {
        "task": task,
        "vectors": vectors,
        "metrics": [m.model_dump(mode="json") for m in card.metrics],
        "epochs": card.training.epochs if card.training else None,
        "train_s": card.training.wall_time_s if card.training else None,
        "wall_time_s": round(seconds, 1),
        "config": config,
    }


def _build_one(
    name: str, preset: str, out_dir: Path, data_dir: Path, task: str | None, vectors: str | None
) -> dict[str, Any]:
    from export.build import build, export, train

    start = time.monotonic()
    if task is None:  # the served task and vectors: the ordinary build
        (built,) = build([name], preset, out_dir / "repository", data_dir, out_dir / "runs")
        card = built.card
    else:
        spec = _variant(name, preset, task, vectors)
        run_dir = out_dir / "runs" / preset / spec.name
        ckpt = train(spec, preset, data_dir, run_dir)
        card = export(spec, ckpt, data_dir, run_dir, out_dir / "variants").card
    config = card.training.config if card.training else {}
    data = config.get("data", {})
    return _row(
        card, data.get("task", task), data.get("vectors", vectors), time.monotonic() - start
    )


def run(name: str, preset: str, out_dir: Path, data_dir: Path) -> dict[str, Any]:
    """Build ``name`` on each of its tasks (and its vector ablation) and measure each export."""
    tasks = TASKS[name]
    rows = [_build_one(name, preset, out_dir, data_dir, None, None)]
    rows += [_build_one(name, preset, out_dir, data_dir, t, None) for t in tasks[1:]]
    if name in ABLATION:
        task, tables = ABLATION[name]
        done = {(r["task"], r["vectors"]) for r in rows}
        rows += [
            _build_one(name, preset, out_dir, data_dir, task, v)
            for v in tables
            if (task, v) not in done
        ]
    served = rows[0]
    metrics = [
        {**m, "name": f"{r['task']} {m['name']}", "note": f"vectors {r['vectors']}; {m['note']}"}
        for r in rows
        for m in r["metrics"]
    ]
    return {
        "model": name,
        "preset": preset,
        "dataset": f"served: {served['task']}; also " + ", ".join(r["task"] for r in rows[1:]),
        "metrics": metrics,
        "runs": rows,
        "wall_time_s": round(sum(r["wall_time_s"] for r in rows), 1),
    }


def report(results: dict[str, Any], out_dir: Path, data_dir: Path) -> str:
    """The issue's table: model | task | vectors | ours | paper, from every pair model run."""
    rows = []
    for name, r in results["models"].items():
        for run_ in r.get("runs", []) if name in TASKS else []:
            ours = " / ".join(f"{m['name']} {m['value']:g}" for m in run_["metrics"])
            paper = [f"{m['name']} {m['paper']:g}" for m in run_["metrics"] if m.get("paper")]
            rows.append(
                [name, run_["task"], run_["vectors"], ours, " / ".join(paper) or "—",
                 run_.get("epochs"), run_.get("train_s")]
            )  # fmt: skip
    if not rows:
        return ""
    head = "\n## Sentence pairs (test split, exported graphs on onnxruntime)\n\n"
    return head + report_files.table(
        ["model", "task", "vectors", "ours", "paper", "epochs", "train s"], rows
    )


def main(argv: list[str] | None = None) -> int:
    from attentive.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="quick", choices=["tiny", "quick", "full"])
    parser.add_argument("--models", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--out", default="results/pairs.json")
    parser.add_argument("--work", default=None, help="default: beside --out")
    parser.add_argument("--no-ablation", action="store_true")
    args = parser.parse_args(argv)
    if args.no_ablation:
        ABLATION.clear()
    out = Path(args.out)
    work = Path(args.work) if args.work else out.with_suffix("")
    results: dict[str, Any] = {"preset": args.preset, "models": {}}
    for name in args.models:
        results["models"][name] = run(name, args.preset, work, Settings().data)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    table = report(results, work, Settings().data)
    out.with_suffix(".md").write_text(table)
    print(table, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
