"""Prometheus metrics over HTTP on the metrics port, with Triton's metric names and labels
(``model``, ``version``), read from the same per-model statistics that ModelStatistics answers.

prometheus_client would rename counter samples to ``<name>_total``; Triton's names have no suffix,
so these cumulative values are exposed under their exact Triton names as untyped samples."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric

from server.messages import ModelStats

log = logging.getLogger("attentive.server")

LABELS = ["model", "version"]

# Triton name -> (help, how to read it from ModelStats)
COUNTERS: dict[str, tuple[str, Callable[[ModelStats], float]]] = {
    "nv_inference_request_success": (
        "Number of successful inference requests, all batch sizes",
        lambda s: s.success.count,
    ),
    "nv_inference_request_failure": (
        "Number of failed inference requests, all batch sizes",
        lambda s: s.fail.count,
    ),
    "nv_inference_count": (
        "Number of inferences performed (a batch of n counts n)",
        lambda s: s.inference_count,
    ),
    "nv_inference_exec_count": (
        "Number of model executions performed",
        lambda s: s.execution_count,
    ),
    "nv_inference_request_duration_us": (
        "Cumulative inference request duration in microseconds",
        lambda s: (s.success.ns + s.fail.ns) // 1000,
    ),
    "nv_inference_queue_duration_us": (
        "Cumulative inference queuing duration in microseconds",
        lambda s: s.queue.ns // 1000,
    ),
    "nv_inference_compute_input_duration_us": (
        "Cumulative compute input duration in microseconds",
        lambda s: s.compute_input.ns // 1000,
    ),
    "nv_inference_compute_infer_duration_us": (
        "Cumulative compute inference duration in microseconds",
        lambda s: s.compute_infer.ns // 1000,
    ),
    "nv_inference_compute_output_duration_us": (
        "Cumulative compute output duration in microseconds",
        lambda s: s.compute_output.ns // 1000,
    ),
}


class StatsCollector:
    """Collects from ``stats()`` (model stats) and ``pending()`` (model, version) -> count."""

    def __init__(
        self,
        stats: Callable[[], list[ModelStats]],
        pending: Callable[[], dict[tuple[str, str], int]],
        ready: Callable[[], dict[tuple[str, str], tuple[bool, str]]],
        server: Callable[[], dict[str, int]] | None = None,
    ) -> None:
        self._stats, self._pending, self._ready = stats, pending, ready
        self._server = server

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        for name, (doc, read) in COUNTERS.items():
            family = Metric(name, doc, "unknown")
            for s in stats:
                family.add_sample(name, {"model": s.name, "version": s.version}, float(read(s)))
            yield family
        pending = GaugeMetricFamily(
            "nv_inference_pending_request_count",
            "Instantaneous number of pending requests awaiting execution per-model.",
            labels=LABELS,
        )
        for (model, version), count in sorted(self._pending().items()):
            pending.add_metric([model, version], count)
        yield pending
        ready = GaugeMetricFamily(
            "attentive_model_ready",
            "1 when the model version is loaded and ready, with the execution provider it runs on",
            labels=[*LABELS, "provider"],
        )
        for (model, version), (is_ready, provider) in sorted(self._ready().items()):
            ready.add_metric([model, version, provider], 1.0 if is_ready else 0.0)
        yield ready
        if self._server is not None:
            now = self._server()
            yield GaugeMetricFamily(
                "attentive_inference_in_flight",
                "Inference requests admitted and not yet answered (all models)",
                value=now.get("in_flight", 0),
            )
            rejected = Metric(
                "attentive_inference_rejected",
                "Inference requests refused for max_concurrent_requests (cumulative)",
                "unknown",
            )
            rejected.add_sample("attentive_inference_rejected", {}, float(now.get("rejected", 0)))
            yield rejected


def serve_metrics(collector: StatsCollector, host: str, port: int) -> tuple[Any, int]:
    """Start the HTTP exporter in a daemon thread; returns (server, bound port)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)  # type: ignore[arg-type]
    httpd, _thread = start_http_server(port, addr=host, registry=registry)
    bound = int(httpd.server_port)
    log.info("metrics on http://%s:%d/metrics", host, bound)
    return httpd, bound
