"""The use cases, one orchestrator each, calling one function per pipeline stage.

* :func:`sync_config`: config -> store (the config's own feeds and subscribers)
* :func:`refresh_feeds`: sources -> parse -> normalize -> store, for due (or all) feeds
* :func:`ingest_paths`: the same from files and folders given on the command line
* :func:`cluster_new_entries`: store -> cluster -> store
* :func:`prune_entries`: retention: old entries -> tombstones
* :func:`run_due_digests`: store -> digest -> store (frozen issue + pending deliveries)
* :func:`deliver_pending`: store -> publish.email -> deliver -> store (ledger)

The CLI and the daemon call exactly these, so ``aggregator fetch`` does what the
daemon does. One bad feed never stops a pass and never deletes stored entries:
its failure is recorded on the feed. The clock comes in as ``now``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from aggregator import cluster, digest, normalize, parse, sources, workers
from aggregator.config import DigestSettings, Settings
from aggregator.deliver import open_transport
from aggregator.errors import (
    AggregatorError,
    DeliveryError,
    FeedGoneError,
    NotFoundError,
    ParseError,
    RetryLaterError,
    SourceError,
)
from aggregator.model import (
    DeliveryState,
    DigestIssue,
    Entry,
    EntrySignature,
    Feed,
    FetchOutcome,
    ParsedDocument,
    PruneReport,
    RawDocument,
)
from aggregator.publish.email import build_message, format_created, render_issue
from aggregator.sources import pages, polling
from aggregator.sources.files import expand_paths, read_file
from aggregator.sources.http import fetch_url
from aggregator.store import Store

log = logging.getLogger("aggregator")

Progress = Callable[[FetchOutcome], None]


# -- configuration -----------------------------------------------------------------


def sync_config(store: Store, settings: Settings, *, now: datetime) -> None:
    """The config's feeds and subscribers become rows; the store stays the truth."""
    store.sync_config_feeds(settings.feeds, now=now)
    store.sync_config_subscribers(settings.digests, now=now)


# -- fetching ----------------------------------------------------------------------


async def refresh_feeds(
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    due_only: bool = True,
    client: httpx.AsyncClient | None = None,
    progress: Progress | None = None,
) -> list[FetchOutcome]:
    """Poll the due (or all) feeds concurrently, within ``[fetch] concurrency``."""
    feeds = await asyncio.to_thread(store.due_feeds, now, include_not_due=not due_only)
    if not feeds:
        return []
    # A global limit, and one per host so a slow host never holds every slot.
    limit = asyncio.Semaphore(settings.fetch.concurrency)
    hosts: dict[str, asyncio.Semaphore] = {}
    owned = client is None
    client = client or sources.build_client(settings.fetch)
    try:

        async def one(feed: Feed) -> FetchOutcome:
            host = urlsplit(feed.url).hostname or ""
            per_host = hosts.setdefault(host, asyncio.Semaphore(settings.fetch.per_host))
            async with per_host, limit:
                outcome = await refresh_feed(feed, store, settings, now=now, client=client)
            if progress is not None:
                progress(outcome)
            return outcome

        return list(await asyncio.gather(*(one(feed) for feed in feeds)))
    finally:
        if owned:
            await client.aclose()


async def refresh_feed(
    feed: Feed, store: Store, settings: Settings, *, now: datetime, client: httpx.AsyncClient
) -> FetchOutcome:
    try:
        if feed.is_page:
            return await refresh_page(feed, store, settings, now=now, client=client)
        raw = await sources.fetch_feed(feed, client, settings.fetch)
        if raw.not_modified:  # costs no parsing and changes no entry
            await asyncio.to_thread(_record_success, store, feed, raw, settings, now)
            log.info("Feed not modified", extra={"feed": feed.url})
            return FetchOutcome(feed=feed, not_modified=True)
        pool = workers.shared(settings.parse.workers, _limits(settings))
        prepared = await pool.run(_job(feed, raw, settings, now))
        return await asyncio.to_thread(store_prepared, store, feed, raw, prepared, settings, now)
    except FeedGoneError as exc:
        await asyncio.to_thread(store.mark_feed_gone, feed.id, now=now, error=str(exc))
        log.warning("Feed gone, polling stopped: %s", exc, extra={"feed": feed.url})
        return FetchOutcome(feed=feed, error=str(exc))
    except RetryLaterError as exc:
        return await asyncio.to_thread(
            _record_failure, store, feed, str(exc), settings, now, exc.retry_after
        )
    except AggregatorError as exc:
        return await asyncio.to_thread(_record_failure, store, feed, str(exc), settings, now)
    except Exception as exc:  # a bug must cost one feed, not the pass
        log.exception("Unexpected error while refreshing %s", feed.url)
        problem = f"internal error ({type(exc).__name__}: {exc}); please report it"
        return await asyncio.to_thread(_record_failure, store, feed, problem, settings, now)


