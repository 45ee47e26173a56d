"""The bAbI benchmark's tables: error per task beside the paper's PE LS RN joint column, the mean
and the failed tasks (error > 5 %), one table per training set."""

from __future__ import annotations

from benchmarks import babi_quality
from benchmarks.quality import REPORTS, RUNNERS


def _result() -> dict:
    errors_1k = {t: (12.0 if t in (2, 3) else 1.0) for t in range(1, 21)}
    errors_10k = {t: 0.5 for t in range(1, 21) if t != 3}
    return {
        "preset": "tiny",
        "babi": {
            "1k": {
                "tasks": 20,
                "errors": errors_1k,
                "mean_error": 2.1,
                "failed": [2, 3],
                "paper_mean": 12.4,
                "paper_failed": 11,
                "training": {"epochs": 3},
                "wall_time_s": 1.0,
            },
            "10k": {
                "tasks": 19,
                "errors": errors_10k,
                "mean_error": 0.5,
                "failed": [],
                "paper_mean": 6.6,
                "paper_failed": None,
                "training": None,
                "wall_time_s": 1.0,
            },
        },
    }


def test_tables_put_each_task_beside_the_paper() -> None:
    md = babi_quality.markdown(_result())
    first, second = md.split("## bAbI 10k")
    assert "## bAbI 1k (20 tasks" in first and "(19 tasks" in second
    assert "| 2 | 12 | yes | 11.4 |" in first  # failed, beside the paper's 11.4
    assert "| 19 | 1 |  | 88 |" in first
    assert "| mean | 2.1 |  | 12.4 |" in first
    assert "| failed (> 5 %) | 2 | 2, 3 | 11 |" in first
    assert "| 3 |" not in second and "| mean | 0.5 |  | 6.6 |" in second
    assert "| failed (> 5 %) | 0 | none |  |" in second


def test_hooked_into_bench_quality() -> None:
    assert RUNNERS["memn2n"].__name__ == "_babi_runner"
    results = {"models": {"memn2n": {**_result(), "model": "memn2n"}}}
    assert any("## bAbI 1k" in report(results, None, None) for report in REPORTS)  # type: ignore[arg-type]
