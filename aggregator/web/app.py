"""The web server's routes: the Atom feed with conditional GET, the home page, health;
subscribing and unsubscribing are in ``subscriptions.py``.

Endpoints are plain (sync) functions: Starlette runs them in its thread pool, so
database reads never block the event loop the scheduler shares.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from aggregator import pipeline
from aggregator.config import DigestSettings, Settings
from aggregator.errors import NotFoundError
from aggregator.publish import render_atom, render_home
from aggregator.publish.email import render_issue
from aggregator.store import Store
from aggregator.web.subscriptions import subscription_routes

HealthCheck = Callable[[], dict[str, Any]]
Clock = Callable[[], datetime]
ATOM_TYPE = "application/atom+xml; charset=utf-8"


def conditional_response(
    request: Request, body: bytes, *, media_type: str, last_modified: datetime, max_age: int = 60
) -> Response:
    """200 with validators, or 304 when the client's copy is current (RFC 9110 §13)."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(last_modified.astimezone(UTC), usegmt=True),
        "Cache-Control": f"public, max-age={max_age}",
    }
    if _is_fresh(request, etag, last_modified):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def _is_fresh(request: Request, etag: str, last_modified: datetime) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:  # If-None-Match wins over If-Modified-Since
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return etag in tags or "*" in tags
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return last_modified.replace(microsecond=0) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    store: Store,
    settings: Settings,
    *,
    health: HealthCheck | None = None,
    clock: Clock = _utc_now,
) -> Starlette:
    """The routes over ``store``; ``clock`` is the time the pages and metrics are read at."""

    def home(request: Request) -> Response:
        stories = store.list_stories(limit=50)
        return HTMLResponse(render_home(stories, settings=settings.publish, now=clock()))

    def all_atom(request: Request) -> Response:
        entries = store.list_entries(limit=settings.publish.max_entries)
        now = clock()
        body = render_atom(entries, settings=settings.publish, now=now)
        newest = max((e.first_seen_at or e.published for e in entries), default=now)
        return conditional_response(request, body, media_type=ATOM_TYPE, last_modified=newest)

    def issue_page(request: Request) -> Response:
        """A digest issue on the web, whole: where an email trimmed to its size budget links."""
        try:
            issue = store.get_issue(request.path_params["issue_id"])
        except NotFoundError as exc:
            return PlainTextResponse(str(exc), status_code=404)
        spec = settings.digest(issue.digest) or DigestSettings(name=issue.digest)
        rendered = render_issue(issue, digest=spec, publish=settings.publish, archive=True)
        return HTMLResponse(rendered.html)

    def healthz(request: Request) -> Response:
        report: dict[str, Any] = {"database": store.ping()}
        feeds = store.list_feeds() if report["database"] else []
        successes = [f.last_success_at for f in feeds if f.last_success_at]
        report["last_successful_fetch"] = max(successes).isoformat() if successes else None
        if health is not None:
            report.update(health())
        healthy = report["database"] and report.get("scheduler") != "stopped"
        report["status"] = "ok" if healthy else "unhealthy"
        return JSONResponse(report, status_code=200 if healthy else 503)

    def metrics(request: Request) -> Response:
        now = clock()
        stale_after = timedelta(hours=settings.fetch.stale_after_hours)
        feeds = store.list_feeds()
        states = Counter(f.state(now, stale_after) for f in feeds)
        deliveries = store.delivery_counts()
        lines = [
            "# HELP aggregator_feeds Feeds by state (stale: failing longer than the threshold).",
            "# TYPE aggregator_feeds gauge",
        ]
        lines += [
            f'aggregator_feeds{{state="{state}"}} {states.get(state, 0)}'
            for state in ("new", "ok", "failing", "stale", "gone")
        ]
        lines += [
            "# HELP aggregator_feed_errors Consecutive fetch errors, summed over feeds.",
            "# TYPE aggregator_feed_errors gauge",
            f"aggregator_feed_errors {sum(f.error_count for f in feeds)}",
            "# HELP aggregator_entries Entries in the store.",
            "# TYPE aggregator_entries gauge",
            f"aggregator_entries {store.count_entries()}",
            "# HELP aggregator_deliveries Digest deliveries by state.",
            "# TYPE aggregator_deliveries gauge",
        ]
        lines += [
            f'aggregator_deliveries{{state="{state}"}} {deliveries.get(state, 0)}'
            for state in ("pending", "sending", "sent", "failed")
        ]
        lines += _schedule_metrics(store, settings, now)
        return PlainTextResponse(
            "\n".join(lines) + "\n", media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    return Starlette(
        routes=[
            Route("/", home),
            Route("/feeds/all.atom", all_atom),
            Route("/issues/{issue_id:int}", issue_page),
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            *subscription_routes(store, settings, clock),
        ],
        middleware=[Middleware(GZipMiddleware, minimum_size=1024)],
    )


def _schedule_metrics(store: Store, settings: Settings, now: datetime) -> list[str]:
    """The figures of ``aggregator status``: next fetch, last success, digests' next runs
    and their last issue's deliveries by state (timestamps in Unix seconds)."""
    report = pipeline.status_report(store, settings, now=now, upcoming=1)
    lines = [
        "# HELP aggregator_next_fetch_timestamp_seconds When the next feed is due.",
        "# TYPE aggregator_next_fetch_timestamp_seconds gauge",
    ]
    lines += [
        f"aggregator_next_fetch_timestamp_seconds {f['at'].timestamp():.0f}"
        for f in report["next_fetches"]
    ]
    last_success = report["feeds"]["last_success_at"]
    lines += [
        "# HELP aggregator_last_success_timestamp_seconds The last successful fetch.",
        "# TYPE aggregator_last_success_timestamp_seconds gauge",
        f"aggregator_last_success_timestamp_seconds {last_success.timestamp():.0f}"
        if last_success
        else "aggregator_last_success_timestamp_seconds 0",
        "# HELP aggregator_digest_next_run_timestamp_seconds When each digest runs next.",
        "# TYPE aggregator_digest_next_run_timestamp_seconds gauge",
    ]
    digests = report["digests"]
    lines += [
        f'aggregator_digest_next_run_timestamp_seconds{{digest="{_label(d["name"])}"}} '
        f"{d['next_run_at'].timestamp():.0f}"
        for d in digests
        if d["next_run_at"] is not None
    ]
    lines += [
        "# HELP aggregator_digest_last_issue_deliveries The last issue's deliveries by state.",
        "# TYPE aggregator_digest_last_issue_deliveries gauge",
    ]
    for d in digests:
        counts = d["last_issue"]["deliveries"] if d["last_issue"] else {}
        lines += [
            f'aggregator_digest_last_issue_deliveries{{digest="{_label(d["name"])}",'
            f'state="{state}"}} {counts.get(state, 0)}'
            for state in ("pending", "sending", "sent", "failed")
        ]
    return lines


def _label(value: str) -> str:
    """A Prometheus label value: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