ARTICLES_PER_PASS = 10


async def refresh_page(
    feed: Feed, store: Store, settings: Settings, *, now: datetime, client: httpx.AsyncClient
) -> FetchOutcome:
    """A page source: its index page (conditional GET), then the articles not stored yet.

    At most ``ARTICLES_PER_PASS`` new articles are fetched per pass, ``per_host`` at a
    time, so following a busy front page stays polite; the rest come next pass. An
    article that fails is logged and skipped; only a failing index page is the feed's
    failure.
    """
    raw = await sources.fetch_feed(feed, client, settings.fetch)
    if raw.not_modified:
        await asyncio.to_thread(_record_success, store, feed, raw, settings, now)
        return FetchOutcome(feed=feed, not_modified=True)
    links = pages.find_article_links(raw.content, raw.url, raw.content_type)
    known = await asyncio.to_thread(store.known_urls, feed.id, links, now=now)
    fresh = [url for url in links if url not in known][:ARTICLES_PER_PASS]
    polite = asyncio.Semaphore(settings.fetch.per_host)

    async def article(url: str) -> list[Entry]:
        try:
            async with polite:
                page = await fetch_url(client, url, settings.fetch)
            document = parse.html.parse_html_page(page)
        except AggregatorError as exc:
            log.warning("Article skipped: %s", exc, extra={"feed": feed.url})
            return []
        return normalize.to_entries(document, feed_url=page.url, now=now, max_entries=1)

    found = [e for batch in await asyncio.gather(*(article(u) for u in fresh)) for e in batch]
    new = await asyncio.to_thread(store.upsert_entries, feed.id, found, now=now)
    await asyncio.to_thread(
        _record_success, store, feed, raw, settings, now, None, [e.published for e in found]
    )
    log.info("Page refreshed", extra={"feed": feed.url, "links": len(links), "new": len(new)})
    return FetchOutcome(feed=feed, new_entries=len(new), seen_entries=len(links))


def _limits(settings: Settings) -> parse.ParseLimits:
    return parse.ParseLimits(settings.parse.timeout, settings.parse.memory_mb)


def _job(
    feed: Feed, raw: RawDocument, settings: Settings, now: datetime, *, feeds_only: bool = True
) -> workers.Job:
    return workers.Job(
        raw=raw,
        now=now,
        feeds_only=feeds_only,
        limits=_limits(settings),
        max_entries=settings.fetch.max_entries,
        identity=settings.identity_of(feed.url),
    )


def store_document(
    store: Store,
    feed: Feed,
    raw: RawDocument,
    settings: Settings,
    now: datetime,
    *,
    feeds_only: bool = True,
) -> FetchOutcome:
    """parse -> normalize -> store, for one fetched document of one feed, in this process."""
    prepared = workers.prepare(_job(feed, raw, settings, now, feeds_only=feeds_only))
    return store_prepared(store, feed, raw, prepared, settings, now)


