"""Batch scoring throughput: `attentive batch` over a file of N rows against `attentive serve`
running on a built repository (one or several replicas on this machine).

    python -m benchmarks.batch_perf --repository model_repository --model transformer --rows 10000

Rows are English sentences of Multi30k (test, then validation, cycled) when ATTENTIVE_DATA holds
them, else the model card's text example cycled. Each case scores the whole file from scratch
(--restart) and reports rows/s as the job's own summary measures it (the client's wall time
from the first request to the last commit). Prints a table and writes
results/batch-perf/batch_perf.{json,md}. Never imports torch.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import report

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def texts(data: Path, repository: Path, model: str, n: int) -> list[str]:
    found: list[str] = []
    for name in ("test_2016_flickr.en", "val.en"):
        path = data / "multi30k" / name
        if path.is_file():
            found += [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    found = [t for t in found if t]
    if not found:
        from taxonomy.card import ModelCard

        card = ModelCard.from_json((repository / model / "card.json").read_text(encoding="utf-8"))
        found = [str(x) for e in card.examples for t in e.inputs if t.datatype == "BYTES" for x in t.data]  # fmt: skip
    if not found:
        raise SystemExit(f"no sentences for {model}: no Multi30k in {data}, no text example")
    return [found[i % len(found)] for i in range(n)]


def start_servers(repository: Path, replicas: int, threads: int) -> list[tuple[subprocess.Popen[bytes], int]]:  # fmt: skip
    servers = []
    for _ in range(replicas):
        port = _free_port()
        command = [sys.executable, "-m", "attentive", "serve", "--repository", str(repository),
                   "--host", "127.0.0.1", "--port", str(port), "--no-metrics", "--log-level", "WARNING"]  # fmt: skip
        env = {"ATTENTIVE_INTRA_OP_THREADS": str(threads)} if threads else {}
        import os

        proc = subprocess.Popen(command, cwd=ROOT, env=os.environ | env, stdout=subprocess.DEVNULL)
        servers.append((proc, port))
    for proc, port in servers:
        deadline = time.monotonic() + 300
        while subprocess.run(
            [sys.executable, "-m", "attentive", "health", "--server", f"127.0.0.1:{port}"],
            cwd=ROOT, capture_output=True,
        ).returncode:  # fmt: skip
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server on port {port} did not become ready")
            time.sleep(0.5)
    return servers


def run_case(
    model: str, source: Path, out: Path, servers: list[str], batch_size: int,
    concurrency: int, attention: bool,
) -> dict[str, Any]:  # fmt: skip
    from attentive.batch.job import Job, run

    job = Job(model=model, input=source, output=out, servers=servers, attention=attention,
              batch_size=batch_size, concurrency=concurrency, restart=True, progress=False)  # fmt: skip
    summary = run(job)
    return {
        "rows": summary.rows,
        "errors": summary.errors,
        "seconds": round(summary.seconds, 3),
        "rows_per_s": round(summary.rows_per_s, 1),
        "output_mb": round(out.stat().st_size / 1e6, 2),
    }


def main(argv: list[str] | None = None) -> int:
    from attentive.settings import Settings

    settings = Settings()
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batch_perf", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--repository", type=Path, default=settings.repository)
    parser.add_argument("--model", default="transformer")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--replicas", type=int, default=1, help="servers on this machine")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4])
    parser.add_argument("--attention", choices=["no", "yes", "both"], default="both")
    parser.add_argument("--server-threads", type=int, default=0, help="onnxruntime intra-op")
    parser.add_argument("--work", type=Path, default=Path("/tmp/attentive-batch-perf"))
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "batch-perf")
    args = parser.parse_args(argv)

    args.work.mkdir(parents=True, exist_ok=True)
    source = args.work / "input.jsonl"
    rows = texts(settings.data, args.repository, args.model, args.rows)
    source.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(rows)))
    attention = {"no": [False], "yes": [True], "both": [False, True]}[args.attention]
    running = start_servers(args.repository, args.replicas, args.server_threads)
    cases = []
    try:
        addresses = [f"127.0.0.1:{port}" for _, port in running]
        for batch_size in args.batch_sizes:
            for concurrency in args.concurrency:
                for with_attention in attention:
                    out = args.work / f"out-{batch_size}-{concurrency}-{int(with_attention)}.jsonl"
                    measured = run_case(args.model, source, out, addresses, batch_size, concurrency, with_attention)  # fmt: skip
                    case = {"batch_size": batch_size, "concurrency": concurrency,
                            "attention": with_attention, **measured}  # fmt: skip
                    print(json.dumps(case), flush=True)
                    cases.append(case)
    finally:
        for proc, _ in running:
            proc.terminate()
        for proc, _ in running:
            proc.wait(timeout=60)
    header = ["batch size", "concurrency", "attention", "rows", "errors", "seconds", "rows/s", "output MB"]  # fmt: skip
    table = report.table(
        header,
        [[c["batch_size"], c["concurrency"], "yes" if c["attention"] else "no", c["rows"],
          c["errors"], c["seconds"], c["rows_per_s"], c["output_mb"]] for c in cases],
    )  # fmt: skip
    title = (
        f"# attentive batch: {args.model}, {args.rows} rows, {args.replicas} server(s) on this "
        f"machine ({report.environment()['cpus']} CPUs)\n\n"
    )
    results = {
        "model": args.model,
        "rows": args.rows,
        "replicas": args.replicas,
        "repository": str(args.repository),
        "environment": report.environment(),
        "cases": cases,
    }
    json_path, md_path = report.write(args.out, "batch_perf", results, title + table)
    print(title + table)
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
