"""`attentive bench perf`'s `transport` section: what one gRPC call and one event-loop-to-thread
hop cost on this machine with nothing of Attentive in them, the floor under the server's
per-request overhead.

bare_grpc      a bare ``grpc.aio`` server holding only the standard health service (a child
               process: ``python -m benchmarks.perf_transport serve`` prints its port), called
               one at a time with raw bytes from this process: p50 of an empty call and the
               server's CPU time per call.
executor_hop   in this process, on one asyncio loop: ``await loop.run_in_executor(pool, f)`` against
               calling ``f`` directly, ``f`` doing nothing: the CPU time per call of the hand-off
               the server makes for every onnxruntime run (inference stays off the event loop).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from attentive.settings import PROJECT_ROOT
from benchmarks.perf_server import cpu_seconds, serving
from benchmarks.perf_timing import Run, measure

HEALTH_CHECK = "/grpc.health.v1.Health/Check"


def serve() -> None:
    """The bare server: health service only, on a free loopback port printed on stdout."""
    from grpc_health.v1 import _async as aio_health
    from grpc_health.v1 import health_pb2_grpc

    async def main() -> None:
        server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(aio_health.HealthServicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        print(port, flush=True)
        await server.wait_for_termination()

    asyncio.run(main())


def bare_grpc(seconds: float) -> Run:
    """Empty calls to a bare grpc.aio server: the run, plus ``server_cpu_us_per_call``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.perf_transport", "serve"],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        address = f"127.0.0.1:{int(process.stdout.readline())}"
        serving(address, timeout=60)
        with grpc.insecure_channel(address) as channel:
            check = channel.unary_unary(HEALTH_CHECK)  # bytes in, bytes out: no (de)serialising
            began = cpu_seconds(process.pid)
            run = measure(lambda: check(b"", timeout=30), 1, 1, seconds)
            used = cpu_seconds(process.pid) - began
        run["server_cpu_us_per_call"] = used * 1e6 / max(1, run["calls_made"])
        return run
    finally:
        process.kill()
        process.wait()


def _nothing() -> None:
    return None


def executor_hop(seconds: float) -> dict[str, float]:
    """CPU time per call (us) of a direct call of a no-op and of the same call handed to a
    thread and awaited on an asyncio loop; ``hop_us`` is the difference."""

    def direct(until: float) -> int:
        calls = 0
        while time.perf_counter() < until:
            _nothing()
            calls += 1
        return calls

    async def handed(until: float) -> int:
        loop = asyncio.get_running_loop()
        calls = 0
        with ThreadPoolExecutor(1) as pool:
            while time.perf_counter() < until:
                await loop.run_in_executor(pool, _nothing)
                calls += 1
        return calls

    found = {}
    for name, run in (("direct", direct), ("handed", lambda u: asyncio.run(handed(u)))):
        cpu = time.process_time()
        calls = run(time.perf_counter() + seconds)
        found[f"{name}_cpu_us_per_call"] = (time.process_time() - cpu) * 1e6 / max(1, calls)
    found["hop_us"] = found["handed_cpu_us_per_call"] - found["direct_cpu_us_per_call"]
    return found


def section(seconds: float, repeats: int) -> dict[str, Any]:
    """Both measurements, ``repeats`` times each."""
    return {
        "bare_grpc": [bare_grpc(seconds) for _ in range(repeats)],
        "executor_hop": [executor_hop(seconds) for _ in range(repeats)],
    }


if __name__ == "__main__":
    if sys.argv[1:] != ["serve"]:
        raise SystemExit("usage: python -m benchmarks.perf_transport serve")
    serve()
