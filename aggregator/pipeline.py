"""The use cases, one orchestrator each, calling one function per pipeline stage.

* :func:`sync_config`: config -> store (the config's own feeds and subscribers)
* :func:`refresh_feeds`: sources -> parse -> normalize -> store, for due (or all) feeds
* :func:`ingest_paths`: the same from files and folders given on the command line
* :func:`cluster_new_entries`: store -> cluster -> store
* :func:`prune_entries`: retention: old entries -> tombstones
* :func:`run_due_digests`: store -> digest -> store (frozen issue + pending deliveries)
* :func:`deliver_pending`: store -> publish.email -> deliver -> store (ledger)
* :func:`status_report`: what the daemon is doing and will do next, from the store
* :func:`request_subscription`, :func:`confirm_subscription`, :func:`unsubscribe`: the
  double opt-in and the way out, from signed links (the web edge calls these)

The CLI and the daemon call exactly these, so ``aggregator fetch`` does what the
daemon does. One bad feed never stops a pass and never deletes stored entries:
its failure is recorded on the feed. The clock comes in as ``now``.

Digests, email and normalization are imported inside the functions that use them:
a command loads what it runs (``aggregator fetch`` neither Jinja2, Babel, aiosmtplib
nor apscheduler, and when every feed answers 304 not lxml and nh3 either).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import httpx

from aggregator import inbound, instance, parse, sources, workers
from aggregator.config import DigestSettings, Settings
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
    Delivery,
    DeliveryOutcome,
    DeliveryState,
    DigestIssue,
    DigestState,
    Entry,
    EntrySignature,
    Feed,
    FetchOutcome,
    ParsedDocument,
    PruneReport,
    RawDocument,
    Subscriber,
    UnchangedCheck,
)
from aggregator.sources import polling
from aggregator.sources.files import expand_paths, read_file
from aggregator.sources.http import fetch_url
from aggregator.store import Store

if TYPE_CHECKING:
    from aggregator.cluster.standing import StandingClusterer
    from aggregator.deliver import Outgoing, Transport
    from aggregator.digest import Due
    from aggregator.digest.tokens import Signer
    from aggregator.publish.email import Unsubscribe
    from aggregator.publish.prepared import PreparedIssue
    from aggregator.store.digests import DeliveryLedger

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
    with StoreThread() as calls:
        feeds = await calls.run(store.due_feeds, now, include_not_due=not due_only)
        if not feeds:
            return []
        return await _refresh(feeds, store, settings, calls, now, client, progress)


async def _refresh(
    feeds: Sequence[Feed],
    store: Store,
    settings: Settings,
    calls: StoreThread,
    now: datetime,
    client: httpx.AsyncClient | None,
    progress: Progress | None,
) -> list[FetchOutcome]:
    """:func:`refresh_feeds` once the due feeds are known."""
    if any(not (f.etag or f.last_modified or f.is_page) for f in feeds):
        # A feed without validators answers with a document: start the parse workers
        # while the first requests are on their way, not when the first answer is in.
        # (A pass of 304s, the usual one, starts none.)
        workers.shared(settings.parse.workers, _limits(settings)).start()
    # A global limit, and one per host so a slow host never holds every slot.
    limit = asyncio.Semaphore(settings.fetch.concurrency)
    hosts: dict[str, asyncio.Semaphore] = {}
    owned = client is None
    client = client or sources.build_client(settings.fetch)
    poll = PollingPass(store, settings, now, client, calls, UnchangedChecks(store, now, calls))
    try:

        async def one(feed: Feed) -> FetchOutcome:
            host = urlsplit(feed.url).hostname or ""
            per_host = hosts.setdefault(host, asyncio.Semaphore(settings.fetch.per_host))
            async with per_host, limit:
                outcome = await poll.refresh(feed)
            if progress is not None:
                progress(outcome)
            return outcome

        return list(await asyncio.gather(*(one(feed) for feed in feeds)))
    finally:
        await poll.unchanged.flush()
        if owned:
            await client.aclose()


ARTICLES_PER_PASS = 10


@dataclass(frozen=True, slots=True)
class PollingPass:
    """What every feed of one polling pass shares: the store and the thread its calls
    run on, the settings, the pass's clock, the HTTP client, and the pass's 304s
    (recorded in batches, flushed by the pass when it ends)."""

    store: Store
    settings: Settings
    now: datetime
    client: httpx.AsyncClient
    calls: StoreThread
    unchanged: UnchangedChecks

    async def refresh(self, feed: Feed) -> FetchOutcome:
        """Poll one feed (or page source) and store what changed."""
        store, settings, now, calls = self.store, self.settings, self.now, self.calls
        try:
            if feed.is_page:
                return await self._refresh_page(feed)
            # A compressed body stays compressed until its parse worker (see parse.inflate).
            raw = await sources.fetch_feed(feed, self.client, settings.fetch, compressed=True)
            if raw.not_modified:  # costs no parsing and changes no entry
                if not raw.moved_to and not feed.moved_count:
                    await self.unchanged.add(_next_check(feed, raw, settings, now))
                else:  # on its own, with the redirect bookkeeping
                    await calls.run(_record_success, store, feed, raw, settings, now)
                log.info("Feed not modified", extra={"feed": feed.url})
                return FetchOutcome(feed=feed, not_modified=True)
            pool = workers.shared(settings.parse.workers, _limits(settings))
            prepared = await pool.run(_job(feed, raw, settings, now))
            return await calls.run(store_prepared, store, feed, raw, prepared, settings, now)
        except FeedGoneError as exc:
            await calls.run(store.mark_feed_gone, feed.id, now=now, error=str(exc))
            log.warning("Feed gone, polling stopped: %s", exc, extra={"feed": feed.url})
            return FetchOutcome(feed=feed, error=str(exc))
        except RetryLaterError as exc:
            return await calls.run(
                _record_failure, store, feed, str(exc), settings, now, exc.retry_after
            )
        except AggregatorError as exc:
            return await calls.run(_record_failure, store, feed, str(exc), settings, now)
        except Exception as exc:  # a bug must cost one feed, not the pass
            log.exception("Unexpected error while refreshing %s", feed.url)
            problem = f"internal error ({type(exc).__name__}: {exc}); please report it"
            return await calls.run(_record_failure, store, feed, problem, settings, now)

    async def _refresh_page(self, feed: Feed) -> FetchOutcome:
        """A page source: its index page (conditional GET), then the articles not yet
        stored.

        At most ``ARTICLES_PER_PASS`` new articles are fetched per pass, ``per_host`` at a
        time, so following a busy front page stays polite; the rest come next pass. An
        article that fails is logged and skipped; only a failing index page is the feed's
        failure.
        """
        from aggregator import normalize
        from aggregator.parse.html import parse_html_page
        from aggregator.sources import pages

        store, settings, now, calls = self.store, self.settings, self.now, self.calls
        client = self.client
        raw = await sources.fetch_feed(feed, client, settings.fetch)
        if raw.not_modified:
            await calls.run(_record_success, store, feed, raw, settings, now)
            return FetchOutcome(feed=feed, not_modified=True)
        links = pages.find_article_links(raw.content, raw.url, raw.content_type)
        known = await calls.run(store.known_urls, feed.id, links, now=now)
        fresh = [url for url in links if url not in known][:ARTICLES_PER_PASS]
        polite = asyncio.Semaphore(settings.fetch.per_host)

        async def article(url: str) -> list[Entry]:
            try:
                async with polite:
                    page = await fetch_url(client, url, settings.fetch)
                document = parse_html_page(page)
            except AggregatorError as exc:
                log.warning("Article skipped: %s", exc, extra={"feed": feed.url})
                return []
            return normalize.to_entries(
                document,
                feed_url=page.url,
                now=now,
                max_entries=1,
                iframe_hosts=settings.parse.frame_hosts,
            )

        found = [e for batch in await asyncio.gather(*(article(u) for u in fresh)) for e in batch]
        new = await calls.run(store.upsert_entries_counted, feed.id, found, now=now)
        await calls.run(
            _record_success, store, feed, raw, settings, now, None, [e.published for e in found]
        )
        log.info("Page refreshed", extra={"feed": feed.url, "links": len(links), "new": new})
        return FetchOutcome(feed=feed, new_entries=new, seen_entries=len(links))


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
        max_bytes=settings.fetch.max_body_bytes,
        iframe_hosts=settings.parse.frame_hosts,
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
    with store.transaction():  # the entries and the feed's new validators land together
        new = store.upsert_entries_counted(feed.id, entries, now=now)
        _record_success(
            store,
            feed,
            raw,
            settings,
            now,
            prepared.document,
            [e.published for e in entries],
            (prepared.title, prepared.site_url),
        )
    log.info("Feed refreshed", extra={"feed": feed.url, "new": new, "seen": len(entries)})
    return FetchOutcome(feed=feed, new_entries=new, seen_entries=len(entries))


def _record_success(
    store: Store,
    feed: Feed,
    raw: RawDocument,
    settings: Settings,
    now: datetime,
    document: ParsedDocument | None = None,
    published: Sequence[datetime] = (),
    metadata: tuple[str, str] = ("", ""),
) -> None:
    """``metadata`` is the feed's cleaned title and site link (:class:`workers.Prepared`);
    empty ones leave the stored ones as they are."""
    check = _next_check(feed, raw, settings, now, document, published)
    title, site_url = metadata
    store.record_fetch_success(
        feed.id,
        now=now,
        next_check_at=check.next_check_at,
        etag=check.etag,
        last_modified=check.last_modified,
        title=title,
        site_url=site_url,
        interval_seconds=check.interval_seconds,
    )
    _follow_permanent_redirect(store, feed, raw.moved_to, settings)


def _next_check(
    feed: Feed,
    raw: RawDocument,
    settings: Settings,
    now: datetime,
    document: ParsedDocument | None = None,
    published: Sequence[datetime] = (),
) -> UnchangedCheck:
    """The feed's polling state after a successful poll: when to look again, validators."""
    hints = [raw.max_age, document.refresh_hint if document else None]
    interval = polling.healthy_interval(
        settings.fetch, published=published, now=now, hints=hints, previous=feed.interval_seconds
    )
    return UnchangedCheck(
        feed_id=feed.id,
        next_check_at=polling.with_jitter(now, interval),
        etag=raw.etag or feed.etag,
        last_modified=raw.last_modified or feed.last_modified,
        interval_seconds=int(interval.total_seconds()),
    )


