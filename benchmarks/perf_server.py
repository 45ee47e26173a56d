"""`attentive serve` as the bench sees it: started as a subprocess on a free port (cold start timed
from the spawn to a SERVING health answer), its peak resident memory, and the tritonclient child
process (benchmarks/perf_client.py) that sends it requests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from attentive.settings import PROJECT_ROOT
from benchmarks import soak
from benchmarks.perf_models import BenchModel
from benchmarks.perf_timing import Run
from server.codecs import datatype_of


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    env: dict[str, str]
    start_s: float  # spawn to SERVING
    rss_at_serving_bytes: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def peak_rss_bytes(self) -> int:
        """The most resident memory the process has held so far (VmHWM)."""
        return soak.rss_bytes(self.process.pid, "VmHWM")

    def stop(self) -> dict[str, Any]:
        """SIGTERM, and what the process held: {env, start_s, rss..., exit_code}."""
        peak = self.peak_rss_bytes()
        self.process.terminate()
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        return {
            "env": self.env,
            "start_s": self.start_s,
            "rss_at_serving_mib": self.rss_at_serving_bytes / 2**20,
            "peak_rss_mib": peak / 2**20,
            "exit_code": code,
        }


def serving(address: str, timeout: float = 300.0) -> None:
    """Wait until the server's health service answers SERVING for the whole server."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server at {address} not SERVING after {timeout:.0f} s")
            time.sleep(0.01)


def start(repository: Path, env: dict[str, str]) -> Server:
    began = time.perf_counter()
    process, port = soak.start_server(repository, env)
    try:
        serving(f"127.0.0.1:{port}")
    except BaseException:
        process.kill()
        raise
    start_s = time.perf_counter() - began
    return Server(process, port, env, start_s, soak.rss_bytes(process.pid))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (every thread), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Client:
    """Sends measurement jobs to a perf_client child process connected to one server (``pid``);
    each answer also says the server's CPU time per call (``server_cpu_us_per_call``) beside the
    client's own (``cpu_us_per_call``)."""

    def __init__(self, address: str, pid: int) -> None:
        self.pid = pid
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.perf_client", address],
            cwd=PROJECT_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    def floor(self, seconds: float) -> Run:
        """Empty calls (ServerLive), one at a time: the transport's share of every request."""
        return self._ask({"call": "live", "seconds": seconds})

    def measure(self, model: BenchModel, batch: int, concurrency: int, seconds: float) -> Run:
        job = {
            "model": model.name,
            "inputs": [
                {
                    "name": n,
                    "datatype": datatype_of(a),
                    "shape": list(a.shape),
                    "data": a.ravel().tolist(),
                }  # fmt: skip
                for n, a in model.inputs(batch).items()
            ],
            "outputs": model.outputs,
            "rows": batch,
            "concurrency": concurrency,
            "seconds": seconds,
        }
        return self._ask(job)

    def _ask(self, job: dict[str, Any]) -> Run:
        assert self.process.stdin is not None and self.process.stdout is not None
        server_cpu = cpu_seconds(self.pid)
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        server_cpu = cpu_seconds(self.pid) - server_cpu
        if not line:
            raise RuntimeError(f"the tritonclient process exited ({self.process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        answer["server_cpu_us_per_call"] = server_cpu * 1e6 / max(1, answer["calls_made"])
        return answer

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
