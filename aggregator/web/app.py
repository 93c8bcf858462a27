"""The web server's routes: the feeds (answered from cached bytes, see ``feeds.py``),
the pages (home, story, digest archive, issue), health and metrics; subscribing and
unsubscribing are in ``subscriptions.py``.

Endpoints that read the database are plain (sync) functions or hand their work to a
thread: Starlette runs them in its thread pool, so database reads never block the event
loop the scheduler shares. A feed whose bytes are current is answered on the loop.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from aggregator import pipeline
from aggregator.config import DigestSettings, Settings
from aggregator.errors import NotFoundError
from aggregator.model import Feed
from aggregator.publish.email import render_issue
from aggregator.publish.html import render_digest_archive, render_home, render_story
from aggregator.publish.site import Site
from aggregator.store import Store
from aggregator.web.admin import ADMIN_TOKEN_ENV, admin_routes
from aggregator.web.feeds import serve_feed
from aggregator.web.subscriptions import subscription_routes

HealthCheck = Callable[[], dict[str, Any]]
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    store: Store,
    settings: Settings,
    *,
    health: HealthCheck | None = None,
    clock: Clock = _utc_now,
    feed_recheck: float = 1.0,
    admin_token: str | None = None,
    site: Site | None = None,
) -> Starlette:
    """The routes over ``store``; ``clock`` is the time the pages and metrics are read at.
    A change in the store shows in the feeds within ``feed_recheck`` seconds. The admin
    API takes ``admin_token`` (default: ``AGGREGATOR_ADMIN_TOKEN``; empty: the API is off).
    ``site``: the feeds' cache, when the caller shares it (the daemon announces from it).
    """
    if admin_token is None:
        admin_token = os.environ.get(ADMIN_TOKEN_ENV, "")

    if site is None:
        site = Site(store, settings, recheck=feed_recheck)

    def home(request: Request) -> Response:
        stories = store.list_stories(limit=50)
        page = render_home(
            stories,
            settings=settings.publish,
            now=clock(),
            digests=settings.digests,
            tags=sorted(site.tag_feed_ids()),
            subscribe=True,
        )
        return HTMLResponse(page)

    async def feed(request: Request) -> Response:
        return await serve_feed(request, site, request.scope["path"])

    def story_page(request: Request) -> Response:
        found = store.list_stories(limit=1, story_id=request.path_params["story_id"])
        if not found:
            return PlainTextResponse("no such story", status_code=404)
        return HTMLResponse(render_story(found[0], settings=settings.publish))

    async def digest(request: Request) -> Response:
        """``/digests/NAME.atom`` (and its pages) is the digest's feed; ``/digests/NAME``
        its archive of issues."""
        path = request.scope["path"]
        if path.endswith(".atom"):
            return await serve_feed(request, site, path)
        return await run_in_threadpool(digest_archive, request.path_params["rest"])

    def digest_archive(name: str) -> Response:
        spec = settings.digest(name)
        if spec is None:
            return PlainTextResponse("no such digest", status_code=404)
        issues = store.list_issues(spec.name, limit=1000)
        return HTMLResponse(render_digest_archive(spec, issues, settings=settings.publish))

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
        lines += _schedule_metrics(store, settings, now, feeds)
        lines += _memory_metrics(site)
        return PlainTextResponse(
            "\n".join(lines) + "\n", media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    # Pages are compressed as they are sent; feeds carry their own gzip form, made once
    # per change (the middleware would compress every response again, and add its Vary).
    zipped = [Middleware(GZipMiddleware, minimum_size=1024)]
    return Starlette(
        routes=[
            Route("/", home, middleware=zipped),
            Route("/feeds/{rest:path}", feed, methods=["GET", "HEAD"]),
            Route("/stories/{story_id:int}", story_page, middleware=zipped),
            Route("/digests/{rest:path}", digest, methods=["GET", "HEAD"]),
            Route("/issues/{issue_id:int}", issue_page, middleware=zipped),
            Route("/healthz", healthz),
            Route("/metrics", metrics, middleware=zipped),
            *subscription_routes(store, settings, clock),
            *admin_routes(store, settings, clock, admin_token),
        ],
    )


def _memory_metrics(site: Site) -> list[str]:
    """What the feed caches hold (bounded by ``[publish] cache_mb``) and, on Linux, this
    process's resident memory: what a long-running daemon must keep flat."""
    lines = [
        "# HELP aggregator_web_cache_bytes Bytes held by each cache of rendered feeds.",
        "# TYPE aggregator_web_cache_bytes gauge",
    ]
    lines += [
        f'aggregator_web_cache_bytes{{cache="{name}"}} {held}'
        for name, held in site.memory().items()
    ]
    resident = resident_bytes()
    if resident is not None:
        lines += [
            "# HELP process_resident_memory_bytes Resident memory of this process.",
            "# TYPE process_resident_memory_bytes gauge",
            f"process_resident_memory_bytes {resident}",
        ]
    return lines


def resident_bytes() -> int | None:
    """This process's resident set size, from /proc (None where there is none)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def _schedule_metrics(
    store: Store, settings: Settings, now: datetime, feeds: Sequence[Feed]
) -> list[str]:
    """The figures of ``aggregator status``: next fetch, last success, digests' next runs
    and their last issue's deliveries by state (timestamps in Unix seconds)."""
    stale_after = timedelta(hours=settings.fetch.stale_after_hours)
    report = pipeline.feed_status(feeds, now=now, stale_after=stale_after, upcoming=1)
    report["digests"] = pipeline.digest_status(store, settings, now=now)
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
