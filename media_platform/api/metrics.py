"""Prometheus metrics of the API: requests and latency per route template (``/shots/{shot_id}``,
never the concrete path, so the series stay few), served on ``GET /metrics``.

Each app has its own registry (several apps in one process, as in tests, never collide).
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from media_platform.api.auth import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "<unmatched>"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    """The API's series, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "media_platform_api_requests", "HTTP requests answered, by route template and status",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "media_platform_api_request_duration_seconds", "Time to answer a request (to the last byte)",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.in_flight = Gauge("media_platform_api_requests_in_flight", "Requests being answered",
                               registry=self.registry)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/episodes/{partition}``), else the mount's path,
    else ``<unmatched>`` (unknown paths do not each make a series)."""
    route: Any = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if path:
        return str(path)
    root = scope.get("root_path") or ""
    return f"{root}/*" if root else UNMATCHED


class MetricsMiddleware:
    """Counts every request (401s and 404s included) and times it until its last byte."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.in_flight.dec()
            route = route_template(scope)
            method = scope.get("method", "")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)
