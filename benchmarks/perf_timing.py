"""Timing for `attentive bench perf`: a closed loop of ``concurrency`` callers for a fixed time,
and the min / median / max of repeated runs.

Every measurement has the same shape (a :data:`Run`): rows per second, and the p50 / p99 latency of
one call in microseconds. A side-by-side comparison keeps each repeat's runs, so its ratio is
computed per repeat (both sides measured back to back, drift hits both) and then summarised."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

Run = dict[str, float]  # rows_per_s, p50_us, p99_us, calls, cpu_us_per_call
METRICS = ("rows_per_s", "p50_us", "p99_us")


def measure(call: Callable[[], object], rows: int, concurrency: int, seconds: float) -> Run:
    """``concurrency`` threads call ``call`` back to back for a warm-up then ``seconds``.

    Counted: the calls that start after the warm-up (a quarter of ``seconds``, at most 1 s) and
    before the end (each caller counts at least one); throughput is their rows over the time from
    the end of the warm-up to the last of them finishing. ``cpu_us_per_call``: this process's CPU
    time (every thread's, onnxruntime's included) over every call made, warm-up included."""
    warmup = min(1.0, seconds / 4)
    cpu_began = time.process_time()
    made = [0] * concurrency
    began = time.perf_counter()
    counted_from, until = began + warmup, began + warmup + seconds
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    finished = [counted_from] * concurrency
    failed: list[BaseException] = []

    def worker(index: int) -> None:
        mine = latencies[index]
        try:
            while True:
                start = time.perf_counter()
                if (start >= until and mine) or failed:
                    return
                call()
                made[index] += 1
                end = time.perf_counter()
                if start >= counted_from:
                    mine.append(end - start)
                    finished[index] = end
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            failed.append(error)

    if concurrency == 1:
        worker(0)
    else:
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    cpu = time.process_time() - cpu_began
    if failed:
        raise failed[0]
    every = np.asarray([x for mine in latencies for x in mine]) * 1e6
    elapsed = max(finished) - counted_from
    return {
        "rows_per_s": rows * every.size / elapsed if elapsed > 0 else 0.0,
        "p50_us": float(np.percentile(every, 50)),
        "p99_us": float(np.percentile(every, 99)),
        "calls": int(every.size),
        "calls_made": sum(made),
        "cpu_us_per_call": cpu * 1e6 / max(1, sum(made)),
    }


def spread(values: list[float]) -> dict[str, float]:
    """min / median / max of repeated figures."""
    return {
        "min": float(np.min(values)),
        "median": float(np.median(values)),
        "max": float(np.max(values)),
    }


def summary(runs: list[Run]) -> dict[str, dict[str, float]]:
    """Each metric's spread over the repeats."""
    return {m: spread([r[m] for r in runs]) for m in METRICS}


def ratios(numerator: list[Run], denominator: list[Run], metric: str) -> list[float]:
    """Repeat by repeat: numerator's metric over denominator's (measured back to back)."""
    return [a[metric] / b[metric] for a, b in zip(numerator, denominator, strict=True)]


def compare(sides: Mapping[str, Callable[[], Run]], repeats: int) -> dict[str, Any]:
    """Run each side once per repeat, interleaved (a, b, a, b, ...): {side: {runs, summary}}."""
    runs: dict[str, list[Run]] = {side: [] for side in sides}
    for _ in range(repeats):
        for side, run in sides.items():
            runs[side].append(run())
    return {side: {"runs": r, "summary": summary(r)} for side, r in runs.items()}