_Result = TypeVar("_Result")


class StoreThread:
    """A polling pass's store calls, made one at a time on one thread of their own.

    Writes wait for the database's write lock in turn whatever thread makes them. With
    a thread per call (``asyncio.to_thread``), up to six threads queued on that lock and
    on the interpreter's lock beside the event loop and the parse workers' threads; on a
    first pass the hand-offs cost the fetching process a tenth of its CPU
    (``bench/ingest.py``). On one thread the calls run in the order the pass makes them.
    """

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="aggregator-store")

    async def run(self, function: Callable[..., _Result], /, *args: Any, **kwargs: Any) -> _Result:
        """``function(*args, **kwargs)`` on the store thread (in this task's context, as
        ``asyncio.to_thread`` runs it)."""
        call = functools.partial(contextvars.copy_context().run, function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._thread, call)

    def __enter__(self) -> StoreThread:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._thread.shutdown(wait=True)


class UnchangedChecks:
    """The 304s of a pass, recorded a batch at a time in one transaction each.

    Most polls of a healthy subscription list answer 304. Recording each in its own
    transaction cost about as much as the network wait of the whole pass; a batch costs
    one commit. A crash loses at most one batch of "checked at" times: those feeds are
    simply asked again (a conditional GET), nothing else is lost.
    """

    def __init__(self, store: Store, now: datetime, calls: StoreThread, batch: int = 100) -> None:
        self.store = store
        self.now = now
        self.calls = calls
        self.batch = batch
        self._checks: list[UnchangedCheck] = []

    async def add(self, check: UnchangedCheck) -> None:
        self._checks.append(check)
        if len(self._checks) >= self.batch:
            await self.flush()

    async def flush(self) -> None:
        checks, self._checks = self._checks, []
        if checks:
            await self.calls.run(self.store.record_unchanged_checks, checks, now=self.now)


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


