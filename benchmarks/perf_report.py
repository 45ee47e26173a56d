"""`attentive bench perf`'s verdicts and tables: the issue's goals computed from the measured
figures (met / missed / not measured, and by how much), and the markdown report."""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks import report
from benchmarks.perf_timing import spread


def _goal(name: str, target: float, sign: str, measured: float | None, unit: str, basis: str) -> dict[str, Any]:  # fmt: skip
    """One goal, ``measured`` against ``target`` by ``sign`` (">=", "<" or "<="): met True or
    False, None when not measured; a missed goal says by how much."""
    goal: dict[str, Any] = {"goal": name, "target": f"{sign} {target:g}{unit}", "measured": measured, "unit": unit}  # fmt: skip
    if measured is None:
        return {**goal, "met": None, "detail": f"not measured ({basis})"}
    met = {">=": measured >= target, "<": measured < target, "<=": measured <= target}[sign]
    detail = basis
    if not met:
        short = (target - measured) / target if sign == ">=" else (measured - target) / target
        detail += f"; missed by {100 * short:.0f}%"
    return {**goal, "met": met, "detail": detail}


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _row(rows: list[dict[str, Any]], batch: int, concurrency: int | None = None) -> dict[str, Any] | None:  # fmt: skip
    """The row at the largest measured batch <= ``batch`` (a capped model's stand-in)."""
    found = [
        r for r in rows
        if r["batch"] <= batch and (concurrency is None or r.get("concurrency") == concurrency)
    ]  # fmt: skip
    return max(found, key=lambda r: r["batch"], default=None)


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    eager = results.get("eager") or {}
    ort = [r["ratio"]["median"] for m in eager.values() if (r := _row(m["rows"], 8)) and "ratio" in r]  # fmt: skip
    found.append(_goal("onnxruntime vs PyTorch eager throughput, batch 8", 1.5, ">=", _median(ort), "x", f"median across {len(ort)} models with a checkpoint"))  # fmt: skip

    server = {n: m for n, m in (results.get("server") or {}).items() if "error" not in m}
    served = [r["ratio"]["median"] for m in server.values() if (r := _row(m["rows"], 8, 8))]
    found.append(_goal("server vs in-process throughput, batch 8, concurrency 8", 0.8, ">=", _median(served), "x", f"median across {len(served)} models"))  # fmt: skip
    overhead, basis = None, "no model served"
    if server:
        smallest = min(server, key=lambda n: server[n]["onnx_bytes"])
        row = _row(server[smallest]["rows"], 1, 1)
        overhead = row["overhead_us"]["median"] if row else None
        basis = f"{smallest}, the smallest model ({server[smallest]['onnx_bytes'] / 1e6:.2f} MB), batch 1, concurrency 1"  # fmt: skip
        floor = results.get("server_floor_us")
        if floor:
            basis += f"; an empty call's round trip (ServerLive, the floor) takes {floor['median']:.0f} us of it"  # fmt: skip
    found.append(_goal("per-request server overhead, small model", 300, "<", overhead, " us", basis))  # fmt: skip

    batching = [m for m in (results.get("batching") or {}).values() if "error" not in m]
    more = [m["ratio"]["median"] for m in batching]
    p99 = [m["p99_ratio"]["median"] for m in batching]
    basis = f"median across {len(batching)} models, single-row requests, concurrency 32"
    found.append(_goal("dynamic batching vs none, throughput", 3, ">=", _median(more), "x", basis))
    found.append(_goal("dynamic batching vs none, p99 latency", 2, "<=", _median(p99), "x", basis))  # fmt: skip

    attention = (results.get("attention") or {}).get("goal")
    if attention:
        name = "Attention-op export vs decomposed (opset 20), causal and non-causal"
        found.append(_goal(name, 1, ">=", attention["measured"], "x", attention["detail"]))
    else:
        found.append(_goal("Attention-op export vs decomposed (opset 20), causal and non-causal", 1, ">=", None, "x", "benchmarks/attention_op.py"))  # fmt: skip

    cold = results.get("cold")
    start = cold["start_s"]["median"] if cold else None
    found.append(_goal("cold start: spawn to SERVING, whole repository", 5, "<", start, " s", f"median of {len(cold['starts']) if cold else 0} starts"))  # fmt: skip
    peak = results.get("peak_rss_mib")
    found.append(_goal("server peak RSS (VmHWM)", 1000, "<", peak * 2**20 / 1e6 if peak is not None else None, " MB", f"max over {len(results.get('servers', []))} servers, loaded ones included"))  # fmt: skip
    return found


