"""benchmarks/batch_perf.py end to end on the hand-built test repository (small numbers)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import batch_perf
from tests.server import fake_repository


def test_batch_perf_writes_a_case_per_setting(tmp_path: Path) -> None:
    repository = tmp_path / "repository"
    fake_repository.build_zoo(repository)
    out = tmp_path / "results"
    code = batch_perf.main([
        "--repository", str(repository), "--model", fake_repository.TRANSLATOR, "--rows", "300",
        "--replicas", "2", "--batch-sizes", "8", "--attention", "both",
        "--work", str(tmp_path / "work"), "--out", str(out),
    ])  # fmt: skip
    assert code == 0
    results = json.loads((out / "batch_perf.json").read_text())
    cases = results["cases"]
    assert [(c["batch_size"], c["attention"]) for c in cases] == [(8, False), (8, True)]
    assert all(c["rows"] == 300 and c["errors"] == 0 and c["rows_per_s"] > 0 for c in cases)
    assert cases[1]["output_mb"] > cases[0]["output_mb"]  # attention makes the output bigger
    assert "rows/s" in (out / "batch_perf.md").read_text()