# Entries clustered per plan: a backlog (a first fetch, a restart after days) is planned
# in batches, each seeing the stories the previous ones formed.
CLUSTER_BATCH = 20_000


# How long signing's memos are kept across the daemon's passes (see KeptClusterer).
MEMO_LIFETIME = timedelta(minutes=1)


class KeptClusterer:
    """What the daemon keeps of clustering from one pass to the next: a standing
    clusterer (:mod:`aggregator.cluster.standing`), made at the first pass with work so
    that starting the daemon does not import numpy and the signature tables.

    It also empties signing's memos once they are ``MEMO_LIFETIME`` old
    (``signature.forget_memos``): kept for good, they fill a few words at a time
    during every pass and pin pymalloc's arenas; emptied after every pass, a daemon's
    small passes (a tick's few feeds) would sign from cold memos, a tenth slower."""

    def __init__(self) -> None:
        self.standing: StandingClusterer | None = None
        self.memos_since: datetime | None = None


def _stored_signatures(store: Store, entries: Sequence[Entry]) -> dict[int, EntrySignature]:
    """The stored clustering signatures of ``entries`` (those that have one)."""
    return store.entry_signatures([e.id for e in entries if e.id])


def cluster_new_entries(
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    batch: int = CLUSTER_BATCH,
    kept: KeptClusterer | None = None,
) -> int:
    """Give every entry without a story one; returns how many entries were placed.

    In batches (the store hands out a bounded number at a time), each seeing the
    stories the previous ones formed, until none is left. One clusterer plans every
    batch of the pass; it holds the clustered entries within the window of the oldest
    new one. Without ``kept`` it is made for the pass, reading those entries and their
    stored signatures; with ``kept`` (the daemon) the one of the previous pass goes on,
    reading only the entries it lacks. The plans are the same either way. Signatures
    computed on the way are stored with each plan.
    """
    new = store.unclustered_entries(limit=batch)
    if not new:
        return 0
    # Imported when there is work: numpy and the signature tables are a fifth of a second
    # of start-up, and most polling passes bring nothing new.
    from aggregator.cluster import PLACE_CHUNK, collector_paused, late_margin, parallel
    from aggregator.cluster.signature import forget_memos
    from aggregator.cluster.standing import StandingClusterer

    if kept is None:
        kept = KeptClusterer()
    if kept.standing is None:
        kept.standing = StandingClusterer()
    standing = kept.standing
    window = timedelta(hours=settings.cluster.window_hours)
    # The first batch is the oldest: its window reaches furthest back.
    since = min(e.published for e in new) - window
    rebuilds = standing.rebuilds
    clusterer, missing = standing.begin(
        settings.cluster, stored=store.clustered_stories_since(since), since=since
    )
    if standing.rebuilds != rebuilds:
        # Made anew: with the entries before the window that a clusterer going on keeps
        # (cluster.late_margin, out of every lookup), so that it holds what that one would, and
        # batches reaching further back do not read them again one stretch at a time.
        missing = sorted(store.clustered_stories_since(since - late_margin(window)))
    # A backlog's batches are signed on every core (small ones in this process only). The
    # workers start on first use and stop with the pass: a daemon keeps none between.
    clusterer.signers = parallel.Signers(
        workers.signing_processes(settings.parse.workers), _limits(settings)
    )
    computed: dict[int, EntrySignature] = {}
    placed = 0
    previous: set[int | None] = set()
    try:
        # Read and placed a chunk at a time: after a restart that is the whole window, and
        # its rows all at once were a peak the process kept (cluster.PLACE_CHUNK).
        for start in range(0, len(missing), PLACE_CHUNK):
            chunk = missing[start : start + PLACE_CHUNK]
            computed |= clusterer.place(
                store.candidate_entries(chunk), store.entry_signatures(chunk)
            )
        # A backlog without cyclic collection until it is done: each batch leaves some
        # hundred thousand long-lived containers (the index), and a collection after each
        # walked them all again (a few per cent of its time). A daemon's pass of one
        # batch pauses it only while planning (Clusterer.plan), as before: garbage the
        # store's calls leave is collected as they make it, not kept for the pass.
        backlog = len(new) >= batch
        signatures = _stored_signatures(store, new)
        with collector_paused() if backlog else contextlib.nullcontext():
            while new:
                ids = {e.id for e in new}
                if ids == previous:  # nothing placed last time: never loop on it
                    log.error(
                        "Clustering placed none of %d entries; left for the next pass", len(new)
                    )
                    break
                previous = ids
                # The next batch read now, so that the signing workers begin on it while this
                # one is planned and stored (Clusterer.plan's ahead). Its stored signatures
                # stay valid: a plan stores only its own batch's.
                following: list[Entry] = []
                following_signatures: dict[int, EntrySignature] = {}
                if len(new) >= batch:
                    following = store.unclustered_entries(limit=batch, after=new[-1])
                    following_signatures = _stored_signatures(store, following)
                plan = clusterer.plan(
                    new, signatures, ahead=following, ahead_signatures=following_signatures
                )
                if computed:
                    plan = replace(plan, signatures={**computed, **plan.signatures})
                    computed = {}
                clusterer.settle(store.apply_cluster_plan(plan, now=now))
                placed += len(new)
                new, signatures = following, following_signatures
                if not new:  # entries stored meanwhile with an earlier date come in now
                    new = store.unclustered_entries(limit=batch)
                    signatures = _stored_signatures(store, new)
    except BaseException:
        standing.reset()  # memory may hold a plan the store did not take
        raise
    finally:
        clusterer.signers.close()
        clusterer.signers = None
        if kept.memos_since is None or now - kept.memos_since < timedelta(0):
            kept.memos_since = now
        elif now - kept.memos_since >= MEMO_LIFETIME:
            forget_memos()
            kept.memos_since = now
    return placed


