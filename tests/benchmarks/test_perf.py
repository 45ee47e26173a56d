"""`attentive bench perf` on two tiny models (GAT: no batching, whole graph; Lin: batches), very
briefly: every section in the JSON, each ratio the ratio of the reported figures, the goal
verdicts following the numbers, and a missing checkpoint reported as eager n/a, not a crash.

The session's tiny zoo (tests/conftest.py; ATTENTIVE_TINY_ZOO for one built beforehand)."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

from benchmarks import perf, perf_report
from benchmarks.perf_timing import measure

MODELS = ("gat", "lin")
REPEATS = 2


@pytest.fixture(scope="module")
def results(tiny_zoo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The bench over a repository of gat and lin, with lin's checkpoint only (gat's missing).

    With ATTENTIVE_TINY_ZOO=<repository> the checkpoints are those in runs/ beside it, if any."""
    from attentive.cli import main

    base = tmp_path_factory.mktemp("perf")
    for name in MODELS:
        shutil.copytree(tiny_zoo / name, base / "repository" / name)
    places = [tiny_zoo.parent, Path(os.environ.get("ATTENTIVE_TINY_ZOO", tiny_zoo)).parent]
    lin = next((p / "runs" / "tiny" / "lin" for p in places if (p / "runs" / "tiny" / "lin" / "model.ckpt").is_file()), None)  # fmt: skip
    if lin is not None:
        shutil.copytree(lin, base / "runs" / "tiny" / "lin")
    out = base / "out"
    code = main([
        "bench", "perf", "--repository", str(base / "repository"), "--runs", str(base / "runs"),
        "--provider", "cpu", "--duration", "0.2", "--repeats", str(REPEATS), "--out", str(out),
        "--sections", "eager", "server", "batching", "cold", "transport",
    ])  # fmt: skip
    assert code == 0
    found: dict[str, Any] = json.loads((out / "perf.json").read_text())
    found["markdown"] = (out / "perf.md").read_text()
    found["lin_checkpoint"] = lin is not None
    return found


def _ratios(a: list[dict[str, float]], b: list[dict[str, float]], metric: str) -> list[float]:
    return [x[metric] / y[metric] for x, y in zip(a, b, strict=True)]


def _check_ratio(block: dict[str, Any], expected: list[float]) -> None:
    assert block["runs"] == pytest.approx(expected, rel=1e-12)
    assert block["median"] == pytest.approx(statistics.median(expected), rel=1e-12)
    assert block["min"] == pytest.approx(min(expected)) and block["max"] == pytest.approx(max(expected))  # fmt: skip


def test_every_section_is_in_the_results(results: dict[str, Any]) -> None:
    assert results["models"] == list(MODELS)
    for section in ("eager", "server", "batching", "cold", "servers", "goals", "environment"):
        assert section in results, section
    assert "## Goals" in results["markdown"] and "n/a" in results["markdown"]
    for side in ("ort", "eager") if results["lin_checkpoint"] else ("ort",):
        for run in results["eager"]["lin"]["rows"][0][side]["runs"]:
            assert run["rows_per_s"] > 0 and 0 < run["p50_us"] <= run["p99_us"] and run["calls"] >= 1  # fmt: skip


def test_missing_checkpoint_gives_eager_na(results: dict[str, Any]) -> None:
    gat, lin = results["eager"]["gat"], results["eager"]["lin"]
    assert gat["eager"] == "n/a" and "no checkpoint" in gat["reason"]
    assert [r["batch"] for r in gat["rows"]] == [1]  # max_batch_size 0: the whole example graph
    assert "eager" not in gat["rows"][0] and "ratio" not in gat["rows"][0]
    assert len(gat["rows"][0]["ort"]["runs"]) == REPEATS  # onnxruntime is still measured
    assert [r["batch"] for r in lin["rows"]] == [1, 8, 32]  # max_batch_size 64
    assert lin["eager"] == ("ok" if results["lin_checkpoint"] else "n/a")
    assert "gat: eager n/a: no checkpoint" in results["markdown"]