def _x(r: dict[str, Any]) -> str:
    return f"{r['median']:.2f}x ({r['min']:.2f}-{r['max']:.2f})"


def _us(r: dict[str, Any]) -> str:
    return f"{r['median']:.0f} ({r['min']:.0f}-{r['max']:.0f})"


def _num(value: float) -> str:
    """Whole numbers from 100 up, else 3 significant digits."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _m(side: dict[str, Any], metric: str) -> str:
    """A side's median figure."""
    return _num(float(side["summary"][metric]["median"]))


def _cpu(side: dict[str, Any], field: str = "cpu_us_per_call") -> str:
    """A side's median CPU time per call over its runs ("-" when not recorded)."""
    found = [r[field] for r in side["runs"] if field in r]
    return _num(statistics.median(found)) if found else "-"


def markdown(results: dict[str, Any]) -> str:
    env, s = results["environment"], results["settings"]
    parts = [
        "# Performance (`attentive bench perf`)\n\n"
        f"{env['cpus']} CPUs ({env['machine']}), load average {env['load_average'][0]:.1f}, "
        f"onnxruntime {env['onnxruntime']} on {', '.join(env['ort_providers']) or '-'}, torch "
        f"{env.get('torch') or '-'}{' on ' + env['gpu'] if env.get('gpu') else ''}, Python "
        f"{env['python']}. {s['duration_s']:g} s per measurement, {s['repeats']} repeats; "
        "figures are medians, ratios median (min-max) over the repeats.\n",
        "## Goals\n\n"
        + report.table(
            ["goal", "target", "measured", "verdict", "how"],
            [
                [
                    g["goal"],
                    g["target"],
                    "-" if g["measured"] is None else _num(g["measured"]) + g["unit"],
                    {True: "met", False: "MISSED", None: "not measured"}[g["met"]],
                    g["detail"],
                ]
                for g in results["goals"]
            ],
        ),  # fmt: skip
    ]
    if "eager" in results:
        rows, notes = [], []
        for name, m in results["eager"].items():
            for r in m["rows"]:
                e = r.get("eager")
                rows.append([name, r["batch"], _m(r["ort"], "rows_per_s"), _m(r["ort"], "p50_us"), _m(r["ort"], "p99_us"),
                             _m(e, "rows_per_s") if e else "n/a", _m(e, "p50_us") if e else "n/a",
                             _m(e, "p99_us") if e else "n/a", _x(r["ratio"]) if "ratio" in r else "n/a"])  # fmt: skip
            if m["eager"] != "ok":
                notes.append(f"- {name}: eager n/a: {m['reason']}\n")
        header = ["model", "batch", "ort rows/s", "ort p50 us", "ort p99 us", "eager rows/s", "eager p50 us", "eager p99 us", "ort / eager"]  # fmt: skip
        parts.append("## onnxruntime in-process vs PyTorch eager (concurrency 1)\n\n" + report.table(header, rows) + "".join(notes))  # fmt: skip
    if "server" in results:
        rows, notes = [], []
        for name, m in results["server"].items():
            for r in m["rows"]:
                rows.append([name, r["batch"], r["concurrency"], _m(r["in_process"], "rows_per_s"), _m(r["server"], "rows_per_s"),
                             _x(r["ratio"]), _m(r["in_process"], "p50_us"), _m(r["server"], "p50_us"),
                             _us(r["overhead_us"]) if "overhead_us" in r else "",
                             _cpu(r["in_process"]), _cpu(r["server"], "server_cpu_us_per_call"), _cpu(r["server"])])  # fmt: skip
            if "error" in m:
                notes.append(f"- {name}: {m['error']}\n")
        header = ["model", "batch", "concurrency", "in-process rows/s", "server rows/s", "server / in-process", "in-process p50 us", "server p50 us", "overhead us",
                  "CPU us/request in-process", "CPU us/request server", "CPU us/request client"]  # fmt: skip
        floor = results.get("server_floor_us")
        if floor:
            notes.append(f"\nThe floor: an empty call (ServerLive) through the same client takes {_us(floor)} us, p50 at concurrency 1; every request pays it before the server does any work.\n")  # fmt: skip
        notes.append("\nCPU us/request: process CPU time (every thread) over the calls made: the bench process running onnxruntime in-process, the server process, and the tritonclient process. On a machine with few cores the client's share comes out of the server's.\n")  # fmt: skip
        parts.append("## Served (gRPC, tritonclient) vs onnxruntime in-process\n\n" + report.table(header, rows) + "".join(notes))  # fmt: skip
    if "batching" in results:
        rows = []
        for name, r in results["batching"].items():
            if "error" in r:
                rows.append([name, r["error"], "", "", "", "", "", "", "", "", "", ""])
                continue
            rows.append([name, _m(r["on"], "rows_per_s"), _m(r["off"], "rows_per_s"), _x(r["ratio"]),
                         _m(r["on"], "p50_us"), _m(r["on"], "p99_us"), _m(r["off"], "p50_us"), _m(r["off"], "p99_us"),
                         _x(r["p99_ratio"]), _cpu(r["on"], "server_cpu_us_per_call"), _cpu(r["off"], "server_cpu_us_per_call"),
                         _cpu(r["on"])])  # fmt: skip
        header = ["model", "batching rows/s", "no batching rows/s", "on / off", "on p50 us", "on p99 us", "off p50 us", "off p99 us", "p99 on / off",
                  "server CPU us/request on", "server CPU us/request off", "client CPU us/request"]  # fmt: skip
        parts.append("## Dynamic batching on vs off (single-row requests, concurrency 32)\n\n" + report.table(header, rows))  # fmt: skip
    if "attention" in results:
        found = results["attention"]
        parts.append("## Attention op vs decomposed\n\n" + (found.get("markdown", "") if found else "not measured: benchmarks/attention_op.py is absent\n"))  # fmt: skip
    if "cold" in results or results.get("servers"):
        cold = results.get("cold")
        rows = [[len(cold["starts"]) if cold else 0,
                 f"{cold['start_s']['median']:.2f} ({cold['start_s']['min']:.2f}-{cold['start_s']['max']:.2f})" if cold else "-",
                 f"{cold['rss_at_serving_mib']['median']:.0f}" if cold else "-",
                 f"{results['peak_rss_mib']:.0f}" if results.get("servers") else "-"]]  # fmt: skip
        header = ["starts", "spawn to SERVING s", "RSS at SERVING MiB", "peak RSS MiB (every server, under load)"]  # fmt: skip
        parts.append("## Cold start and memory of `attentive serve` (whole repository)\n\n" + report.table(header, rows))  # fmt: skip
    if results.get("transport"):
        parts.append(_transport(results["transport"], results.get("server_floor_us")))
    if results.get("skipped"):
        parts.append("Not measured: " + "; ".join(f"{n} ({why})" for n, why in results["skipped"].items()) + "\n")  # fmt: skip
    return "\n".join(parts)


def _transport(found: dict[str, Any], floor: dict[str, Any] | None) -> str:
    def over(runs: list[dict[str, float]], key: str) -> str:
        return _us(spread([r[key] for r in runs]))

    bare, hop = found["bare_grpc"], found["executor_hop"]
    rows = [
        ["empty call to a bare grpc.aio server (health only), p50 us", over(bare, "p50_us")],
        ["its server's CPU per call, us", over(bare, "server_cpu_us_per_call")],
        [
            "asyncio loop -> thread -> loop hand-off of a no-op, CPU us per call",
            over(hop, "hop_us"),
        ],
    ]
    if floor:
        rows.append(["for comparison: empty call to `attentive serve` via tritonclient (the floor), p50 us", _us(floor)])  # fmt: skip
    return "## Transport floor (nothing of Attentive in it)\n\n" + report.table(["what", "median (min-max)"], rows)  # fmt: skip