def spread_overdue_feeds(store: Store, settings: Settings, *, now: datetime) -> int:
    """After downtime, spread the feeds that fell due over ``[schedule] catch_up_minutes``
    (beyond one pass's worth); returns how many were moved."""
    overdue = store.due_feeds(now)
    moves = polling.spread_overdue(
        overdue,
        now,
        burst=settings.fetch.concurrency,
        window=timedelta(minutes=settings.schedule.catch_up_minutes),
    )
    store.reschedule_feeds(moves)
    if moves:
        log.info(
            "Catching up after downtime: overdue feeds spread out",
            extra={
                "overdue": len(overdue),
                "spread": len(moves),
                "minutes": settings.schedule.catch_up_minutes,
            },
        )
    return len(moves)


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
    from aggregator import digest

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
            # Only what an earlier issue said of these stories is looked at.
            store.sent_stories(
                spec.name, since=now - FOLLOW_UP_DAYS, story_ids=[s.id for s in stories]
            ),
            feed_ids=feed_ids,
            priority=priority,
        ),
    )


def build_digest_issue(
    store: Store, settings: Settings, spec: DigestSettings, *, now: datetime
) -> DigestIssue | None:
    """Freeze the next issue of ``spec`` and queue its deliveries; None when it has no
    story (unless the digest says ``send_empty``)."""
    from aggregator import digest

    draft = draft_issue(store, settings, spec, now=now)
    next_run = digest.next_run_after(spec.schedule, spec.timezone, now)
    if not draft.stories and not spec.send_empty:
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


def due_digests(
    store: Store, settings: Settings, *, now: datetime
) -> list[tuple[DigestSettings, DigestState, Due]]:
    """Each configured digest with its state and what is due at ``now``
    (``digest.catch_up``): what :func:`run_due_digests` acts on, and what the daemon
    reads to decide whether a tick needs a digest process (``offload.DigestProcess``)."""
    from aggregator import digest

    grace = timedelta(hours=settings.schedule.digest_grace_hours)
    found = []
    for spec in settings.digests:
        state = store.digest_state(spec.name)
        found.append((spec, state, digest.catch_up(spec, state, now, grace=grace)))
    return found