def test_ratios_are_the_ratios_of_the_reported_figures(results: dict[str, Any]) -> None:
    for row in results["eager"]["lin"]["rows"] if results["lin_checkpoint"] else []:
        _check_ratio(row["ratio"], _ratios(row["ort"]["runs"], row["eager"]["runs"], "rows_per_s"))
    for name, model in results["server"].items():
        assert "error" not in model, model.get("error")
        cases = [(r["batch"], r["concurrency"]) for r in model["rows"]]
        assert cases == ([(1, 1), (1, 8), (1, 32)] if name == "gat" else [(8, 1), (8, 8), (8, 32), (1, 1)])  # fmt: skip
        for row in model["rows"]:
            served, local = row["server"]["runs"], row["in_process"]["runs"]
            _check_ratio(row["ratio"], _ratios(served, local, "rows_per_s"))
            if row["concurrency"] == 1:
                _check_ratio(row["overhead_us"], [s["p50_us"] - i["p50_us"] for s, i in zip(served, local, strict=True)])  # fmt: skip
    assert list(results["batching"]) == ["lin"]  # gat does not batch
    row = results["batching"]["lin"]
    _check_ratio(row["ratio"], _ratios(row["on"]["runs"], row["off"]["runs"], "rows_per_s"))
    _check_ratio(row["p99_ratio"], _ratios(row["on"]["runs"], row["off"]["runs"], "p99_us"))


def test_the_floor_is_an_empty_call_and_joins_the_overhead_goal(results: dict[str, Any]) -> None:
    floor = results["server_floor_us"]
    assert len(floor["runs"]) == REPEATS and 0 < floor["min"] <= floor["median"] <= floor["max"]
    served = [r["server"]["summary"]["p50_us"]["median"] for m in results["server"].values() for r in m["rows"]]  # fmt: skip
    assert floor["median"] < min(served)  # an empty call costs less than any inference
    overhead = next(
        g for g in results["goals"] if g["goal"].startswith("per-request server overhead")
    )
    assert f"takes {floor['median']:.0f} us" in overhead["detail"]


def test_served_runs_say_where_the_cpu_went(results: dict[str, Any]) -> None:
    """Every served run carries the server's and the client's CPU per call, measured apart: the
    server (onnxruntime and gRPC) works for every inference, so its share is never zero."""
    for model in results["server"].values():
        for row in model["rows"]:
            for run in row["server"]["runs"]:
                assert run["calls_made"] >= run["calls"] > 0
                assert run["server_cpu_us_per_call"] > 0 and run["cpu_us_per_call"] > 0
            assert all(r["cpu_us_per_call"] > 0 for r in row["in_process"]["runs"])
    assert "CPU us/request server" in results["markdown"]


def test_the_transport_floor_is_measured_apart_from_attentive(results: dict[str, Any]) -> None:
    """A bare gRPC server answers empty calls and uses CPU for them; handing a no-op to a thread
    and back costs more CPU than calling it."""
    transport = results["transport"]
    assert len(transport["bare_grpc"]) == REPEATS and len(transport["executor_hop"]) == REPEATS
    for run in transport["bare_grpc"]:
        assert run["calls"] > 0 and run["p50_us"] > 0 and run["server_cpu_us_per_call"] > 0
    for hop in transport["executor_hop"]:
        assert hop["handed_cpu_us_per_call"] > hop["direct_cpu_us_per_call"] > 0
        assert hop["hop_us"] == hop["handed_cpu_us_per_call"] - hop["direct_cpu_us_per_call"]
    assert "## Transport floor" in results["markdown"]


def test_cold_start_and_memory(results: dict[str, Any]) -> None:
    cold = results["cold"]
    assert len(cold["starts"]) == REPEATS and 0 < cold["start_s"]["min"] <= cold["start_s"]["max"]
    assert len(results["servers"]) == 1 + 2 + REPEATS  # server section, batching on/off, cold
    assert all(s["exit_code"] == 0 and s["peak_rss_mib"] >= s["rss_at_serving_mib"] > 10 for s in results["servers"])  # fmt: skip
    assert results["peak_rss_mib"] == max(s["peak_rss_mib"] for s in results["servers"])
    assert {s["env"].get("ATTENTIVE_DYNAMIC_BATCHING") for s in results["servers"]} == {None, "true", "false"}  # fmt: skip


