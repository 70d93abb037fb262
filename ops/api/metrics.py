"""Prometheus gauges measured at scrape time, and the API's own request metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from ops.api.stream import SignalHub, stream_metrics
from ops.monitor import SystemMonitor
from ops.supervisor import SupervisorStatus


class ScrapeCollector:
    """Prometheus gauges measured at scrape time: host, modules (heartbeats + their counters), supervisor."""

    def __init__(
        self, monitor: SystemMonitor, supervisor: Callable[[], SupervisorStatus | None], hub: SignalHub
    ) -> None:
        self.monitor, self.supervisor, self.hub = monitor, supervisor, hub

    def collect(self) -> Any:
        system = self.monitor.system()
        for name, value, doc in (
            ("arbflow_system_cpu_percent", system.cpu_pct, "Host CPU use, all cores"),
            ("arbflow_system_memory_percent", system.memory_pct, "Host memory use"),
            ("arbflow_system_disk_percent", system.disk_pct, "Use of the filesystem holding the data directory"),
            ("arbflow_system_uptime_seconds", system.uptime_s, "Seconds since host boot"),
        ):
            yield GaugeMetricFamily(name, doc, value=value)
        up = GaugeMetricFamily(
            "arbflow_module_up", "1 when the module's last heartbeat is fresh and ok", labels=["module"]
        )
        age = GaugeMetricFamily("arbflow_module_heartbeat_age_seconds", "Age of the last heartbeat", labels=["module"])
        counters = GaugeMetricFamily(
            "arbflow_module_counter", "Counters a module reports with its heartbeat", labels=["module", "name"]
        )
        for health in self.monitor.modules(system.ts):
            up.add_metric([health.module], 1.0 if health.status == "healthy" else 0.0)
            if health.age_s is not None:
                age.add_metric([health.module], health.age_s)
            for name, value in sorted(health.counters.items()):
                counters.add_metric([health.module, name], float(value))
        yield from (up, age, counters)
        for name, (value, doc) in stream_metrics(self.hub.stats, len(self.hub.subscribers)).items():
            yield GaugeMetricFamily(name, doc, value=value)
        status = self.supervisor()
        if status is not None:
            yield GaugeMetricFamily(
                "arbflow_supervisor_restarts", "Restarts of the supervised dataflow", value=status.restarts
            )
            yield GaugeMetricFamily(
                "arbflow_supervisor_running", "1 when the supervised dataflow runs", value=status.state == "running"
            )


def http_metrics(registry: CollectorRegistry) -> tuple[Counter, Histogram]:
    """Requests by method, route and status, and response time by route."""
    requests = Counter("arbflow_http_requests", "API requests", ["method", "route", "status"], registry=registry)
    latency = Histogram(
        "arbflow_http_request_duration_seconds",
        "API response time",
        ["route"],
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        registry=registry,
    )
    return requests, latency