def store_prepared(
    store: Store,
    feed: Feed,
    raw: RawDocument,
    prepared: workers.Prepared,
    settings: Settings,
    now: datetime,
) -> FetchOutcome:
    """The store's part of a fetched document: its entries, and the feed's success."""
    entries = prepared.entries
    for warning in prepared.document.warnings:  # e.g. a guessed charset: readable, but say so
        log.info("Feed read with a warning: %s", warning, extra={"feed": feed.url})
    new = store.upsert_entries(feed.id, entries, now=now)
    _record_success(
        store, feed, raw, settings, now, prepared.document, [e.published for e in entries]
    )
    log.info("Feed refreshed", extra={"feed": feed.url, "new": len(new), "seen": len(entries)})
    return FetchOutcome(feed=feed, new_entries=len(new), seen_entries=len(entries))


def _record_success(
    store: Store,
    feed: Feed,
    raw: RawDocument,
    settings: Settings,
    now: datetime,
    document: ParsedDocument | None = None,
    published: Sequence[datetime] = (),
) -> None:
    hints = [raw.max_age, document.refresh_hint if document else None]
    title, site_url = normalize.feed_metadata(document) if document else ("", "")
    interval = polling.healthy_interval(
        settings.fetch, published=published, now=now, hints=hints, previous=feed.interval_seconds
    )
    store.record_fetch_success(
        feed.id,
        now=now,
        next_check_at=polling.with_jitter(now, interval),
        etag=raw.etag or feed.etag,
        last_modified=raw.last_modified or feed.last_modified,
        title=title,
        site_url=site_url,
        interval_seconds=int(interval.total_seconds()),
    )
    _follow_permanent_redirect(store, feed, raw.moved_to, settings)


def _follow_permanent_redirect(store: Store, feed: Feed, target: str, settings: Settings) -> None:
    if not target and not feed.moved_count:
        return  # no move seen now or before: nothing to count or reset (the common case)
    needed = settings.fetch.redirect_confirmations
    result = store.note_redirect(feed.id, target, confirmations=needed)
    fields = {"feed": feed.url, "to": target}
    if result == "pending":
        log.warning(
            "Feed moved permanently; the URL changes after %d redirects in a row "
            "(a single flapping redirect changes nothing)",
            needed,
            extra=fields,
        )
    elif result == "moved":
        log.warning("Feed URL updated after consistent permanent redirects", extra=fields)
    elif result == "conflict":
        log.warning("Feed redirects to a URL another feed already has; URL kept", extra=fields)


def _record_failure(
    store: Store,
    feed: Feed,
    problem: str,
    settings: Settings,
    now: datetime,
    retry_after: float | None = None,
) -> FetchOutcome:
    delay = polling.failure_delay(
        settings.fetch, errors=feed.error_count + 1, retry_after=retry_after
    )
    retry = polling.with_jitter(now, delay)
    store.record_fetch_error(feed.id, now=now, error=problem, next_check_at=retry)
    fields = {"feed": feed.url, "retry_at": retry.isoformat(), "errors": feed.error_count + 1}
    stale_after = timedelta(hours=settings.fetch.stale_after_hours)
    failing = replace(feed, failing_since=feed.failing_since or now)
    if failing.is_stale(now, stale_after):
        hours = (now - (feed.failing_since or now)).total_seconds() / 3600
        log.warning(
            "Feed stale, failing for %.0f h (still retried): %s", hours, problem, extra=fields
        )
    else:
        log.warning("Feed failed: %s", problem, extra=fields)
    return FetchOutcome(feed=feed, error=problem)


def ingest_paths(
    store: Store, settings: Settings, paths: Sequence[Path], *, now: datetime
) -> list[FetchOutcome]:
    """Read local feed files, HTML pages and text articles into the store.

    A feed file becomes its own feed; pages and articles belong to a feed named
    after their folder. Ingested feeds are not polled by the daemon.
    """
    outcomes: list[FetchOutcome] = []
    read: list[tuple[Feed, RawDocument]] = []
    for path in expand_paths(list(paths)):
        try:
            raw = read_file(path, max_bytes=settings.fetch.max_body_bytes)
        except SourceError as exc:
            outcomes.append(FetchOutcome(feed=Feed(id=0, url=path.as_uri()), error=str(exc)))
            continue
        is_feed = parse.detect_format(raw) in {"xml", "json"}
        owner = path.resolve() if is_feed else path.resolve().parent
        feed, _ = store.add_feed(
            owner.as_uri(), now=now, origin="ingest", title="" if is_feed else owner.name
        )
        read.append((feed, raw))
    # Parsed on every core, stored here in order as each document is ready.
    jobs = (_job(feed, raw, settings, now, feeds_only=False) for feed, raw in read)
    pool = workers.shared(settings.parse.workers, _limits(settings))
    for (feed, raw), prepared in zip(read, pool.map(jobs), strict=True):
        if isinstance(prepared, ParseError):
            outcomes.append(FetchOutcome(feed=feed, error=str(prepared)))
            continue
        try:
            outcomes.append(store_prepared(store, feed, raw, prepared, settings, now))
        except AggregatorError as exc:
            outcomes.append(FetchOutcome(feed=feed, error=str(exc)))
    return outcomes