def run_due_digests(store: Store, settings: Settings, *, now: datetime) -> list[DigestIssue]:
    """Build the issues that are due: at most one per digest, however long the daemon was
    away; a run missed by more than ``[schedule] digest_grace_hours`` is skipped."""
    from aggregator import digest

    issues = []
    for spec, state, decision in due_digests(store, settings, now=now):
        if decision is digest.Due.SKIP:
            next_run = digest.next_run_after(spec.schedule, spec.timezone, now)
            store.set_next_run(spec.name, next_run)
            log.warning(
                "Digest run missed while the daemon was down, older than the grace period: "
                "skipped; its entries go in the next issue",
                extra={
                    "digest": spec.name,
                    "missed": state.next_run_at.isoformat() if state.next_run_at else "",
                    "next": next_run.isoformat(),
                },
            )
        elif decision is digest.Due.RUN:
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


def token_signer(store: Store, *, now: datetime, environ: Mapping[str, str] = os.environ) -> Signer:
    """The signer of unsubscribe, confirmation and form tokens (``AGGREGATOR_SECRET``,
    else a secret the store generated once)."""
    from aggregator.digest.tokens import Signer, resolve_secret

    return Signer(resolve_secret(environ, lambda: store.app_secret("tokens", now=now)))


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


RETRY_BASE = timedelta(minutes=5)
RETRY_MAX = timedelta(hours=6)
MAX_ATTEMPTS = 8


def retry_delay(attempts: int) -> timedelta:
    """Exponential back-off after the ``attempts``-th failed try: 5 min, 10, 20 ... 6 h."""
    return min(RETRY_BASE * (1 << max(attempts - 1, 0)), RETRY_MAX)


class _UnsubscribeLinks:
    """A reader's unsubscribe links, with what every reader shares worked out once (the
    address is parsed out of the sender's, at a delivery pass's rate of messages)."""

    def __init__(self, signer: Signer, settings: Settings) -> None:
        self.signer = signer
        self.url = f"{settings.publish.base_url.rstrip('/')}/unsubscribe?token="
        self.address = settings.mail.unsubscribe_address or parseaddr(settings.mail.sender)[1]

    def __call__(self, subscriber_id: int) -> Unsubscribe:
        from aggregator.publish.email import Unsubscribe, unsubscribe_mailto

        token = self.signer.unsubscribe_token(subscriber_id)
        return Unsubscribe(url=self.url + token, mailto=unsubscribe_mailto(self.address, token))


# How long the first completed send of a group waits for the others before the group
# is committed anyway (its connection waits as long).
GROUP_WAIT = 0.003

# Rows per claim once the server has taken a message: a few round trips of the pool,
# so a claimed row goes out within moments of the stamp its lease counts from.
CLAIM_BATCH = 64


def _pass_clock(now: datetime) -> Callable[[], datetime]:
    """``now`` moved on by the time the pass has taken since: the caller's clock comes
    in once, and each claim and outcome is stamped when it happens."""
    started = time.monotonic()
    return lambda: now + timedelta(seconds=time.monotonic() - started)


class _Ledger:
    """Records outcomes by group commit: all the sends that completed since the last
    commit are written in one transaction, then their connections are released (each
    message is submitted with ``hold``), so an SMTP connection takes its next message
    only once the ledger knows how its last one went.

    So a connection never has two accepted messages the ledger does not know of: after a
    crash, at most one per connection is sent again (with the same Message-ID). A
    commit waits for sends from up to half the connections, but never more than
    GROUP_WAIT after the first: a commit per message costs about as much client CPU as
    the message itself, CPU the mail server lacks when it runs on the same machine.
    """

    def __init__(self, book: DeliveryLedger, clock: Callable[[], datetime]) -> None:
        self.book = book
        self.clock = clock
        self.in_flight: dict[Future[None], Delivery] = {}
        # Sends in the order they complete, put by the thread that completes them:
        # concurrent.futures.wait() would lock and unlock every future in flight at each
        # call, a third of this thread's CPU with 32 in flight.
        self.completed: SimpleQueue[Future[None]] = SimpleQueue()
        self.sent = self.retrying = self.failed = 0
        self.unreachable: DeliveryError | None = None
        self.retry_at = clock()

    def submit(self, transport: Transport, delivery: Delivery, message: Outgoing) -> bool:
        """Hand ``message`` to the transport; False when it failed already (a transport
        that delivers before submit returns), so the caller settles before trying more:
        an unwritable Maildir costs one attempt, not a window's worth."""
        key = f"i{delivery.issue_id}s{delivery.subscriber_id}"
        sending = transport.submit(message, key=key, hold=True)
        self.in_flight[sending] = delivery
        sending.add_done_callback(self.completed.put)
        return not sending.done() or sending.exception() is None

    def settle(self, *, group: int = 1) -> set[Future[None]]:
        """Wait for a send to complete, and for up to ``group`` in all within GROUP_WAIT
        of the first, then commit every completed one; their futures, for the transport
        to release."""
        done = {self.completed.get()}
        deadline = time.monotonic() + GROUP_WAIT
        wanted = min(group, len(self.in_flight))
        try:
            while len(done) < wanted and (left := deadline - time.monotonic()) > 0:
                done.add(self.completed.get(timeout=left))
        except Empty:
            pass
        while not self.completed.empty():  # completed meanwhile: in this commit too
            done.add(self.completed.get_nowait())
        now = self.clock()
        outcomes = [self._outcome(self.in_flight.pop(sending), sending, now) for sending in done]
        self.book.record(outcomes, now=now)
        return done

    def drain(self, transport: Transport) -> None:
        while self.in_flight:
            transport.release(self.settle())

    def _outcome(self, delivery: Delivery, sending: Future[None], now: datetime) -> DeliveryOutcome:
        try:
            sending.result()
        except DeliveryError as exc:
            log.warning("Delivery failed: %s", exc, extra={"issue": delivery.issue_id})
            attempts = delivery.attempts  # counted by the claim
            if not exc.unreachable and (exc.permanent or attempts >= MAX_ATTEMPTS):
                self.failed += 1
                problem = str(exc) if exc.permanent else f"{exc} (gave up after {attempts})"
                return DeliveryOutcome(
                    delivery_id=delivery.id, state=DeliveryState.FAILED, error=problem
                )
            retry = now + retry_delay(attempts)
            self.retrying += 1
            if exc.unreachable and self.unreachable is None:
                self.unreachable, self.retry_at = exc, retry
            return DeliveryOutcome(
                delivery_id=delivery.id,
                state=DeliveryState.PENDING,
                error=str(exc),
                next_attempt_at=retry,
            )
        self.sent += 1
        return DeliveryOutcome(delivery_id=delivery.id, state=DeliveryState.SENT)