def test_goal_verdicts_follow_the_measured_numbers(results: dict[str, Any]) -> None:
    goals = {g["goal"]: g for g in results["goals"]}
    lin8 = next(r for r in results["eager"]["lin"]["rows"] if r["batch"] == 8)
    ort = goals["onnxruntime vs PyTorch eager throughput, batch 8"]
    if results["lin_checkpoint"]:
        assert ort["measured"] == lin8["ratio"]["median"]  # gat has no checkpoint: lin alone
        assert ort["met"] == (ort["measured"] >= 1.5)
    else:
        assert ort["measured"] is None and ort["met"] is None
    served = goals["server vs in-process throughput, batch 8, concurrency 8"]
    at8 = [next(r for r in m["rows"] if r["concurrency"] == 8)["ratio"]["median"] for m in results["server"].values()]  # fmt: skip
    assert served["measured"] == statistics.median(at8) and served["met"] == (served["measured"] >= 0.8)  # fmt: skip
    overhead = goals["per-request server overhead, small model"]
    smallest = min(results["server"], key=lambda n: results["server"][n]["onnx_bytes"])
    assert smallest in overhead["detail"] and overhead["met"] == (overhead["measured"] < 300)
    cold = goals["cold start: spawn to SERVING, whole repository"]
    assert cold["measured"] == results["cold"]["start_s"]["median"] and cold["met"] == (cold["measured"] < 5)  # fmt: skip
    batching = goals["dynamic batching vs none, throughput"]
    assert batching["measured"] == results["batching"]["lin"]["ratio"]["median"]
    assert goals["Attention-op export vs decomposed (opset 20), causal and non-causal"]["met"] is None  # fmt: skip
    for goal in results["goals"]:
        assert (goal["met"] is False) == ("missed by" in goal["detail"])


def _side(rows_per_s: float, p99_us: float = 1000.0) -> dict[str, Any]:
    run = {"rows_per_s": rows_per_s, "p50_us": p99_us / 2, "p99_us": p99_us, "calls": 10}
    return {"runs": [run], "summary": {}}


def _ratio(median: float) -> dict[str, float]:
    return {"min": median, "median": median, "max": median}