# -- clustering --------------------------------------------------------------------


# Entries clustered per plan. Each plan rebuilds its index from the stored signatures of
# the window's entries, so a large batch spreads that cost over more new entries.
CLUSTER_BATCH = 20_000


def cluster_new_entries(
    store: Store, settings: Settings, *, now: datetime, batch: int = CLUSTER_BATCH
) -> int:
    """Give every entry without a story one; returns how many entries were placed.

    In batches (the store hands out a bounded number at a time), each seeing the
    stories the previous ones formed, until none is left. The stored entries within the
    window are read once, with their stored signatures, into one in-memory clusterer
    that every batch of the pass plans with; signatures computed on the way are stored
    with each plan.
    """
    window = timedelta(hours=settings.cluster.window_hours)
    clusterer = cluster.Clusterer(
        threshold=settings.cluster.threshold,
        duplicate=settings.cluster.duplicate,
        window=window,
    )
    placed = 0
    previous: set[int | None] = set()
    computed: dict[int, EntrySignature] | None = None
    while new := store.unclustered_entries(limit=batch):
        ids = {e.id for e in new}
        if ids == previous:  # nothing placed last time: never loop on it
            log.error("Clustering placed none of %d entries; left for the next pass", len(new))
            break
        previous = ids
        if computed is None:  # the first batch is the oldest: its window reaches furthest back
            candidates = store.clustered_entries_since(min(e.published for e in new) - window)
            stored = store.entry_signatures([e.id for e in candidates if e.id])
            computed = clusterer.place(candidates, stored)
        plan = clusterer.plan(new, store.entry_signatures([e.id for e in new if e.id]))
        if computed:
            plan = replace(plan, signatures={**computed, **plan.signatures})
            computed = {}
        clusterer.settle(store.apply_cluster_plan(plan, now=now))
        placed += len(new)
    return placed


# -- retention ---------------------------------------------------------------------


def prune_entries(
    store: Store, settings: Settings, *, now: datetime, days: int | None = None
) -> PruneReport:
    """Retention: entries first seen more than ``days`` (default ``[storage]
    retention_days``; 0 keeps every entry) ago become tombstones; tombstones of items no
    fetch listed for ``tombstone_days`` expire."""
    days = settings.storage.retention_days if days is None else days
    report = store.prune_entries(
        now=now,
        older_than=now - timedelta(days=days) if days > 0 else None,
        tombstones_before=now - timedelta(days=settings.storage.tombstone_days),
    )
    log.info(
        "Pruned",
        extra={
            "entries": report.entries,
            "stories": report.stories,
            "tombstones_expired": report.tombstones_expired,
        },
    )
    return report


# -- digests -----------------------------------------------------------------------


# A story can only grow while new entries fall in the clustering window; issues older than
# this cannot carry a story that still grows.
FOLLOW_UP_DAYS = timedelta(days=30)


