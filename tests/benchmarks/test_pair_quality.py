"""The sentence-pair bench: every pair model is routed to it, a second task is a config
override of the same spec, and the report lays out the issue's table."""

from __future__ import annotations

from pathlib import Path

from benchmarks import pair_quality, quality
from training import registry
from training.config import with_overrides


def test_every_pair_model_is_routed_and_measured_on_two_tasks() -> None:
    for name, tasks in pair_quality.TASKS.items():
        assert name in registry.names()
        assert quality.RUNNERS[name] is quality._pair_runner
        assert len(tasks) >= 2
        assert registry.get(name).config().data.task == tasks[0]  # the served task first


def test_variant_overrides_task_and_vectors_in_the_preset() -> None:
    spec = pair_quality._variant("abcnn-3", "tiny", "msrp", "minilm")
    assert spec.name == "abcnn-3@msrp@minilm"
    config = with_overrides(spec.config(), spec.presets["tiny"])
    assert config.data.task == "msrp" and config.data.vectors == "minilm"
    assert config.data.train_limit == 400  # the rest of the tiny preset is kept
    assert registry.get("abcnn-3").presets["tiny"]["data"].get("task") is None  # not mutated


def test_report_has_a_row_per_run_with_the_papers_figure() -> None:
    metric = {"name": "map", "value": 0.61, "paper": 0.6921, "split": "test", "note": ""}
    run = {"task": "wikiqa", "vectors": "word2vec", "metrics": [metric], "epochs": 3.0}
    results = {"models": {"abcnn-3": {"runs": [run, {**run, "vectors": "random"}]}}}
    table = pair_quality.report(results, Path("."), Path("."))
    lines = [line for line in table.splitlines() if line.startswith("| abcnn-3")]
    assert len(lines) == 2
    assert "map 0.61" in lines[0] and "map 0.6921" in lines[0] and "random" in lines[1]