def test_goal_verdicts_on_made_up_numbers() -> None:
    made_up: dict[str, Any] = {
        "eager": {  # medians 1.2, 1.6, 2.0 -> 1.6 (met); the batch-1 rows do not count
            "a": {"rows": [{"batch": 1, "ratio": _ratio(9.0)}, {"batch": 8, "ratio": _ratio(1.2)}]},
            "b": {
                "rows": [{"batch": 8, "ratio": _ratio(1.6)}, {"batch": 32, "ratio": _ratio(0.1)}]
            },
            "c": {"rows": [{"batch": 1, "ratio": _ratio(2.0)}]},  # does not batch: its batch 1
            "d": {"rows": [{"batch": 8}]},  # eager n/a: no ratio
        },
        "server": {  # concurrency-8 medians 0.5 and 0.7 -> 0.6 (missed by 25%)
            "big": {
                "onnx_bytes": 9_000_000,
                "rows": [
                    {"batch": 8, "concurrency": 8, "ratio": _ratio(0.5)},
                    {
                        "batch": 1,
                        "concurrency": 1,
                        "ratio": _ratio(0.2),
                        "overhead_us": _ratio(100.0),
                    },
                ],
            },
            "small": {
                "onnx_bytes": 1_000,
                "rows": [
                    {"batch": 8, "concurrency": 8, "ratio": _ratio(0.7)},
                    {
                        "batch": 8,
                        "concurrency": 1,
                        "ratio": _ratio(0.9),
                        "overhead_us": _ratio(50.0),
                    },
                    {
                        "batch": 1,
                        "concurrency": 1,
                        "ratio": _ratio(0.2),
                        "overhead_us": _ratio(450.0),
                    },
                ],
            },
            "broken": {"onnx_bytes": 10, "rows": [], "error": "refused"},
        },  # fmt: skip
        "batching": {
            "a": {"ratio": _ratio(4.0), "p99_ratio": _ratio(2.0)},  # 2.0 is "no worse than 2x"
            "b": {"ratio": _ratio(2.0), "p99_ratio": _ratio(1.0)},
            "c": {"ratio": _ratio(3.5), "p99_ratio": _ratio(3.0)},
        },
        "attention": {
            "goal": {"measured": 0.9, "met": False, "detail": "causal 0.9x; missed by 10%"}
        },  # fmt: skip
        "cold": {"start_s": _ratio(4.9), "starts": [{}, {}, {}]},
        "servers": [{}, {}],
        "peak_rss_mib": 1000.0,  # 1048.6 MB: over 1 GB
    }
    goals = {g["goal"].split(",")[0]: g for g in perf_report.goals(made_up)}
    assert (goals["onnxruntime vs PyTorch eager throughput"]["measured"], goals["onnxruntime vs PyTorch eager throughput"]["met"]) == (1.6, True)  # fmt: skip
    served = goals["server vs in-process throughput"]
    assert served["measured"] == pytest.approx(0.6) and served["met"] is False
    assert "missed by 25%" in served["detail"]
    overhead = goals["per-request server overhead"]  # the smallest model that answered, batch 1
    assert overhead["measured"] == 450.0 and overhead["met"] is False and "small" in overhead["detail"]  # fmt: skip
    assert "missed by 50%" in overhead["detail"]
    more = [g for g in perf_report.goals(made_up) if g["goal"].startswith("dynamic batching")]
    assert (more[0]["measured"], more[0]["met"]) == (3.5, True)
    assert (more[1]["measured"], more[1]["met"]) == (2.0, True)
    assert goals["Attention-op export vs decomposed (opset 20)"]["met"] is False
    assert goals["cold start: spawn to SERVING"]["met"] is True
    rss = goals["server peak RSS (VmHWM)"]
    assert rss["measured"] == pytest.approx(1048.576) and rss["met"] is False
    nothing = perf_report.goals({})
    assert all(g["met"] is None and g["measured"] is None for g in nothing)


def test_the_attention_hook_joins_the_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmarks/attention_op.py's run(args) gets this run's settings; its markdown goes in the
    report and its slowest case (decomposed / Attention) decides the goal."""
    seen: list[Any] = []
    hook = types.ModuleType("benchmarks.attention_op")

    def run(args: Any) -> dict[str, Any]:
        seen.append(vars(args))
        return {"summary": {"ratio_min": 0.9, "ratio_median": 1.2, "goal_attention_not_slower": False}}  # fmt: skip

    setattr(hook, "run", run)  # noqa: B010 - a module attribute
    setattr(hook, "markdown", lambda results: "# Attention\n| causal | 0.9x |\n")  # noqa: B010
    monkeypatch.setitem(sys.modules, "benchmarks.attention_op", hook)
    options = perf.Options(Path("r"), Path("r"), Path("d"), duration=0.5, repeats=4)
    found = perf.attention_section(options, "cpu")
    assert seen == [{"repeats": 4, "duration": 0.5, "provider": "cpu"}]
    assert found is not None and found["markdown"] == "### Attention\n| causal | 0.9x |\n"
    goal = next(g for g in perf_report.goals({"attention": found}) if g["goal"].startswith("Attention"))  # fmt: skip
    assert goal["measured"] == 0.9 and goal["met"] is False and "missed by 10%" in goal["detail"]


def test_measure_counts_rows_and_latency() -> None:
    run = measure(lambda: time.sleep(0.01), rows=4, concurrency=2, seconds=0.3)
    # each call takes >= 10 ms: two callers give at most 2 * 100 calls/s, 4 rows each
    assert 100 < run["rows_per_s"] <= 800 * 1.001
    assert run["p99_us"] >= run["p50_us"] >= 10_000 and run["calls"] >= 2
