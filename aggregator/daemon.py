"""``aggregator run``: the scheduler and the web server in one asyncio process.

Each tick runs the pipeline for whatever is due. SIGINT/SIGTERM stop new work,
let the tick in progress finish (within ``STOP_TIMEOUT``), stop the web server and
close the store; the exit code is 0. Deliveries interrupted by a crash are put
back to pending at start-up.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import UTC, datetime
from typing import Any

from aggregator import pipeline
from aggregator.config import Settings
from aggregator.errors import AggregatorError
from aggregator.schedule import build_scheduler
from aggregator.store import Store
from aggregator.web import create_app
from aggregator.web.server import WebServer

log = logging.getLogger("aggregator")
STOP_TIMEOUT = 30.0


def utcnow() -> datetime:
    return datetime.now(UTC)


async def run_tick(store: Store, settings: Settings) -> None:
    """One pass over everything that is due; a failing step is logged, never fatal."""
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
    for step in (pipeline.cluster_new_entries, pipeline.run_due_digests, pipeline.deliver_pending):
        try:
            await asyncio.to_thread(step, store, settings, now=utcnow())
        except AggregatorError as exc:  # e.g. an unwritable Maildir: say it, retry next tick
            log.warning("%s failed: %s; retrying next tick", step.__name__, exc)
        except Exception:
            log.exception("Pipeline step %s failed; it will be retried next tick", step.__name__)


class Daemon:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.stopping = asyncio.Event()
        self.busy = asyncio.Lock()
        self.last_tick: datetime | None = None
        self.scheduling = False
        self.web = WebServer(create_app(store, settings, health=self.health), settings.server)

    def health(self) -> dict[str, Any]:
        state = (
            "disabled"
            if not self.scheduling
            else ("stopped" if self.stopping.is_set() else "running")
        )
        return {
            "scheduler": state,
            "last_tick": self.last_tick.isoformat() if self.last_tick else None,
        }

    async def tick(self) -> None:
        if self.stopping.is_set():
            return
        async with self.busy:
            try:
                await run_tick(self.store, self.settings)
            except Exception:
                log.exception("Tick failed; the next tick retries")
            self.last_tick = utcnow()

    async def run(self, *, schedule: bool = True) -> None:
        """Serve (and, with ``schedule``, tick) until SIGINT/SIGTERM or the server stops."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        # Deliveries a crash left in "sending" are taken back by deliver_pending once their
        # lease ([mail] sending_lease_seconds) is over, not here at once: a CLI
        # `digest send` may still be sending them.
        scheduler = build_scheduler(self.tick, self.settings.schedule)
        if schedule:
            scheduler.start()
            self.scheduling = True
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
            if scheduler.running:
                scheduler.shutdown(wait=False)
            try:
                async with asyncio.timeout(STOP_TIMEOUT), self.busy:
                    pass
            except TimeoutError:
                log.warning(
                    "Work still in progress after %s s; it resumes at next start", STOP_TIMEOUT
                )
            self.web.stop()
            await asyncio.gather(server, stop, return_exceptions=True)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        log.info("Stopped")
