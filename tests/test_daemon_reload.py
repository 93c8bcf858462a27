"""A reload applies the web side too: pages and feeds follow the new [publish] settings,
through the same socket, without a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from aggregator.config import ServerSettings, Settings
from aggregator.daemon import Daemon
from tests.loopback import free_port
from tests.site_data import SITE_CONFIG, fill_site
from tests.web.test_web_app import Client


def test_a_reload_serves_pages_and_feeds_by_the_new_publish_settings(
    make_settings: Callable[..., Settings], now: datetime
) -> None:
    store, settings = fill_site(make_settings, now)
    settings = replace(settings, server=ServerSettings(port=free_port()))
    renamed = make_settings(
        SITE_CONFIG.format(page=2).replace('title = "Agg"', 'title = "Tin Mới"')
    )
    daemon = Daemon(store, settings, load_settings=lambda: renamed)
    daemon.web.socket.close()  # requests go through the daemon's app in-process
    client = Client(daemon.web_app)  # type: ignore[arg-type]
    before = client.get("/feeds/all.atom").text
    assert '<title type="text">Agg</title>' in before and "/feeds/all/page/3.atom" in before
    assert "Agg" in client.get("/").text

    assert asyncio.run(daemon.reload())
    after = client.get("/feeds/all.atom").text
    assert '<title type="text">Tin Mới</title>' in after and "Agg</title>" not in after
    # max_entries 3 -> 2: the page size followed too (8 entries: 4 pages, not 3).
    assert after.count("<entry") == 2 and "/feeds/all/page/4.atom" in after
    assert "Tin Mới" in client.get("/").text
    store.close()
