"""The client side of `attentive bench perf`: Triton's own gRPC client (tritonclient.grpc) driving
a running server, as a child process of the bench.

    python -m benchmarks.perf_client HOST:PORT

Reads one JSON job a line on stdin -- {"model", "inputs": [{"name", "datatype", "shape", "data"}],
"outputs": [names], "rows", "concurrency", "seconds"}, or {"call": "live", "seconds"} for the
empty-call floor -- and answers one JSON line on stdout: the
measured run (benchmarks.perf_timing.measure) or {"error": ...}. A separate process because
tritonclient's compiled `inference` protos and ours cannot share one protobuf pool; it imports
tritonclient, numpy and the timing loop only."""

from __future__ import annotations

import itertools
import json
import sys
import threading
from typing import Any

import numpy as np
import tritonclient.grpc as triton
from tritonclient.utils import triton_to_np_dtype

from benchmarks.perf_timing import measure

CHANNELS = 4  # gRPC channels the caller threads share (one client each)


def request(job: dict[str, Any]) -> tuple[list[triton.InferInput], list[triton.InferRequestedOutput]]:  # fmt: skip
    inputs = []
    for t in job["inputs"]:
        array = np.asarray(t["data"], dtype=triton_to_np_dtype(t["datatype"])).reshape(t["shape"])
        tensor = triton.InferInput(t["name"], list(array.shape), t["datatype"])
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs, [triton.InferRequestedOutput(name) for name in job["outputs"]]


def floor(job: dict[str, Any], client: triton.InferenceServerClient) -> dict[str, Any]:
    """The round trip of an empty call (ServerLive) from this client: what any request pays
    for gRPC and tritonclient before the server does any work for it."""
    return measure(client.is_server_live, 1, 1, job["seconds"])


def run(job: dict[str, Any], clients: list[triton.InferenceServerClient]) -> dict[str, Any]:
    if job.get("call") == "live":
        return floor(job, clients[0])
    inputs, outputs = request(job)
    model, names = job["model"], job["outputs"]
    answer = clients[0].infer(model, inputs, outputs=outputs, client_timeout=120)
    missing = [n for n in names if answer.as_numpy(n) is None]
    if missing:
        return {"error": f"{model}: the answer lacks {missing}"}
    mine = threading.local()
    turns = itertools.count()

    def call() -> object:
        client = getattr(mine, "client", None)
        if client is None:
            client = mine.client = clients[next(turns) % len(clients)]
        return client.infer(model, inputs, outputs=outputs, client_timeout=120)

    return measure(call, job["rows"], job["concurrency"], job["seconds"])


def main(argv: list[str]) -> int:
    clients = [triton.InferenceServerClient(argv[0]) for _ in range(CHANNELS)]
    try:
        for line in sys.stdin:
            try:
                answer = run(json.loads(line), clients)
            except Exception as error:  # noqa: BLE001 - the bench reports it for this model
                answer = {"error": f"{type(error).__name__}: {error}"}
            print(json.dumps(answer), flush=True)
    finally:
        for client in clients:
            client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