def draft_issue(
    store: Store, settings: Settings, spec: DigestSettings, *, now: datetime
) -> DigestIssue:
    """The next issue of ``spec`` as it stands at ``now``, not stored (id 0).

    ``digest preview`` shows exactly this; :func:`build_digest_issue` freezes it.
    """
    state = store.digest_state(spec.name)
    stories = store.list_stories(
        limit=10_000, seen_after=state.last_window_end, seen_until=now, tags=spec.tags
    )
    ids = {feed.url: feed.id for feed in store.list_feeds()}
    feed_ids = {ids[url] for url in spec.feeds if url in ids} if spec.feeds else None
    priority = {ids[f.url]: f.priority for f in settings.feeds if f.priority and f.url in ids}
    return DigestIssue(
        id=0,
        digest=spec.name,
        title=digest.issue_title(spec, now),
        created_at=now,
        window_start=state.last_window_end,
        window_end=now,
        stories=digest.build_issue_stories(
            stories,
            spec,
            store.sent_stories(spec.name, since=now - FOLLOW_UP_DAYS),
            feed_ids=feed_ids,
            priority=priority,
        ),
    )


def build_digest_issue(
    store: Store, settings: Settings, spec: DigestSettings, *, now: datetime
) -> DigestIssue | None:
    """Freeze the next issue of ``spec`` and queue its deliveries; None when empty."""
    draft = draft_issue(store, settings, spec, now=now)
    next_run = digest.next_run_after(spec.schedule, spec.timezone, now)
    if not draft.stories:
        store.set_next_run(spec.name, next_run)
        return None
    issue = store.create_issue(
        digest=spec.name,
        title=draft.title,
        window_start=draft.window_start,
        window_end=draft.window_end,
        stories=draft.stories,
        now=now,
        next_run_at=next_run,
    )
    log.info(
        "Digest issue built",
        extra={"digest": spec.name, "issue": issue.id, "stories": len(issue.stories)},
    )
    return issue


def run_due_digests(store: Store, settings: Settings, *, now: datetime) -> list[DigestIssue]:
    issues = []
    for spec in settings.digests:
        if digest.is_due(spec, store.digest_state(spec.name), now):
            issue = build_digest_issue(store, settings, spec, now=now)
            if issue is not None:
                issues.append(issue)
    return issues


def find_digest(settings: Settings, name: str) -> DigestSettings:
    spec = settings.digest(name)
    if spec is None:
        known = ", ".join(d.name for d in settings.digests) or "none configured"
        raise NotFoundError(f"no digest named {name!r} (known: {known})")
    return spec


# -- delivery ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


RETRY_BASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8


def deliver_pending(store: Store, settings: Settings, *, now: datetime) -> DeliveryReport:
    """Send every due pending delivery; each one ends sent, retrying or failed."""
    due = store.due_deliveries(now)
    if not due:
        return DeliveryReport()
    sent = retrying = failed = 0
    rendered = {}
    with open_transport(settings.mail) as transport:
        for delivery in due:
            if not store.claim_delivery(delivery.id, now=now):
                continue
            issue = store.get_issue(delivery.issue_id)
            if issue.id not in rendered:  # render once per issue
                spec = settings.digest(issue.digest) or DigestSettings(name=issue.digest)
                rendered[issue.id] = (
                    render_issue(issue, digest=spec, publish=settings.publish),
                    format_created(issue),
                )
            body, created = rendered[issue.id]
            message = build_message(
                body,
                recipient=delivery.email,
                sender=settings.mail.sender,
                created=created,
                site_url=settings.publish.base_url,
            )
            try:
                transport.send(message, key=f"i{issue.id}s{delivery.subscriber_id}")
            except DeliveryError as exc:
                if exc.permanent or delivery.attempts + 1 >= MAX_ATTEMPTS:
                    store.mark_delivery(delivery.id, DeliveryState.FAILED, now=now, error=str(exc))
                    failed += 1
                else:
                    retry = now + RETRY_BASE * (2**delivery.attempts)
                    store.mark_delivery(
                        delivery.id,
                        DeliveryState.PENDING,
                        now=now,
                        error=str(exc),
                        next_attempt_at=retry,
                    )
                    retrying += 1
                log.warning("Delivery failed: %s", exc, extra={"issue": issue.id})
                continue
            store.mark_delivery(delivery.id, DeliveryState.SENT, now=now)
            sent += 1
    log.info("Deliveries done", extra={"sent": sent, "retrying": retrying, "failed": failed})
    return DeliveryReport(sent=sent, retrying=retrying, failed=failed)
