"""Prometheus metrics for `GET /metrics` (README "Deployment on several machines").

Two kinds, both cheap to collect:

* **Per process** — HTTP requests answered by method, status and area, and their durations,
  counted by `MetricsMiddleware` with prometheus_client. Under gunicorn set
  `PROMETHEUS_MULTIPROC_DIR` (deploy/gunicorn.conf.py empties it at start and drops the files of
  workers that exit) and the endpoint sums every worker of the machine; without it each process
  reports its own.
* **Shared state** — what every machine sees alike, read from the database and the broker: job runs
  by kind and status, ingested rows by origin and outcome, open rejected rows, messages waiting
  in the broker's queues. Lower-layer code cannot import the apps that own some of these tables,
  so each app registers a small function (`register_state`) in `AppConfig.ready()`. The answer
  is kept in the shared cache for `METRICS_CACHE_SECONDS`, so scrapers of several web processes
  or machines cost the database one set of queries per interval.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from hmac import compare_digest

from django.conf import settings
from django.core.cache import cache
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

logger = logging.getLogger(__name__)

STATE_CACHE_KEY = "tl:metrics:state"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "tokenledger_http_requests",
    "HTTP requests answered, by method, status code and area (api, page, static, probe).",
    ["method", "status", "area"],
)
HTTP_DURATION = Histogram(
    "tokenledger_http_request_duration_seconds",
    "Time from the request reaching Django to its response, by area.",
    ["area"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)


def request_area(path: str) -> str:
    if path.startswith("/api/"):
        return "api"
    if path.startswith("/static/"):
        return "static"
    if path in ("/healthz", "/readyz", "/metrics"):
        return "probe"
    return "page"


class MetricsMiddleware:
    """Counts every response (first in MIDDLEWARE, so the others' answers count too)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        area = request_area(request.path)
        method = request.method if request.method in METHODS else "other"
        HTTP_REQUESTS.labels(method, str(response.status_code), area).inc()
        HTTP_DURATION.labels(area).observe(time.perf_counter() - started)
        return response


# Shared state -------------------------------------------------------------------------------------


@dataclass
class StateMetric:
    """A plain, cacheable metric: `kind` is "gauge" or "counter" (exposed with `_total`)."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...] = ()
    samples: list[tuple[tuple[str, ...], float]] = field(default_factory=list)

    def family(self):
        cls = CounterMetricFamily if self.kind == "counter" else GaugeMetricFamily
        metric = cls(self.name, self.help, labels=list(self.labels))
        for values, value in self.samples:
            metric.add_metric(list(values), value)
        return metric


_state_functions: list[Callable[[], Iterable[StateMetric]]] = []


def register_state(fn: Callable[[], Iterable[StateMetric]]) -> None:
    """Add a function that reads shared state (called at most once per cache interval)."""
    if fn not in _state_functions:
        _state_functions.append(fn)


def job_run_metrics() -> Iterable[StateMetric]:
    from django.db.models import Count

    from .models import JobRun

    runs = StateMetric(
        "tokenledger_job_runs",
        "gauge",
        "Background job runs in the database by kind and status (queued and running ones are pending work).",
        ("kind", "status"),
    )
    for row in JobRun.objects.order_by().values("kind", "status").annotate(n=Count("id")):
        runs.samples.append(((row["kind"], row["status"]), row["n"]))
    yield runs


def broker_queue_names() -> list[str]:
    from celery import current_app

    queues = current_app.conf.task_queues
    names = [q.name for q in queues] if queues else []
    return names or [current_app.conf.task_default_queue]


def queue_metrics() -> Iterable[StateMetric]:
    """Messages waiting in each Celery queue (taken but unacknowledged ones are not counted):
    a passive queue declaration answers the count on Redis, RabbitMQ and the filesystem broker."""
    from celery import current_app

    depth = StateMetric("tokenledger_queue_messages", "gauge", "Messages waiting in a Celery queue.", ("queue",))
    up = StateMetric("tokenledger_broker_up", "gauge", "1 when the broker answered the last collection.")
    try:
        with current_app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            channel = conn.default_channel
            for name in broker_queue_names():
                try:
                    _, count, _ = channel.queue_declare(queue=name, passive=True)
                except Exception:  # a queue no one has declared yet holds nothing
                    channel = conn.channel()
                    count = 0
                depth.samples.append(((name,), count))
        up.samples.append(((), 1))
    except Exception as exc:  # a metrics scrape reports the broker down, it does not fail
        logger.warning("metrics: broker unreachable (%s)", type(exc).__name__)
        up.samples.append(((), 0))
    return [depth, up]


register_state(job_run_metrics)
register_state(queue_metrics)


def collect_state() -> list[StateMetric]:
    started = time.perf_counter()
    metrics: list[StateMetric] = []
    for fn in _state_functions:
        metrics.extend(fn())
    metrics.append(
        StateMetric(
            "tokenledger_metrics_state_seconds",
            "gauge",
            "Time the shared-state metrics took to collect (cached for METRICS_CACHE_SECONDS).",
            samples=[((), round(time.perf_counter() - started, 6))],
        )
    )
    return metrics


def cached_state() -> list[StateMetric]:
    seconds = settings.METRICS_CACHE_SECONDS
    if seconds <= 0:
        return collect_state()
    state = cache.get(STATE_CACHE_KEY)
    if state is None:
        state = collect_state()
        cache.set(STATE_CACHE_KEY, state, seconds)
    return state


class _StateCollector:
    def collect(self):
        for metric in cached_state():
            yield metric.family()


def exposition() -> bytes:
    """The text format: this machine's processes (all gunicorn workers in multiprocess mode),
    then the shared state."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        process = CollectorRegistry()
        multiprocess.MultiProcessCollector(process)
    else:
        process = REGISTRY
    state = CollectorRegistry(auto_describe=False)
    state.register(_StateCollector())
    return generate_latest(process) + generate_latest(state)


# Access -------------------------------------------------------------------------------------------


def _networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    entries = (entry.strip() for entry in settings.METRICS_ALLOWED_IPS)
    return [ipaddress.ip_network(entry, strict=False) for entry in entries if entry]


def scrape_allowed(request) -> bool:
    """A scraper from an allowed address (the connection's, not a forwarded header, which anyone
    can write), or one that sends `Authorization: Bearer <METRICS_TOKEN>`."""
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and compare_digest(header[7:].strip().encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in _networks())
