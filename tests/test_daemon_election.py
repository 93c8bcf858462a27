"""On PostgreSQL, daemons sharing a database elect one scheduler; the others stand by."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from aggregator import daemon as daemon_module
from aggregator.config import Settings
from aggregator.daemon import Daemon
from aggregator.store import open_store
from tests.conftest import PG_ENV, PG_URL, postgres_schema
from tests.loopback import free_port


async def until(check: Callable[[], bool]) -> None:
    """Poll a daemon's state (it has no event to wait on), within 10 s."""
    async with asyncio.timeout(10):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


@pytest.mark.postgres
def test_the_standby_takes_over_when_the_scheduler_stops(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not PG_URL:
        pytest.skip(f"PostgreSQL tests skipped: {PG_ENV} is not set")
    monkeypatch.setattr(daemon_module, "STANDBY_RETRY_SECONDS", 0.2)
    with postgres_schema() as url:
        settings = [
            make_settings(f"[server]\nport = {free_port()}\n", database_url=url) for _ in range(2)
        ]
        stores = [open_store(url) for _ in settings]
        first, second = (Daemon(s, c) for s, c in zip(stores, settings, strict=True))

        def state(daemon: Daemon) -> str:
            return str(daemon.health()["scheduler"])

        async def scenario() -> None:
            running = asyncio.create_task(first.run())
            await until(lambda: state(first) == "running")
            waiting = asyncio.create_task(second.run())
            await until(lambda: state(second) == "standby")
            await asyncio.sleep(0.5)  # several retries: the lock is still taken
            assert state(second) == "standby" and second.scheduler is None
            first.stopping.set()
            await running
            await until(lambda: state(second) == "running")
            second.stopping.set()
            await waiting

        try:
            asyncio.run(scenario())
        finally:
            for store in stores:
                store.close()
