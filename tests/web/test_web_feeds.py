"""Every feed route over HTTP semantics (validators, 304, HEAD, gzip, caching headers),
and the pages: home, a story, a digest's archive, autodiscovery in each head."""

from __future__ import annotations

import asyncio
import gzip
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

import feedparser
import httpx
import pytest

from aggregator.config import Settings
from aggregator.store import Store
from aggregator.web import create_app
from tests.issues import queue_issue
from tests.site_data import ENCLOSURES, fill_site
from tests.web.test_web_app import Client

FEEDS = {
    "/feeds/all.atom": "application/atom+xml",
    "/feeds/all/page/2.atom": "application/atom+xml",
    "/feeds/all.rss": "application/rss+xml",
    "/feeds/all.json": "application/feed+json",
    "/feeds/tag/vn.atom": "application/atom+xml",
    "/feeds/stories.atom": "application/atom+xml",
    "/feeds/stories/page/2.atom": "application/atom+xml",
    "/digests/daily.atom": "application/atom+xml",
    "/digests/daily/stories.atom": "application/atom+xml",
}


@pytest.fixture
def site(make_settings: Callable[..., Settings], now: datetime) -> tuple[Store, Settings]:
    store, settings = fill_site(make_settings, now)
    queue_issue(store, now, title="Bản tin 23/11")
    return store, settings


@pytest.fixture
def web(site: tuple[Store, Settings]) -> Client:
    return Client(create_app(*site, feed_recheck=0))


@pytest.mark.parametrize("path", list(FEEDS))
def test_every_feed_route_has_validators_304_head_and_gzip(web: Client, path: str) -> None:
    plain = web.get(path, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["content-type"].startswith(FEEDS[path])
    assert plain.headers["cache-control"] == "public, max-age=60"
    assert plain.headers["vary"] == "Accept-Encoding"
    assert "content-encoding" not in plain.headers
    etag, modified = plain.headers["etag"], plain.headers["last-modified"]
    if not path.endswith(".json"):
        assert feedparser.parse(plain.content).bozo == 0
    for validator in ({"If-None-Match": etag}, {"If-Modified-Since": modified}):
        again = web.get(path, headers={**validator, "Accept-Encoding": "identity"})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag and again.headers["cache-control"]
    zipped = web.request("GET", path, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    # httpx decodes gzip itself: the same document either way, under its own ETag.
    assert zipped.content == plain.content and zipped.headers["etag"] != etag
    assert gzip.decompress(web_raw_gzip(web, path)) == plain.content
    head = web.request("HEAD", path, headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(plain.content)
    assert head.headers["etag"] == etag


def web_raw_gzip(web: Client, path: str) -> bytes:
    """The bytes on the wire, before httpx decodes them."""

    async def go() -> bytes:
        transport = httpx.ASGITransport(app=web.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            async with c.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as response:
                return b"".join([chunk async for chunk in response.aiter_raw()])

    return asyncio.run(go())


@pytest.mark.parametrize(
    "path", ["/feeds/all/page/9.atom", "/feeds/tag/none.atom", "/digests/weekly.atom", "/feeds/x"]
)
def test_feeds_that_do_not_exist_are_404(web: Client, path: str) -> None:
    assert web.get(path).status_code == 404


def autodiscovered(html: str) -> set[str]:
    return set(re.findall(r'<link rel="alternate" type="[^"]+" title="[^"]*" href="([^"]+)"', html))


def test_home_lists_latest_stories_with_their_sources(web: Client) -> None:
    page = web.get("/")
    assert page.status_code == 200
    html = page.text
    assert html.count("<article") == 4
    assert 'href="https://agg.example/stories/' in html
    assert 'href="https://tin.example/0">Tin Nhanh</a>' in html
    assert 'href="https://wire.example/0">Wire</a>' in html
    assert "Tóm tắt 0" in html  # Vietnamese text as it came, UTF-8
    assert 'name="viewport"' in html and "<script" not in html
    assert {
        "https://agg.example/feeds/all.atom",
        "https://agg.example/feeds/stories.atom",
        "https://agg.example/feeds/all.rss",
        "https://agg.example/feeds/all.json",
        "https://agg.example/feeds/tag/vn.atom",
        "https://agg.example/digests/daily.atom",
    } <= autodiscovered(html)
    assert 'href="https://agg.example/digests/daily"' in html


def test_story_page_lists_every_source(web: Client, site: tuple[Store, Settings]) -> None:
    store, _ = site
    story = next(s for s in store.list_stories() if s.title == "Bão số 2")
    page = web.get(f"/stories/{story.id}")
    assert page.status_code == 200
    html = page.text
    assert "<h2>Bão số 2</h2>" in html and "Tóm tắt 2" in html
    assert '<li lang="vi"><a href="https://tin.example/2">Bão số 2 đổ bộ</a>' in html
    assert '<li lang="en"><a href="https://wire.example/2">Storm 2 &lt;b&gt;</a>' in html
    assert "2 sources" in html
    assert "https://agg.example/feeds/stories.atom" in autodiscovered(html)
    assert web.get("/stories/9999").status_code == 404


def test_story_page_links_the_files_a_source_carries(
    make_settings: Callable[..., Settings], now: datetime
) -> None:
    store, settings = fill_site(make_settings, now)
    story = next(s for s in store.list_stories() if s.title == "Bão số 0")
    audio, picture = ENCLOSURES
    html = Client(create_app(store, settings)).get(f"/stories/{story.id}").text
    assert f'<a href="{audio.url}" rel="nofollow" type="audio/mpeg">Audio</a> · 4.2 MB' in html
    # No type: no type attribute, a file of unknown kind; "&" escaped in the address.
    assert (
        '<a href="https://wire.example/media/0.jpg?size=large&amp;v=2" rel="nofollow">File</a>'
        in html
    )
    assert picture.url.replace("&", "&amp;") in html
    vi = replace(settings, publish=replace(settings.publish, locale="vi"))
    html = Client(create_app(store, vi)).get(f"/stories/{story.id}").text
    assert ">Âm thanh</a> · 4,2 MB" in html and ">Tệp</a>" in html
    other = next(s for s in store.list_stories() if s.title == "Bão số 1")
    assert (
        'class="files"' not in Client(create_app(store, settings)).get(f"/stories/{other.id}").text
    )


def test_digest_archive_lists_every_issue_linking_to_it(
    web: Client, site: tuple[Store, Settings]
) -> None:
    store, _ = site
    (issue,) = store.list_issues("daily")
    page = web.get("/digests/daily")
    assert page.status_code == 200
    html = page.text
    assert "<h2>Bản tin sáng</h2>" in html
    assert f'href="https://agg.example/issues/{issue.id}">Bản tin 23/11</a>' in html
    assert {
        "https://agg.example/digests/daily.atom",
        "https://agg.example/digests/daily/stories.atom",
    } <= autodiscovered(html)
    whole = web.get(f"/issues/{issue.id}")
    assert whole.status_code == 200 and "https://agg.example/digests/daily.atom" in whole.text
    assert web.get("/digests/weekly").status_code == 404


def test_pages_speak_vietnamese_when_the_site_does(
    make_settings: Callable[..., Settings], now: datetime
) -> None:
    store, settings = fill_site(make_settings, now)
    vi = replace(settings, publish=replace(settings.publish, locale="vi"))
    story = store.list_stories()[0]
    html = Client(create_app(store, vi)).get(f"/stories/{story.id}").text
    assert '<html lang="vi">' in html and "2 nguồn" in html and "Các nguồn" in html
