"""WebSub, publisher side: feeds name their hubs, and a real hub on loopback is told of
exactly the feeds whose bytes changed, again after a failure, never twice for one change."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import feedparser
import pytest
from click.testing import CliRunner

from aggregator.cli import cli
from aggregator.config import ServerSettings, Settings
from aggregator.errors import ConfigError
from aggregator.model import Entry
from aggregator.publish.site import Site
from aggregator.publish.websub import Announcer
from aggregator.store import Store
from tests.loopback import Reply, ScriptedHTTPServer, free_port
from tests.site_data import fill_site

HUB_PATH = "/hub"
BASE = "https://agg.example"


@pytest.fixture
def hub() -> Iterator[ScriptedHTTPServer]:
    with ScriptedHTTPServer() as server:
        server.routes[HUB_PATH] = lambda headers: Reply(204)
        yield server


def hub_config(*hubs: str) -> str:
    listed = ", ".join(f'"{h}"' for h in hubs)
    return f"websub_hubs = [{listed}]\n"


def site_with_hubs(
    make_settings: Callable[..., Settings], now: datetime, *hubs: str
) -> tuple[Store, Site]:
    def with_hubs(extra: str = "", **kwargs: object) -> Settings:
        # The hub list belongs in [publish], which the site's config opens first.
        extra = extra.replace("[publish]\n", "[publish]\n" + hub_config(*hubs), 1)
        return make_settings(extra, **kwargs)

    store, settings = fill_site(with_hubs, now)
    return store, Site(store, settings, recheck=0)


def told(server: ScriptedHTTPServer) -> list[str]:
    """The topics announced to ``server``, in order; every ping is a WebSub publish."""
    topics = []
    for path, body in server.posted:
        form = parse_qs(body.decode())
        assert path == HUB_PATH and form["hub.mode"] == ["publish"], form
        topics += form["hub.url"]
    return topics


def add_entry(store: Store, now: datetime, title: str) -> None:
    feed = store.list_feeds()[1]
    store.upsert_entries(
        feed.id,
        [Entry(entry_key=title, url=f"https://wire.example/{title}", title=title, published=now)],
        now=now,
    )


def test_every_feed_names_its_hubs_in_body_and_link_header(
    make_settings: Callable[..., Settings], now: datetime
) -> None:
    hubs = ("https://hub.example/", "https://other.example/push")
    _, site = site_with_hubs(make_settings, now, *hubs)
    for path in site.topic_paths():
        rendered = site.feed(path)
        assert rendered is not None
        assert rendered.links == (
            f'<{hubs[0]}>; rel="hub", <{hubs[1]}>; rel="hub", <{BASE}{path}>; rel="self"'
        )
        if path.endswith(".json"):
            assert b'"hubs":[{"type":"WebSub","url":"https://hub.example/"}' in rendered.body
            continue
        parsed = feedparser.parse(rendered.body)
        assert parsed.bozo == 0
        links = {(link["rel"], link["href"]) for link in parsed.feed.links}
        assert {("hub", hubs[0]), ("hub", hubs[1]), ("self", BASE + path)} <= links
    # A later page is not a topic: it names no hub.
    page_two = site.feed("/feeds/all/page/2.atom")
    assert page_two is not None and b'rel="hub"' not in page_two.body and not page_two.links


def test_no_hub_configured_means_no_hub_anywhere(
    make_settings: Callable[..., Settings], now: datetime
) -> None:
    store, settings = fill_site(make_settings, now)
    rendered = Site(store, settings, recheck=0).feed("/feeds/all.atom")
    assert rendered is not None and b'rel="hub"' not in rendered.body and not rendered.links


def test_hub_is_told_of_changed_feeds_only(
    make_settings: Callable[..., Settings], now: datetime, hub: ScriptedHTTPServer
) -> None:
    store, site = site_with_hubs(make_settings, now, hub.url(HUB_PATH))
    announcer = Announcer()
    first = announcer.announce_changes(site, [hub.url(HUB_PATH)])
    # A first pass cannot know what changed while we were away: every topic.
    assert told(hub) == [BASE + path for path in site.topic_paths()]
    assert not first.failures
    hub.posted.clear()
    assert announcer.announce_changes(site, [hub.url(HUB_PATH)]).accepted == []
    assert told(hub) == []

    add_entry(store, now + timedelta(minutes=1), "fresh")
    announcer.announce_changes(site, [hub.url(HUB_PATH)])
    # The new entry is in the main feed (three formats) and its outlet's tag feed; the
    # stories feed and the other tag's feed did not change.
    assert sorted(told(hub)) == sorted(
        BASE + p for p in ("/feeds/all.atom", "/feeds/all.rss", "/feeds/all.json")
    ) + [BASE + "/feeds/tag/world.atom"]


def test_pings_to_one_hub_share_one_connection(
    make_settings: Callable[..., Settings], now: datetime
) -> None:
    with ScriptedHTTPServer(keep_alive=True) as hub:
        hub.routes[HUB_PATH] = lambda headers: Reply(204)
        store, site = site_with_hubs(make_settings, now, hub.url(HUB_PATH))
        announcer = Announcer()
        announcer.announce_changes(site, [hub.url(HUB_PATH)])
        add_entry(store, now + timedelta(minutes=1), "fresh")
        announcer.announce_changes(site, [hub.url(HUB_PATH)])
        # Every topic of the first pass and the changed ones of the second, over the
        # connection the first ping opened: no handshake per feed or per pass.
        assert len(told(hub)) > len(site.topic_paths())
        assert len(set(hub.clients)) == 1
        announcer.close()
        announcer.announce(hubs=[hub.url(HUB_PATH)], topics=[BASE + "/feeds/all.atom"])
        assert len(set(hub.clients)) == 2  # closed, then opened again when needed
        announcer.close()


def test_refused_and_unreachable_hubs_are_retried_next_pass(
    make_settings: Callable[..., Settings], now: datetime, hub: ScriptedHTTPServer
) -> None:
    with ScriptedHTTPServer() as gone:
        dead = gone.url(HUB_PATH)  # a port nobody listens on once this server is closed
    store, site = site_with_hubs(make_settings, now, hub.url(HUB_PATH), dead)
    hubs = [hub.url(HUB_PATH), dead]
    hub.routes[HUB_PATH] = lambda headers: Reply(503, b"busy, come back later")
    announcer = Announcer()
    result = announcer.announce_changes(site, hubs)
    assert result.accepted == []
    refused = [f for f in result.failures if f.startswith(f"WebSub hub {hubs[0]} refused")]
    assert len(refused) == len(site.topic_paths())
    assert "HTTP 503: busy, come back later" in refused[0]
    # The dead hub is given up on after one failure per pass, not once per feed.
    assert [f for f in result.failures if "unreachable" in f] == [
        next(f for f in result.failures if dead in f)
    ]

    hub.routes[HUB_PATH] = lambda headers: Reply(202)
    hub.posted.clear()
    again = announcer.announce_changes(site, hubs)
    assert told(hub) == [BASE + path for path in site.topic_paths()]
    assert {h for h, _ in again.accepted} == {hub.url(HUB_PATH)}
    assert len(again.failures) == 1 and dead in again.failures[0]


def test_bad_hub_url_is_a_config_error(make_settings: Callable[..., Settings]) -> None:
    for bad in ("ftp://hub.example/", "https://hub.example/a b", "not a url"):
        with pytest.raises(ConfigError, match=r"publish.websub_hubs\[0\]"):
            make_settings("[publish]\n" + hub_config(bad))


def test_publish_command_tells_hub_of_changed_files_only(
    make_settings: Callable[..., Settings], now: datetime, hub: ScriptedHTTPServer, tmp_path: Path
) -> None:
    out = tmp_path / "public"
    config = tmp_path / "site.toml"

    def write_config(extra: str = "", **kwargs: object) -> Settings:
        extra = extra.replace(
            "[publish]\n", f'[publish]\noutput_dir = "{out}"\n' + hub_config(hub.url(HUB_PATH)), 1
        )
        settings = make_settings(extra, **kwargs)
        config.write_text(f'[storage]\nurl = "{settings.storage.url}"\n' + extra, encoding="utf-8")
        return settings

    store, settings = fill_site(write_config, now)
    topics = {BASE + path for path in Site(store, settings).topic_paths()}
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(config), "publish"])
    assert result.exit_code == 0, result.output
    assert "accepted" in result.output and set(told(hub)) == topics  # all, first time
    hub.posted.clear()
    result = runner.invoke(cli, ["--config", str(config), "publish"])
    assert result.exit_code == 0 and told(hub) == []  # nothing changed
    add_entry(store, datetime.now(tz=now.tzinfo), "later")
    runner.invoke(cli, ["--config", str(config), "publish"])
    assert BASE + "/feeds/all.atom" in told(hub)
    assert BASE + "/feeds/stories.atom" not in told(hub)


def test_daemon_tells_hub_after_a_tick_and_serves_the_link_header(
    make_settings: Callable[..., Settings], now: datetime, hub: ScriptedHTTPServer
) -> None:
    from aggregator.daemon import Daemon
    from aggregator.web import create_app
    from tests.web.test_web_app import Client

    store, site = site_with_hubs(make_settings, now, hub.url(HUB_PATH))
    settings = replace(site.settings, server=ServerSettings(port=free_port()))
    daemon = Daemon(store, settings)
    daemon.web.socket.close()  # never served here: the ticks' announcements are the test
    asyncio.run(daemon.announce())
    assert len(told(hub)) == len(site.topic_paths())
    hub.posted.clear()
    asyncio.run(daemon.announce())
    assert told(hub) == []
    add_entry(store, now + timedelta(minutes=1), "fresh")
    asyncio.run(daemon.announce())
    assert BASE + "/feeds/all.atom" in told(hub)

    client = Client(create_app(store, site.settings, site=daemon.site))
    response = client.get("/feeds/all.atom")
    assert response.status_code == 200
    assert response.headers["link"].startswith(f'<{hub.url(HUB_PATH)}>; rel="hub"')
    revalidated = client.get("/feeds/all.atom", headers={"If-None-Match": response.headers["etag"]})
    assert revalidated.status_code == 304 and "link" in revalidated.headers
