"""`attentive bench perf`: how fast the repository's models run, each side measured against its
alternative on the same machine in the same run (issue 8, section 2).

    attentive bench perf [--repository DIR] [--models A B] [--provider cpu|cuda|auto]
                         [--duration S] [--repeats N] [--sections ...] [--out DIR]

Sections (every model of the repository with a card; inputs: the card's first example without
text, its row repeated to the batch size):

eager      onnxruntime in-process vs the PyTorch module the export came from (rebuilt from the
           build's checkpoint under --runs), batch 1 / 8 / 32 capped by max_batch_size (a model
           with max_batch_size 0, GAT, runs its example graph whole: batch 1): rows/s, p50 / p99
           latency and ort / eager. No checkpoint: eager is n/a for that model.
server     `attentive serve` (subprocess, tritonclient.grpc) vs onnxruntime in-process, batch 8 at
           concurrency 1 / 8 / 32 (and batch 1 at concurrency 1): served / in-process throughput,
           and the per-request overhead (served p50 minus in-process p50, concurrency 1), beside
           the floor every call pays before the server works: an empty call's (ServerLive)
           round trip through the same client, p50.
batching   single-row requests at concurrency 32 against two servers, ATTENTIVE_DYNAMIC_BATCHING
           true and false: throughput ratio, p50, p99.
attention  benchmarks/attention_op.py (the Transformer's Attention op vs decomposed, opset 20)
           when it exists: its run(args) with --repeats, --duration and the provider; its
           markdown in the report, its slowest ratio in the goals.
cold       `attentive serve` spawn to a SERVING health answer, --repeats times; peak RSS (VmHWM)
           of every server the run started.
transport  the floor with nothing of Attentive in it (benchmarks/perf_transport.py): an empty
           call to a bare grpc.aio server (p50, its CPU per call) and the CPU per call of handing
           work from an asyncio loop to a thread and back.

Each comparison runs its two sides back to back, --repeats times (a, b, a, b, ...), so drift hits
both; ratios are taken per repeat and reported as min / median / max. Writes <out>/perf.json and
<out>/perf.md and prints the table with the issue's goals marked met or missed.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import platform
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import perf_models, perf_report, perf_server, perf_transport, report
from benchmarks.perf_models import BenchModel
from benchmarks.perf_timing import compare, measure, ratios, spread

SECTIONS = ("eager", "server", "batching", "attention", "cold", "transport")
BATCHES = (1, 8, 32)
SERVER_BATCH = 8
CONCURRENCY = (1, 8, 32)
BATCHING_CONCURRENCY = 32


@dataclass
class Options:
    repository: Path
    runs: Path
    data: Path
    models: list[str] | None = None
    provider: str = "auto"
    duration: float = 2.0
    repeats: int = 3
    sections: tuple[str, ...] = SECTIONS
    servers: list[dict[str, Any]] = field(default_factory=list)  # every server started


def ratio(numerator: list[dict[str, float]], denominator: list[dict[str, float]], metric: str = "rows_per_s") -> dict[str, Any]:  # fmt: skip
    runs = ratios(numerator, denominator, metric)
    return {"runs": runs, **spread(runs)}


def _server_env(options: Options, **extra: str) -> dict[str, str]:
    return {"ATTENTIVE_EXECUTION_PROVIDER": options.provider, **extra}


def eager_section(models: list[BenchModel], sessions: dict[str, Any], o: Options) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {}
    for m in models:
        eager = perf_models.eager(m, o.runs, o.data, o.provider)
        rows = []
        for batch in m.batches(BATCHES):
            ort = perf_models.ort_call(m, sessions[m.name], batch)
            sides = {"ort": functools.partial(measure, ort, batch, 1, o.duration)}
            if eager.call is not None:
                sides["eager"] = functools.partial(measure, eager.call(batch), batch, 1, o.duration)
            row: dict[str, Any] = {"batch": batch, **compare(sides, o.repeats)}
            if eager.call is not None:
                row["ratio"] = ratio(row["ort"]["runs"], row["eager"]["runs"])
            rows.append(row)
        out[m.name] = {
            "eager": "ok" if eager.call is not None else "n/a",
            "eager_device": eager.device,
            "reason": eager.reason,
            "rows": rows,
        }
        _log(f"eager: {m.name} done ({out[m.name]['eager']}) {eager.reason}")
    return out


def _served_row(m: BenchModel, session: Any, client: perf_server.Client, batch: int, concurrency: int, o: Options) -> dict[str, Any]:  # fmt: skip
    """In-process vs served at one batch and concurrency; at concurrency 1 also the overhead
    (served p50 minus in-process p50, repeat by repeat)."""
    call = perf_models.ort_call(m, session, batch)
    sides = {
        "in_process": functools.partial(measure, call, batch, concurrency, o.duration),
        "server": functools.partial(client.measure, m, batch, concurrency, o.duration),
    }
    row: dict[str, Any] = {"batch": batch, "concurrency": concurrency, **compare(sides, o.repeats)}
    served, local = row["server"]["runs"], row["in_process"]["runs"]
    row["ratio"] = ratio(served, local)
    if concurrency == 1:
        over = [s["p50_us"] - i["p50_us"] for s, i in zip(served, local, strict=True)]
        row["overhead_us"] = {"runs": over, **spread(over)}
    return row


def server_section(models: list[BenchModel], sessions: dict[str, Any], o: Options) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    """Each model's served rows, and the floor: the p50 of empty calls (ServerLive) through the
    same client, once per repeat."""
    server = perf_server.start(o.repository, _server_env(o))
    client = perf_server.Client(server.address, server.process.pid)
    out: dict[str, Any] = {}
    try:
        p50s = [client.floor(o.duration)["p50_us"] for _ in range(o.repeats)]
        for m in models:
            (batch,) = m.batches([SERVER_BATCH])
            cases = [(batch, c) for c in CONCURRENCY]
            cases += [(b, 1) for b in m.batches([1]) if (b, 1) not in cases]
            found: dict[str, Any] = {"onnx_bytes": m.onnx_path.stat().st_size, "rows": []}
            try:
                for b, c in cases:
                    found["rows"].append(_served_row(m, sessions[m.name], client, b, c, o))
            except RuntimeError as error:  # a refused request: reported, the others go on
                found["error"] = str(error)
            out[m.name] = found
            _log(f"server: {m.name} done {found.get('error', '')}")
    finally:
        client.close()
        o.servers.append(server.stop())
    return out, {"runs": p50s, **spread(p50s)}


def batching_section(models: list[BenchModel], o: Options) -> dict[str, Any]:
    settings = {"on": "true", "off": "false"}
    servers = {k: perf_server.start(o.repository, _server_env(o, ATTENTIVE_DYNAMIC_BATCHING=v)) for k, v in settings.items()}  # fmt: skip
    clients = {k: perf_server.Client(s.address, s.process.pid) for k, s in servers.items()}
    out: dict[str, Any] = {}
    try:
        for m in models:
            if m.max_batch_size == 0:
                continue  # one request is the whole input: nothing to batch
            sides = {k: functools.partial(c.measure, m, 1, BATCHING_CONCURRENCY, o.duration) for k, c in clients.items()}  # fmt: skip
            try:
                row: dict[str, Any] = {"batch": 1, "concurrency": BATCHING_CONCURRENCY, **compare(sides, o.repeats)}  # fmt: skip
            except RuntimeError as error:
                out[m.name] = {"error": str(error)}
                continue
            row["ratio"] = ratio(row["on"]["runs"], row["off"]["runs"])
            row["p99_ratio"] = ratio(row["on"]["runs"], row["off"]["runs"], "p99_us")
            out[m.name] = row
            _log(f"batching: {m.name} done")
    finally:
        for c in clients.values():
            c.close()
        for s in servers.values():
            o.servers.append(s.stop())
    return out


def cold_section(o: Options) -> dict[str, Any]:
    starts = []
    for _ in range(o.repeats):
        server = perf_server.start(o.repository, _server_env(o))
        stopped = server.stop()
        o.servers.append(stopped)
        starts.append(stopped)
    return {
        "start_s": spread([s["start_s"] for s in starts]),
        "rss_at_serving_mib": spread([s["rss_at_serving_mib"] for s in starts]),
        "starts": starts,
    }


def attention_section(o: Options, provider: str) -> dict[str, Any] | None:
    """benchmarks.attention_op when that module exists: ``run(args)`` with this run's repeats,
    duration and provider (cpu or cuda, as the sessions got), its ``markdown(results)`` for the
    report, and its summary (decomposed / Attention p50, > 1: the op is faster) for the goal."""
    try:
        module = importlib.import_module("benchmarks.attention_op")
    except ModuleNotFoundError as error:
        if error.name != "benchmarks.attention_op":
            raise
        return None
    args = argparse.Namespace(repeats=o.repeats, duration=o.duration, provider=provider)
    found: dict[str, Any] = module.run(args)
    summary = found.get("summary", {})
    goal = None
    if "ratio_min" in summary:
        goal = {
            "measured": summary["ratio_min"],
            "met": bool(summary["goal_attention_not_slower"]),
            "detail": f"decomposed / Attention p50, slowest case (median case {summary['ratio_median']:.3g}x)",  # fmt: skip
        }
    render = getattr(module, "markdown", None)
    text = re.sub(r"^(#+) ", r"##\1 ", render(found), flags=re.M) if render else ""  # nested
    return {"goal": goal, "markdown": text, "results": found}


def environment(o: Options, sessions: dict[str, Any]) -> dict[str, Any]:
    import onnxruntime

    found = {**report.environment(), "onnxruntime": onnxruntime.__version__}
    found["platform"] = platform.platform()
    found["load_average"] = list(os.getloadavg())
    found["ort_providers"] = sorted({s.get_providers()[0] for s in sessions.values()})
    try:
        import torch

        found["torch"] = torch.__version__
        found["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            found["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        found["torch"] = None
    return found


def run(o: Options) -> tuple[dict[str, Any], str]:
    began = time.monotonic()
    models, skipped = perf_models.discover(o.repository, o.models)
    sessions = perf_models.sessions(models, o.provider)
    results: dict[str, Any] = {
        "repository": str(o.repository),
        "settings": {
            "provider": o.provider,
            "duration_s": o.duration,
            "repeats": o.repeats,
            "sections": list(o.sections),
            "batches": list(BATCHES),
            "server_batch": SERVER_BATCH,
            "concurrency": list(CONCURRENCY),
            "batching_concurrency": BATCHING_CONCURRENCY,
        },
        "environment": environment(o, sessions),
        "models": [m.name for m in models],
        "skipped": skipped,
    }
    if "eager" in o.sections:
        results["eager"] = eager_section(models, sessions, o)
    if "server" in o.sections:
        results["server"], results["server_floor_us"] = server_section(models, sessions, o)
    if "batching" in o.sections:
        results["batching"] = batching_section(models, o)
    if "attention" in o.sections:
        cuda = any(s.get_providers()[0] == "CUDAExecutionProvider" for s in sessions.values())
        results["attention"] = attention_section(o, "cuda" if cuda else "cpu")
    if "cold" in o.sections:
        results["cold"] = cold_section(o)
    if "transport" in o.sections:
        results["transport"] = perf_transport.section(o.duration, o.repeats)
        _log("transport: done")
    results["servers"] = o.servers
    if o.servers:
        results["peak_rss_mib"] = max(s["peak_rss_mib"] for s in o.servers)
    results["goals"] = perf_report.goals(results)
    results["wall_time_s"] = round(time.monotonic() - began, 1)
    return results, perf_report.markdown(results)


def _log(message: str) -> None:
    import sys

    print(f"[perf] {message}", file=sys.stderr, flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from attentive.settings import Settings

    settings = Settings()
    parser.add_argument("--repository", type=Path, default=None, help=f"default $ATTENTIVE_REPOSITORY ({settings.repository})")  # fmt: skip
    parser.add_argument("--runs", type=Path, default=None, help=f"the build's checkpoints (default {settings.runs})")  # fmt: skip
    parser.add_argument("--data", type=Path, default=None, help="default $ATTENTIVE_DATA")
    parser.add_argument("--models", nargs="+", metavar="NAME", help="default: every model with a card")  # fmt: skip
    parser.add_argument("--provider", choices=["cpu", "cuda", "auto"], default="auto")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per measurement (2)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each comparison (3)")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--out", type=Path, default=None, help="default results/perf")


def main(args: argparse.Namespace) -> int:
    from attentive.settings import PROJECT_ROOT, Settings

    settings = Settings()
    options = Options(
        repository=args.repository or settings.repository,
        runs=args.runs or settings.runs,
        data=args.data or settings.data,
        models=args.models,
        provider=args.provider,
        duration=args.duration,
        repeats=max(1, args.repeats),
        sections=tuple(args.sections),
    )
    if not Path(options.repository).is_dir():
        print(f"bench perf: no model repository at {options.repository}; run `attentive build`")
        return 2
    results, md = run(options)
    out = args.out or PROJECT_ROOT / "results" / "perf"
    json_path, md_path = report.write(Path(out), "perf", results, md)
    print(md)
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_arguments(parser)
    raise SystemExit(main(parser.parse_args()))