class _Messages:
    """Each delivery's message: every issue rendered and compiled once, then a byte
    substitution per reader (and a DKIM signature when configured)."""

    def __init__(self, store: Store, settings: Settings, *, now: datetime) -> None:
        from aggregator.deliver.dkim import open_dkim
        from aggregator.publish.email import header_text

        self.store = store
        self.settings = settings
        self.unsubscribe = _UnsubscribeLinks(token_signer(store, now=now), settings)
        self.dkim = open_dkim(settings.mail)
        self.envelope_from = parseaddr(header_text(settings.mail.sender))[1]
        self.issues: dict[int, tuple[PreparedIssue, bool]] = {}

    def build(self, delivery: Delivery) -> Outgoing:
        from aggregator.deliver import Outgoing

        if delivery.issue_id not in self.issues:
            self.issues[delivery.issue_id] = self._prepare(delivery.issue_id)
        prepared, clean = self.issues[delivery.issue_id]
        unsubscribe = self.unsubscribe(delivery.subscriber_id)
        message = Outgoing(
            sender=self.envelope_from,
            recipient=delivery.email.strip(),
            data=prepared.personalize(delivery.email, unsubscribe),
            crlf_only=clean,
        )
        # The signature is a header folded by our policy: CRLF too.
        return message if self.dkim is None else self.dkim.sign(message)

    def _prepare(self, issue_id: int) -> tuple[PreparedIssue, bool]:
        from aggregator.deliver import crlf_only
        from aggregator.publish.email import format_created, render_issue
        from aggregator.publish.prepared import prepare_issue

        settings = self.settings
        issue = self.store.get_issue(issue_id)
        spec = settings.digest(issue.digest) or DigestSettings(name=issue.digest)
        prepared = prepare_issue(
            render_issue(issue, digest=spec, publish=settings.publish),
            sender=settings.mail.sender,
            created=format_created(issue),
            site_url=settings.publish.base_url,
        )
        # Checked once for all its copies: what a copy adds between the pieces is header
        # lines folded by our policy and quoted-printable lines, CRLF-ended by make.
        return prepared, crlf_only(*prepared.pieces)


def deliver_pending(store: Store, settings: Settings, *, now: datetime) -> DeliveryReport:
    """Send every due pending delivery; each one ends sent, retrying or failed.

    The ledger makes this exactly-once: deliveries are claimed in batches (pending ->
    sending, committed, stamped with the claim's time) before their messages leave and
    recorded after, so a crash leaves them in ``sending``; the next pass after ``[mail]
    sending_lease_seconds`` sends them again with the same Message-ID (Maildir
    recognizes them and writes nothing). A 5xx is recorded as failed and the pass goes
    on; a 4xx or a cut connection retries that one later with back-off; an unreachable
    server defers everything due, and what was claimed but not tried is given back.

    Each issue is rendered and compiled to a byte template once
    (:mod:`aggregator.publish.prepared`); each reader's copy is a substitution. Up to
    the transport's ``window`` messages are in flight at once (SMTP: two per
    connection), but only one until the server has taken a message in this pass, so a
    server that is down or refuses us costs one attempt, not a window's worth.
    Outcomes are committed in groups (:class:`_Ledger`) and an SMTP connection starts
    its next message only once its last outcome is committed: a crash leaves at most
    one accepted but unrecorded message per connection.
    """
    lease = timedelta(seconds=settings.mail.sending_lease_seconds)
    recovered = store.recover_interrupted_deliveries(now=now, claimed_before=now - lease)
    if recovered:
        log.warning("Resending deliveries interrupted by a crash", extra={"count": recovered})
    clock = _pass_clock(now)
    with store.delivery_ledger() as book:
        claimed = deque(book.claim(now=clock(), limit=1))
        if not claimed:
            return DeliveryReport()
        return _deliver_claimed(store, settings, book, claimed, clock)


