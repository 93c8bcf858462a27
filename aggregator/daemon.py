"""``aggregator run``: the scheduler and the web server in one asyncio process.

Each tick runs the pipeline for whatever is due. SIGINT/SIGTERM stop new work,
let the tick in progress finish (within ``STOP_TIMEOUT``), stop the web server and
close the store; the exit code is 0. SIGHUP re-reads the configuration between two
ticks: feeds, digests and subscribers are added, changed or removed; a config that
does not load is rejected with its message and the running one stays.

Scheduling starts only under the database's scheduler lock (:mod:`aggregator.instance`):
a second daemon on a SQLite file refuses to start; on PostgreSQL it serves the web and
waits as a standby. Deliveries interrupted by a crash go out again once their sending
lease is over (see ``pipeline.deliver_pending``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from starlette.types import ASGIApp

from aggregator import instance, pipeline
from aggregator.config import Settings
from aggregator.errors import AggregatorError
from aggregator.memory import release_free_memory
from aggregator.offload import ClusteringProcess, DigestProcess, shareable
from aggregator.publish.site import Site
from aggregator.publish.websub import Announcer, log_announcement
from aggregator.schedule import build_scheduler, set_tick_interval
from aggregator.store import Store
from aggregator.web import create_app
from aggregator.web.server import SwappableApp, WebServer

log = logging.getLogger("aggregator")
STOP_TIMEOUT = 30.0
STANDBY_RETRY_SECONDS = 15.0
# Entries the daemon clusters per batch (``pipeline.CLUSTER_BATCH`` is for a one-off
# command's backlog). A tick that found a minute's news or more at once (a busy
# machine, a restart) planned it in one batch, and that batch's short-lived objects set
# a new high-water mark of pymalloc's arenas, which the long-lived entries of the index
# placed among them then kept: the daemon's memory rose in steps (bench/soak.py).
CLUSTER_BATCH = 500


def utcnow() -> datetime:
    return datetime.now(UTC)


async def run_tick(
    store: Store,
    settings: Settings,
    *,
    kept: pipeline.KeptClusterer | None = None,
    clustering: ClusteringProcess | None = None,
    digests: DigestProcess | None = None,
) -> None:
    """One pass over everything that is due; a failing step is logged, never fatal.

    ``kept`` is the clustering the daemon keeps between ticks (see
    ``pipeline.cluster_new_entries``); without it each tick starts from the store.
    ``clustering``: cluster in that child process instead (it keeps its own);
    ``digests``: build due issues and send deliveries in that one, stopped after the tick
    (see :mod:`aggregator.offload`).
    """
    now = utcnow()
    outcomes = await pipeline.refresh_feeds(store, settings, now=now)
    if outcomes:
        errors = sum(1 for o in outcomes if o.error)
        log.info(
            "Polling pass done",
            extra={
                "feeds": len(outcomes),
                "errors": errors,
                "new": sum(o.new_entries for o in outcomes),
            },
        )
    cluster: Callable[..., object] = (
        functools.partial(clustering.cluster, batch=CLUSTER_BATCH)
        if clustering is not None
        else functools.partial(pipeline.cluster_new_entries, kept=kept, batch=CLUSTER_BATCH)
    )
    steps: list[tuple[str, Callable[..., object]]] = [
        ("cluster_new_entries", cluster),
        # Before sending: a mailed unsubscribe request acts at once.
        ("process_unsubscribe_mail", pipeline.process_unsubscribe_mail),
        ("run_due_digests", digests.run_due_digests if digests else pipeline.run_due_digests),
        ("deliver_pending", digests.deliver_pending if digests else pipeline.deliver_pending),
    ]
    try:
        for name, step in steps:
            try:
                await asyncio.to_thread(step, store, settings, now=utcnow())
            except AggregatorError as exc:  # e.g. an unwritable Maildir: say it, retry next tick
                log.warning("%s failed: %s; retrying next tick", name, exc)
            except Exception:
                log.exception("Pipeline step %s failed; it will be retried next tick", name)
    finally:
        if digests is not None:
            await asyncio.to_thread(digests.close)


class Daemon:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        load_settings: Callable[[], Settings] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.load_settings = load_settings  # what SIGHUP re-reads; None: reload is refused
        self.stopping = asyncio.Event()
        self.busy = asyncio.Lock()
        self.last_tick: datetime | None = None
        self.scheduling = False
        self.standby = False
        self.lock: instance.SchedulerLock | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self.kept = pipeline.KeptClusterer()  # the clusterer, from one tick to the next
        # ... kept in a child process when the database can be shared, and digests built
        # and sent in another (aggregator.offload)
        shared = shareable(settings.storage.url)
        self.clustering = ClusteringProcess() if shared else None
        self.digests = DigestProcess() if shared else None
        self.site = Site(store, settings)
        self.announcer = Announcer()
        # A reload swaps in an app built from the new settings; the socket stays.
        self.web_app = SwappableApp(self._create_app(settings))
        self.web = WebServer(self.web_app, settings.server)

    def _create_app(self, settings: Settings) -> ASGIApp:
        return create_app(self.store, settings, health=self.health, site=self.site)

    def health(self) -> dict[str, Any]:
        if self.standby:
            state = "standby"
        elif not self.scheduling:
            state = "disabled"
        else:
            state = "stopped" if self.stopping.is_set() else "running"
        return {
            "scheduler": state,
            "last_tick": self.last_tick.isoformat() if self.last_tick else None,
        }

    async def tick(self) -> None:
        if self.stopping.is_set():
            return
        async with self.busy:
            try:
                await run_tick(
                    self.store,
                    self.settings,
                    kept=self.kept,
                    clustering=self.clustering,
                    digests=self.digests,
                )
            except Exception:
                log.exception("Tick failed; the next tick retries")
            await self.announce()
            release_free_memory()
            self.last_tick = utcnow()

    async def announce(self) -> None:
        """Tell the WebSub hubs about the feeds this tick changed (none configured: no-op)."""
        hubs = self.settings.publish.websub_hubs
        if not hubs:
            return
        try:
            told = await asyncio.to_thread(self.announcer.announce_changes, self.site, hubs)
        except Exception:
            log.exception("WebSub announcement failed; the next tick retries")
            return
        log_announcement(told)

    async def prune(self) -> None:
        """Retention, between two ticks; a failure is logged and retried the next day."""
        if self.stopping.is_set():
            return
        async with self.busy:
            try:
                await asyncio.to_thread(
                    pipeline.prune_entries, self.store, self.settings, now=utcnow()
                )
            except Exception:
                log.exception("Retention failed; it runs again tomorrow")

    async def reload(self) -> bool:
        """Re-read the configuration between two ticks; False when it was rejected."""
        if self.load_settings is None:
            log.warning("Reload requested, but this daemon was started without a config file")
            return False
        try:
            fresh = await asyncio.to_thread(self.load_settings)
        except AggregatorError as exc:
            log.error("Config reload rejected; the running config stays: %s", exc)
            return False
        kept = [
            name
            for name in ("storage", "server")
            if getattr(fresh, name) != getattr(self.settings, name)
        ]
        if kept:
            log.warning(
                "Config reload: [%s] changes need a restart; the rest is applied",
                "], [".join(kept),
            )
            fresh = replace(fresh, storage=self.settings.storage, server=self.settings.server)
        async with self.busy:  # never in the middle of a tick
            try:
                await asyncio.to_thread(pipeline.sync_config, self.store, fresh, now=utcnow())
            except AggregatorError as exc:
                log.error("Config reload failed; the running config stays: %s", exc)
                return False
            self.settings = fresh
            # Pages and feeds by the new settings ([publish] title, base_url, page size,
            # WebSub hubs, digests); the subscribe form's rate counts start again.
            self.site.reconfigure(fresh)
            self.web_app.app = self._create_app(fresh)
            if self.scheduler is not None and self.scheduler.running:
                set_tick_interval(self.scheduler, fresh.schedule)
        log.info(
            "Config reloaded", extra={"feeds": len(fresh.feeds), "digests": len(fresh.digests)}
        )
        return True

    async def _start_scheduling(self) -> None:
        # Deliveries a crash left in "sending" are taken back by deliver_pending once their
        # lease ([mail] sending_lease_seconds) is over, not here at once: a CLI
        # `digest send` may still be sending them.
        await asyncio.to_thread(
            pipeline.spread_overdue_feeds, self.store, self.settings, now=utcnow()
        )
        self.scheduler = build_scheduler(self.tick, self.settings.schedule, retention=self.prune)
        self.scheduler.start()
        self.scheduling, self.standby = True, False

    async def _stand_by(self, lock: instance.SchedulerLock) -> None:
        """Serve only, until the scheduling daemon lets go of the lock (PostgreSQL)."""
        self.standby = True
        holder = await asyncio.to_thread(lambda: lock.holder)
        log.warning(
            "Standby: another daemon schedules on this database (%s); serving the web "
            "only, and taking over when it stops",
            holder,
        )
        while not self.stopping.is_set():
            try:
                async with asyncio.timeout(STANDBY_RETRY_SECONDS):
                    await self.stopping.wait()
                return
            except TimeoutError:
                pass
            try:
                taken = await asyncio.to_thread(lock.acquire)
            except Exception as exc:  # the database is away: try again later
                log.warning("Standby: cannot reach the database to take over: %s", exc)
                continue
            if taken:
                log.warning("Standby over: this daemon schedules now")
                await self._start_scheduling()
                return

    async def run(self, *, schedule: bool = True) -> None:
        """Serve (and, with ``schedule``, tick) until SIGINT/SIGTERM or the server stops."""
        loop = asyncio.get_running_loop()
        standby: asyncio.Task[None] | None = None
        if schedule:
            self.lock = instance.scheduler_lock(self.settings.storage.url, self.store.db.engine)
            if self.lock is None or await asyncio.to_thread(self.lock.acquire):
                await self._start_scheduling()
            elif isinstance(self.lock, instance.FileLock):
                raise instance.refuse_second_daemon(self.lock, self.store.db.safe_url)
            else:
                standby = asyncio.create_task(self._stand_by(self.lock))
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        reloads: set[asyncio.Task[bool]] = set()

        def on_hangup() -> None:
            task = asyncio.create_task(self.reload())
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, on_hangup)
        server = asyncio.create_task(self.web.serve())
        s = self.settings.server
        log.info("Serving", extra={"url": f"http://{s.host}:{s.port}/feeds/all.atom"})
        stop = asyncio.create_task(self.stopping.wait())
        try:
            await asyncio.wait({server, stop}, return_when=asyncio.FIRST_COMPLETED)
            if server.done() and not self.stopping.is_set():
                log.error("The web server stopped unexpectedly; shutting down")
        finally:
            self.stopping.set()
            log.info("Stopping: finishing work in progress")
            scheduling = self.scheduler is not None and self.scheduler.running
            if self.scheduler is not None and scheduling:
                # No new runs, but not shut down yet: shutting down cancels the job in
                # progress, and the tick under way is to finish, within the timeout.
                self.scheduler.pause()
            try:
                async with asyncio.timeout(STOP_TIMEOUT), self.busy:
                    pass
            except TimeoutError:
                log.warning(
                    "Work still in progress after %s s; it resumes at next start", STOP_TIMEOUT
                )
            if self.scheduler is not None and scheduling:
                self.scheduler.shutdown(wait=False)
            self.web.stop()
            await asyncio.gather(
                server, stop, *([standby] if standby else []), *reloads, return_exceptions=True
            )
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            if self.lock is not None:
                await asyncio.to_thread(self.lock.release)
            self.announcer.close()
            for child in (self.clustering, self.digests):
                if child is not None:
                    await asyncio.to_thread(child.close)
        log.info("Stopped")
