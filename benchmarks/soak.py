"""Load and soak: N concurrent clients for T seconds against `attentive serve` in a subprocess.

    python -m benchmarks.soak [--repository DIR] [--clients 64] [--duration 60] [--warmup S]
                              [--models a,b] [--sample 1] [--out results/soak.json]

The clients send every ready model's card examples (the same requests over and over, each answer
compared with the first one), spread over a few grpc.aio channels, and record each request's
latency and status. Meanwhile the server's resident memory (VmRSS) is sampled every ``--sample``
seconds. Printed and written as JSON: requests, failures by code, wrong answers, throughput,
latency p50/p90/p99/max (overall and per model), and RSS over time with the growth after the
warm-up (end minus the warm-up's last sample, and a least-squares slope per minute).

Exits 1 when any request failed or was answered differently, so `make soak` fails loudly. Imports
grpc and numpy only (no torch, no onnxruntime in this process)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from attentive.settings import PROJECT_ROOT, Settings
from protos.gen.attentive.taxonomy.v1 import taxonomy_pb2 as tx
from protos.gen.attentive.taxonomy.v1 import taxonomy_pb2_grpc as tx_grpc
from protos.gen.inference import grpc_service_pb2 as pb
from protos.gen.inference import grpc_service_pb2_grpc as pb_grpc
from server import codecs
from taxonomy.card import ModelCard

OPTIONS = [
    ("grpc.max_receive_message_length", 1 << 30),
    ("grpc.max_send_message_length", 1 << 30),
]


@dataclass
class Work:
    """One request the clients repeat, and the answer it got first."""

    model: str
    example: str
    request: pb.ModelInferRequest
    answer: bytes | None = None


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    codes: Counter[str] = field(default_factory=Counter)
    wrong: int = 0
    errors: list[str] = field(default_factory=list)  # the first few failure messages


def rss_bytes(pid: int, key: str = "VmRSS") -> int:
    """The process's resident set size (Linux /proc); ``key="VmHWM"``: its peak so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {key} for process {pid}")


def start_server(repository: Path, extra_env: dict[str, str]) -> tuple[subprocess.Popen[str], int]:
    """`attentive serve` on a free port; returns once it listens with every model tried."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", **extra_env)
    process = subprocess.Popen(
        [sys.executable, "-m", "attentive", "serve", "--repository", str(repository),
         "--host", "127.0.0.1", "--port", "0", "--no-metrics", "--log-level", "WARNING"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    found: list[int] = []
    seen: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            match = re.search(r"listening on [\w.]+:(\d+)", line)
            if match and not found:
                found.append(int(match.group(1)))

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 300
    while not found and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not found:
        process.kill()
        raise RuntimeError("server did not start:\n" + "".join(seen[-20:]))
    return process, found[0]


def collect_work(address: str, only: list[str] | None) -> list[Work]:
    """Every ready model's card examples, as requests (raw contents)."""
    work = []
    with grpc.insecure_channel(address, options=OPTIONS) as channel:
        taxonomy = tx_grpc.TaxonomyServiceStub(channel)
        for summary in taxonomy.ListModels(tx.ListModelsRequest(), timeout=30).models:
            if not summary.ready or (only and summary.name not in only):
                continue
            answer = taxonomy.GetCard(tx.GetCardRequest(name=summary.name), timeout=30)
            if not answer.card_json:
                continue
            card = ModelCard.from_json(answer.card_json)
            for example in card.examples:
                request = pb.ModelInferRequest(model_name=summary.name)
                for t in example.inputs:
                    array = codecs.from_list(t.name, t.datatype, t.shape, t.data)
                    request.inputs.add(name=t.name, datatype=t.datatype, shape=list(array.shape))
                    request.raw_input_contents.append(codecs.to_raw(array))
                work.append(Work(summary.name, example.name, request))
    if not work:
        raise RuntimeError(f"no ready model with examples at {address}")
    return work