def _deliver_claimed(
    store: Store,
    settings: Settings,
    book: DeliveryLedger,
    claimed: deque[Delivery],
    clock: Callable[[], datetime],
) -> DeliveryReport:
    """The pass of :func:`deliver_pending` once its first row is claimed."""
    from aggregator.deliver import open_transport

    ledger = _Ledger(book, clock)
    try:
        messages = _Messages(store, settings, now=clock())
        with open_transport(settings.mail) as transport:
            recorded: set[Future[None]] = set()
            try:
                more = True  # the store may have more due rows to claim
                while ledger.unreachable is None:
                    # One in flight until the server has taken a message in this pass.
                    window = transport.window if ledger.sent else 1
                    with transport.together():  # the releases and the new messages
                        transport.release(recorded)
                        recorded = set()
                        while len(ledger.in_flight) < window and (claimed or more):
                            if not claimed:
                                limit = CLAIM_BATCH if ledger.sent else 1
                                claimed.extend(book.claim(now=clock(), limit=limit))
                                more = bool(claimed)
                                continue
                            message = messages.build(claimed[0])
                            if not ledger.submit(transport, claimed.popleft(), message):
                                break
                    if not ledger.in_flight:
                        break
                    # A commit costs about what a message does: one per half the
                    # connections (window // 4) rather than one per message.
                    recorded = ledger.settle(group=transport.window // 4)
            finally:
                transport.release(recorded)
                ledger.drain(transport)
    finally:
        # Claimed but never tried (the server went away, or this pass failed): back to
        # pending now, not after the lease; when unreachable, to wait with the rest.
        exc = ledger.unreachable
        given_back = store.unclaim_deliveries(
            [d.id for d in claimed],
            now=clock(),
            until=ledger.retry_at if exc else None,
            error=str(exc) if exc else None,
        )
    if exc is not None:  # the others would knock on the same door
        deferred = store.defer_due_deliveries(now=clock(), until=ledger.retry_at, error=str(exc))
        ledger.retrying += given_back + deferred
        log.warning(
            "Mail server unreachable; deliveries deferred",
            extra={"count": given_back + deferred + 1, "retry_at": ledger.retry_at.isoformat()},
        )
    sent, retrying, failed = ledger.sent, ledger.retrying, ledger.failed
    log.info("Deliveries done", extra={"sent": sent, "retrying": retrying, "failed": failed})
    return DeliveryReport(sent=sent, retrying=retrying, failed=failed)


# -- subscriptions -----------------------------------------------------------------

# A second sign-up for the same address within this time sends no second email, so the
# form cannot be used to flood someone's inbox.
CONFIRM_RESEND_AFTER = timedelta(minutes=10)


def request_subscription(
    store: Store, settings: Settings, *, digest_name: str, email: str, now: datetime
) -> bool:
    """A sign-up from the web: the address gets a confirmation email with a signed link,
    and nothing else until it is opened. True when an email went out now (False for an
    address already subscribed, or asked for moments ago: the caller says the same to
    the visitor either way, so the form reveals nobody's subscriptions)."""
    from aggregator.deliver import as_outgoing, open_transport
    from aggregator.deliver.dkim import open_dkim
    from aggregator.digest.addresses import check_email
    from aggregator.publish.email import build_confirmation

    spec = find_digest(settings, digest_name)
    subscriber, send = store.request_subscription(
        spec.name, check_email(email), now=now, resend_after=CONFIRM_RESEND_AFTER
    )
    if not send:
        return False
    token = token_signer(store, now=now).confirm_token(subscriber.id, now=now)
    message = build_confirmation(
        digest=spec.name,
        digest_title=spec.title or spec.name,
        recipient=subscriber.email,
        sender=settings.mail.sender,
        confirm_url=f"{settings.publish.base_url.rstrip('/')}/confirm?token={token}",
        site_url=settings.publish.base_url,
        site_title=settings.publish.title,
        valid_days=settings.mail.confirm_days,
        now=now,
        locale=spec.locale,
    )
    outgoing = as_outgoing(message)
    dkim = open_dkim(settings.mail)
    if dkim is not None:
        outgoing = dkim.sign(outgoing)
    try:
        with open_transport(settings.mail) as transport:
            transport.send(outgoing, key=f"c{subscriber.id}t{int(now.timestamp())}")
    except DeliveryError:
        store.forget_confirmation_sent(subscriber.id)  # so the visitor may try again at once
        raise
    log.info("Confirmation sent", extra={"digest": spec.name, "subscriber": subscriber.id})
    return True


def confirm_subscription(
    store: Store, settings: Settings, token: str, *, now: datetime
) -> Subscriber:
    """Activate the subscriber a genuine, unexpired confirmation link names."""
    max_age = timedelta(days=settings.mail.confirm_days)
    subscriber_id, issued = token_signer(store, now=now).read_confirm(
        token, now=now, max_age=max_age
    )
    return store.confirm_subscriber(subscriber_id, issued=issued, now=now)


def subscriber_for_unsubscribe(store: Store, token: str, *, now: datetime) -> Subscriber:
    return store.get_subscriber(token_signer(store, now=now).read_unsubscribe(token, now=now))


def unsubscribe(store: Store, token: str, *, now: datetime) -> Subscriber:
    """Unsubscribe the reader an unsubscribe link names, at once (pending mail cancelled)."""
    subscriber_id = token_signer(store, now=now).read_unsubscribe(token, now=now)
    subscriber = store.unsubscribe(subscriber_id, now=now)
    log.info("Unsubscribed", extra={"digest": subscriber.digest, "subscriber": subscriber.id})
    return subscriber


def process_unsubscribe_mail(
    store: Store, settings: Settings, *, now: datetime, maildir: str = ""
) -> inbound.ScanReport:
    """Act on the unsubscribe requests mailed to ``[mail] unsubscribe_address`` and
    delivered into ``maildir`` (default ``[mail] unsubscribe_maildir``; neither: none)."""
    root = maildir or settings.mail.unsubscribe_maildir
    if not root:
        return inbound.ScanReport()
    signer = token_signer(store, now=now)

    def act(token: str) -> Subscriber:
        subscriber = store.unsubscribe(signer.read_unsubscribe(token, now=now), now=now)
        log.info(
            "Unsubscribed by mail", extra={"digest": subscriber.digest, "subscriber": subscriber.id}
        )
        return subscriber

    try:
        return inbound.process_maildir(Path(root), act)
    except OSError as exc:  # e.g. the folder cannot be created: say so, retry next tick
        problem = exc.strerror or str(exc)
        raise AggregatorError(f"cannot read the unsubscribe Maildir {root}: {problem}") from None


# -- status ------------------------------------------------------------------------


def status_report(
    store: Store, settings: Settings, *, now: datetime, upcoming: int = 5
) -> dict[str, Any]:
    """What ``aggregator status`` shows: the daemon, feeds by state, the next fetches, the
    stale feeds, and per digest its next run and its last issue's deliveries by state.
    Plain data (JSON-ready): the store is the truth, not the daemon's memory."""
    stale_after = timedelta(hours=settings.fetch.stale_after_hours)
    return {
        "daemon": _daemon_status(settings.storage.url, store),
        **feed_status(store.list_feeds(), now=now, stale_after=stale_after, upcoming=upcoming),
        "digests": digest_status(store, settings, now=now),
        "deliveries": store.delivery_counts(),
    }


def feed_status(
    feeds: Sequence[Feed], *, now: datetime, stale_after: timedelta, upcoming: int
) -> dict[str, Any]:
    """The feeds part of :func:`status_report`, from feeds already read (``/metrics`` has)."""
    by_state: dict[str, int] = {}
    for feed in feeds:
        state = feed.state(now, stale_after)
        by_state[state] = by_state.get(state, 0) + 1
    polled = [f for f in feeds if not f.is_gone and f.kind != "ingest"]
    soonest = sorted(
        (f for f in polled if f.next_check_at is not None),
        key=lambda f: (f.next_check_at or now, f.id),
    )[:upcoming]
    successes = [f.last_success_at for f in feeds if f.last_success_at]
    return {
        "feeds": {
            "total": len(feeds),
            "by_state": by_state,
            "with_errors": sum(1 for f in feeds if f.error_count),
            "last_success_at": max(successes) if successes else None,
        },
        "next_fetches": [{"url": f.url, "at": f.next_check_at} for f in soonest],
        "stale_feeds": [
            {"url": f.url, "failing_since": f.failing_since, "last_error": f.last_error}
            for f in feeds
            if f.is_stale(now, stale_after)
        ],
    }


def digest_status(store: Store, settings: Settings, *, now: datetime) -> list[dict[str, Any]]:
    """Each digest's next run and its last issue with its deliveries by state."""
    digests = []
    for spec in settings.digests:
        state_of = store.digest_state(spec.name)
        issue = store.latest_issue(spec.name)
        digests.append(
            {
                "name": spec.name,
                "schedule": f"{spec.schedule} ({spec.timezone})",
                "next_run_at": state_of.next_run_at if state_of.last_run_at else now,
                "last_issue": None
                if issue is None
                else {
                    "id": issue.id,
                    "created_at": issue.created_at,
                    "stories": len(issue.stories),
                    "deliveries": store.delivery_counts(issue.id),
                },
            }
        )
    return digests


def _daemon_status(database_url: str, store: Store) -> dict[str, Any]:
    """Whether a daemon schedules on this database, as far as this machine can tell."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        holder = instance.holder_of(database_url, store.db.engine)
    except SQLAlchemyError as exc:
        return {"running": None, "detail": f"not known: {exc.__class__.__name__}"}
    if holder is None:
        return {"running": False, "detail": "no daemon running"}
    if holder.alive() is False:
        return {"running": False, "detail": f"no daemon running (last: {holder.describe()})"}
    return {"running": True, "detail": holder.describe()}
