"""The soak benchmark, briefly: a server subprocess over the hand-built repository, a few clients
for a few seconds; every request answered identically, the figures and RSS samples in the JSON."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import soak
from tests.server import fake_repository


def test_soak_reports_requests_latency_and_memory(tmp_path: Path) -> None:
    repository = tmp_path / "repository"
    fake_repository.build_zoo(repository)
    fake_repository.plain_model(repository / fake_repository.PLAIN)
    out = tmp_path / "soak.json"
    argv = ["--repository", str(repository), "--clients", "4", "--duration", "3"]
    code = soak.main([*argv, "--warmup", "1", "--sample", "0.25", "--out", str(out)])
    result = json.loads(out.read_text())
    assert code == 0, result["first_errors"]
    assert result["failed"] == 0 and result["wrong_answers"] == 0
    assert result["ok"] == result["requests"] > 0
    assert set(result["per_model"]) == {fake_repository.TRANSLATOR, fake_repository.GRAPH}
    latency = result["latency"]
    assert 0 < latency["p50_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    assert len(result["rss_samples"]) >= 4
    memory = result["memory"]
    assert memory["end_mib"] > 10 and memory["after_warmup_mib"] > 10
    assert result["server_exit_code"] == 0


def test_memory_report_measures_growth_after_the_warmup() -> None:
    mib = 1024 * 1024
    samples = [(float(t), (100 + (20 if t < 10 else 0.5 * t)) * mib) for t in range(0, 61, 2)]
    report = soak.memory_report(samples, warmup=10.0)
    assert report["start_mib"] == 120
    assert report["after_warmup_mib"] == 105  # the first sample at or after 10 s
    assert abs(report["growth_after_warmup_mib"] - 25) < 1e-9  # 130 - 105
    assert abs(report["slope_after_warmup_mib_per_min"] - 30) < 1e-6  # 0.5 MiB/s