def _digest(response: pb.ModelInferResponse) -> bytes:
    return b"".join(response.raw_output_contents)


async def _client(
    index: int,
    stub: pb_grpc.GRPCInferenceServiceStub,
    work: list[Work],
    until: float,
    tally: Tally,
) -> None:
    i = index
    while time.monotonic() < until:
        item = work[i % len(work)]
        i += 1
        started = time.perf_counter()
        try:
            response = await stub.ModelInfer(item.request, timeout=60)
        except grpc.aio.AioRpcError as error:
            tally.codes[error.code().name] += 1
            if len(tally.errors) < 10:
                tally.errors.append(
                    f"{item.model}/{item.example}: {error.code().name}: {error.details()}"
                )
            continue
        tally.latencies[item.model].append(time.perf_counter() - started)
        tally.codes["OK"] += 1
        digest = _digest(response)
        if item.answer is None:
            item.answer = digest
        elif digest != item.answer:
            tally.wrong += 1


async def _load(
    address: str, work: list[Work], clients: int, channels: int, seconds: float
) -> Tally:
    tally = Tally()
    opened = [grpc.aio.insecure_channel(address, options=OPTIONS) for _ in range(channels)]
    try:
        stubs = [pb_grpc.GRPCInferenceServiceStub(c) for c in opened]
        for item in work:  # the reference answers, one at a time
            item.answer = _digest(await stubs[0].ModelInfer(item.request, timeout=120))
        until = time.monotonic() + seconds
        await asyncio.gather(
            *(_client(i, stubs[i % channels], work, until, tally) for i in range(clients))
        )
    finally:
        for c in opened:
            await c.close()
    return tally


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50_ms": 0.0, "p90_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    ms = np.asarray(values) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
    }


def memory_report(samples: list[tuple[float, int]], warmup: float) -> dict[str, Any]:
    """RSS after the warm-up: growth to the end and the least-squares slope (MiB, MiB/min)."""
    mib = 1024 * 1024
    after = [(t, r) for t, r in samples if t >= warmup] or samples[-1:]
    t = np.asarray([s[0] for s in after])
    r = np.asarray([s[1] for s in after]) / mib
    slope = float(np.polyfit(t, r, 1)[0] * 60) if len(after) >= 3 and np.ptp(t) > 0 else 0.0
    return {
        "start_mib": samples[0][1] / mib,
        "after_warmup_mib": float(r[0]),
        "end_mib": samples[-1][1] / mib,
        "max_mib": max(s[1] for s in samples) / mib,
        "growth_after_warmup_mib": float(samples[-1][1] / mib - r[0]),
        "slope_after_warmup_mib_per_min": slope,
        "warmup_s": warmup,
    }


def soak(
    repository: Path,
    clients: int,
    seconds: float,
    warmup: float,
    sample: float,
    channels: int,
    only: list[str] | None,
    server_env: dict[str, str],
) -> dict[str, Any]:
    process, port = start_server(repository, server_env)
    address = f"127.0.0.1:{port}"
    try:
        work = collect_work(address, only)
        samples: list[tuple[float, int]] = []
        stop = threading.Event()
        began = time.monotonic()

        def sampler() -> None:
            while not stop.is_set():
                samples.append((time.monotonic() - began, rss_bytes(process.pid)))
                stop.wait(sample)

        watcher = threading.Thread(target=sampler, daemon=True)
        watcher.start()
        tally = asyncio.run(_load(address, work, clients, channels, seconds))
        elapsed = time.monotonic() - began
        stop.set()
        watcher.join()
        samples.append((time.monotonic() - began, rss_bytes(process.pid)))
    finally:
        process.terminate()
        code = process.wait(timeout=120)
    everything = [x for v in tally.latencies.values() for x in v]
    ok = tally.codes["OK"]
    failed = sum(n for c, n in tally.codes.items() if c != "OK")
    return {
        "repository": str(repository),
        "models": sorted({w.model for w in work}),
        "requests_per_round": len(work),
        "clients": clients,
        "duration_s": round(elapsed, 1),
        "requests": ok + failed,
        "ok": ok,
        "failed": failed,
        "failures_by_code": {c: n for c, n in tally.codes.items() if c != "OK"},
        "first_errors": tally.errors,
        "wrong_answers": tally.wrong,
        "throughput_per_s": ok / elapsed if elapsed else 0.0,
        "latency": _percentiles(everything),
        "per_model": {
            m: {"requests": len(v), **_percentiles(v)} for m, v in sorted(tally.latencies.items())
        },
        "memory": memory_report(samples, warmup),
        "rss_samples": [{"t_s": round(t, 2), "rss_mib": r / 1024 / 1024} for t, r in samples],
        "server_exit_code": code,
        "machine": {"cpus": os.cpu_count(), "load_average": list(os.getloadavg())},
    }


