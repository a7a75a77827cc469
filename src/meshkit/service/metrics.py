"""Prometheus metrics of one server process: executions, queue depth, scheduler lag, API latency."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from meshkit.core.runs import RunRecord

_DURATIONS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)


class ServiceMetrics:
    """The metrics, in a registry of their own (one per app, so tests never share counters)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.executions = Counter(
            "meshkit_executions_total", "Executions by final status.", ["status"], registry=reg
        )
        self.submissions = Counter("meshkit_executions_submitted_total", "Executions recorded (queued or skipped).",
                                   ["status"], registry=reg)  # fmt: skip
        self.duration = Histogram("meshkit_execution_duration_seconds", "Execution run time by final status.", ["status"],
                                  buckets=_DURATIONS, registry=reg)  # fmt: skip
        self.queue_depth = Gauge(
            "meshkit_execution_queue_depth", "Executions waiting to be launched.", registry=reg
        )
        self.running = Gauge(
            "meshkit_executions_running", "Executions this process is running.", registry=reg
        )
        self.scheduler_lag = Histogram("meshkit_scheduler_lag_seconds", "Delay from a schedule tick to its execution record.",
                                       buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60), registry=reg)  # fmt: skip
        self.start_latency = Histogram("meshkit_execution_start_seconds", "Delay from submission to launch.",
                                       buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30), registry=reg)  # fmt: skip
        self.api_latency = Histogram("meshkit_api_request_seconds", "API request latency.", ["method", "route", "status"],
                                     buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=reg)  # fmt: skip

    def submitted(self, status: str) -> None:
        self.submissions.labels(status=status).inc()

    def finished(self, run: RunRecord) -> None:
        self.executions.labels(status=run.status).inc()
        if run.duration is not None:
            self.duration.labels(status=run.status).observe(run.duration)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class StreamCollector:
    """The SyncTransfers' figures, read from their kept status at each scrape: lag per partition or
    slot (messages, or WAL bytes for a slot), lag in seconds, batches, rows by operation, last commit."""

    def __init__(self, meshkit) -> None:
        self.meshkit = meshkit

    def describe(self):
        return []

    def collect(self):
        from datetime import datetime

        from meshkit.data.transfer import list_transfers

        lag = GaugeMetricFamily("meshkit_stream_lag", "Messages (or WAL bytes) behind, per partition or slot.",
                                labels=["transfer", "part"])  # fmt: skip
        seconds = GaugeMetricFamily(
            "meshkit_stream_lag_seconds", "Age of the newest record applied.", labels=["transfer"]
        )
        batches = CounterMetricFamily("meshkit_stream_batches", "Batches committed by the current or last run.",
                                      labels=["transfer"])  # fmt: skip
        rows = CounterMetricFamily("meshkit_stream_rows", "Rows applied by operation (current or last run).",
                                   labels=["transfer", "operation"])  # fmt: skip
        commit = GaugeMetricFamily("meshkit_stream_last_commit_timestamp_seconds", "Time of the last commit.",
                                   labels=["transfer"])  # fmt: skip
        for status in list_transfers(self.meshkit):
            if status.get("batches") is None:
                continue
            name = status["name"]
            for part, value in (status.get("lagByPartition") or {}).items():
                lag.add_metric([name, part], value)
            seconds.add_metric([name], status.get("lagSeconds") or 0)
            batches.add_metric([name], status["batches"])
            for op, value in (
                status.get("rowsByOperation") or {"insert": status.get("numRecords") or 0}
            ).items():
                rows.add_metric([name, op], value)
            if status.get("lastCommitTime"):
                stamp = datetime.fromisoformat(status["lastCommitTime"].replace("Z", "+00:00"))
                commit.add_metric([name], stamp.timestamp())
        yield from (lag, seconds, batches, rows, commit)