def render(result: dict[str, Any]) -> str:
    lat, mem = result["latency"], result["memory"]
    lines = [
        f"soak: {result['clients']} clients for {result['duration_s']} s over "
        f"{len(result['models'])} models ({result['requests_per_round']} distinct requests), "
        f"{result['machine']['cpus']} CPUs, load average {result['machine']['load_average'][0]:.1f}",
        "",
        "| requests | ok | failed | wrong | throughput/s | p50 ms | p90 ms | p99 ms | max ms |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {result['requests']} | {result['ok']} | {result['failed']} | {result['wrong_answers']} "
        f"| {result['throughput_per_s']:.1f} | {lat['p50_ms']:.1f} | {lat['p90_ms']:.1f} "
        f"| {lat['p99_ms']:.1f} | {lat['max_ms']:.1f} |",
        "",
        "| model | requests | p50 ms | p99 ms |",
        "| --- | ---: | ---: | ---: |",
    ]
    for model, m in result["per_model"].items():
        lines.append(f"| {model} | {m['requests']} | {m['p50_ms']:.1f} | {m['p99_ms']:.1f} |")
    lines += [
        "",
        f"server RSS: {mem['start_mib']:.0f} MiB at start, {mem['after_warmup_mib']:.0f} MiB after "
        f"{mem['warmup_s']:.0f} s warm-up, {mem['end_mib']:.0f} MiB at the end (max "
        f"{mem['max_mib']:.0f}): growth after warm-up {mem['growth_after_warmup_mib']:+.1f} MiB, "
        f"slope {mem['slope_after_warmup_mib_per_min']:+.2f} MiB/min",
        f"server exit code after SIGTERM: {result['server_exit_code']}",
    ]
    if result["failures_by_code"]:
        lines.append(f"failures: {result['failures_by_code']}; first: {result['first_errors'][:3]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument(
        "--repository", type=Path, default=None, help="default ATTENTIVE_REPOSITORY"
    )
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--warmup", type=float, default=None, help="default min(60, duration/4)")
    parser.add_argument("--sample", type=float, default=1.0, help="RSS sampling period, seconds")
    parser.add_argument("--channels", type=int, default=4, help="gRPC channels the clients share")
    parser.add_argument("--models", help="comma-separated models (default: every ready one)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "results" / "soak.json")
    args = parser.parse_args(argv)
    repository = args.repository or Settings().repository
    if not Path(repository).is_dir():
        print(f"soak: no model repository at {repository}; run `attentive build`", file=sys.stderr)
        return 2
    warmup = args.warmup if args.warmup is not None else min(60.0, args.duration / 4)
    # The server admits every client (max_concurrent_requests >= clients): nothing is refused.
    env = {"ATTENTIVE_MAX_CONCURRENT_REQUESTS": str(max(128, args.clients))}
    result = soak(
        Path(repository),
        args.clients,
        args.duration,
        warmup,
        args.sample,
        args.channels,
        args.models.split(",") if args.models else None,
        env,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(render(result))
    print(f"\nwritten: {args.out}")
    return 0 if result["failed"] == 0 and result["wrong_answers"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
