"""Every feed of the site read back with independent parsers: feedparser for Atom and
RSS, lxml for what RFC 4287 requires of each element, json for JSON Feed 1.1."""

from __future__ import annotations

import gc
import json
import sys
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import feedparser
import pytest
from lxml import etree

from aggregator.config import Settings
from aggregator.model import ClusterPlan, Entry
from aggregator.publish.feeds import ENTRY_BYTES, FragmentCache, Item, Link, held_bytes
from aggregator.publish.items import entry_atom_id
from aggregator.publish.site import Site, parse_feed_path
from aggregator.store import Store
from tests.issues import queue_issue
from tests.site_data import ENCLOSURES, fill_site
from tests.site_data import feed_body as body

ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def check_atom(document: bytes) -> feedparser.FeedParserDict:
    """Parsed without complaint, and every element RFC 4287 requires is there."""
    parsed = feedparser.parse(document)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    root = etree.fromstring(document)
    for name in ("id", "title", "updated", "author"):
        assert root.find(ATOM + name) is not None, name
    rels = [link.get("rel") for link in root.findall(ATOM + "link")]
    assert "self" in rels and "alternate" in rels
    for entry in root.findall(ATOM + "entry"):
        for name in ("id", "title", "updated"):
            assert (entry.findtext(ATOM + name) or "").strip(), name
        assert entry.find(ATOM + "content") is not None or any(
            link.get("rel") == "alternate" for link in entry.findall(ATOM + "link")
        )
    ids = [e.id for e in parsed.entries]
    assert len(ids) == len(set(ids))
    return parsed


def follow_pages(site: Site, path: str, rel: str = "next") -> list[feedparser.FeedParserDict]:
    pages = []
    while True:
        parsed = feedparser.parse(body(site, path))
        pages.append(parsed)
        following = [link.href for link in parsed.feed.links if link.rel == rel]
        if not following:
            return pages
        path = following[0].removeprefix("https://agg.example")


def test_main_feed_pages_hold_every_entry_once(site: Site) -> None:
    stored = site.store.list_entries(limit=100)
    first = check_atom(body(site, "/feeds/all.atom"))
    assert len(first.entries) == 3  # max_entries is the page size
    links = {link.rel: link.href for link in first.feed.links}
    assert links["self"] == "https://agg.example/feeds/all.atom"
    assert links["next"] == "https://agg.example/feeds/all/page/2.atom"
    assert links["last"] == "https://agg.example/feeds/all/page/3.atom"
    assert "previous" not in links
    pages = follow_pages(site, "/feeds/all.atom")
    assert len(pages) == 3
    for page in pages[1:]:
        check_atom(body(site, page.feed.links[0].href.removeprefix("https://agg.example")))
    ids = [e.id for page in pages for e in page.entries]
    assert ids == [entry_atom_id(e) for e in stored]
    last = {link.rel: link.href for link in pages[-1].feed.links}
    assert "next" not in last and last["previous"].endswith("/feeds/all/page/2.atom")
    assert site.feed("/feeds/all/page/4.atom") is None


def test_entries_carry_language_author_sanitized_content_and_related_links(site: Site) -> None:
    document = body(site, "/feeds/all.atom")
    root = etree.fromstring(document)
    assert root.get(XML_LANG) == "en"
    langs = {e.findtext(ATOM + "title"): e.get(XML_LANG) for e in root.findall(ATOM + "entry")}
    assert langs["Bão số 0 đổ bộ"] == "vi" and langs["Storm 0 <b>"] == "en"
    parsed = check_atom(document)
    for entry in parsed.entries:
        assert "Nội dung" in entry.content[0].value
        assert "<script" not in entry.content[0].value and "alert" not in entry.content[0].value
        assert entry.author in {"Tin Nhanh", "Wire"}
    vn = next(e for e in parsed.entries if e.title == "Bão số 0 đổ bộ")
    related = [link.href for link in vn.links if link.rel == "related"]
    # The English report of the same story, and the story's own page.
    assert "https://wire.example/0" in related
    assert any(href.startswith("https://agg.example/stories/") for href in related)
    assert vn.link == "https://tin.example/0"


def test_ids_and_bytes_stay_the_same_across_regenerations(site: Site, now: datetime) -> None:
    paths = site.feed_paths()
    again = Site(site.store, site.settings)
    for path in paths:
        assert body(site, path) == body(again, path), path


def test_tag_feeds_hold_only_their_feeds_entries(site: Site) -> None:
    parsed = check_atom(body(site, "/feeds/tag/vn.atom"))
    assert parsed.feed.title == "Agg: vn"
    assert {link.href for link in parsed.feed.links if link.rel == "self"} == {
        "https://agg.example/feeds/tag/vn.atom"
    }
    pages = follow_pages(site, "/feeds/tag/vn.atom")
    titles = [e.title for page in pages for e in page.entries]
    assert len(titles) == 4 and all(title.startswith("Bão") for title in titles)
    assert site.feed("/feeds/tag/nothing.atom") is None


def test_stories_feed_has_one_entry_per_story_updated_as_sources_join(
    site: Site, now: datetime
) -> None:
    pages = follow_pages(site, "/feeds/stories.atom")
    entries = [e for page in pages for e in page.entries]
    assert len(entries) == 4 and len({e.id for e in entries}) == 4
    story = next(e for e in entries if e.title == "Bão số 1")
    assert story.id.startswith("tag:agg.example,")
    assert story.link.startswith("https://agg.example/stories/")
    assert {link.href for link in story.links if link.rel == "related"} == {
        "https://tin.example/1",
        "https://wire.example/1",
    }
    assert "Tin Nhanh" in story.content[0].value and "Wire" in story.content[0].value
    # A third outlet joins the story: the same id, a later updated, the source listed.
    store = site.store
    late, _ = store.add_feed("https://late.example/rss", now=now, title="Late Post")
    (joined,) = store.upsert_entries(
        late.id,
        [Entry(entry_key="x", url="https://late.example/1", title="Storm", published=now)],
        now=now + timedelta(hours=1),
    )
    story_id = int(story.link.rsplit("/", 1)[1])
    store.apply_cluster_plan(
        ClusterPlan(joins={story_id: [joined.id or 0]}), now=now + timedelta(hours=1)
    )
    after = [e for p in follow_pages(site, "/feeds/stories.atom") for e in p.entries]
    grown = next(e for e in after if e.id == story.id)
    assert len(after) == 4
    assert grown.updated_parsed > story.updated_parsed
    assert "Late Post" in grown.content[0].value
    assert "https://late.example/1" in {link.href for link in grown.links}


def test_digest_feed_has_each_issue_as_sent(site: Site, now: datetime) -> None:
    store: Store = site.store
    assert not check_atom(body(site, "/digests/daily.atom")).entries
    issue_id = queue_issue(store, now, title="Bản tin 2026-11-23")
    parsed = check_atom(body(site, "/digests/daily.atom"))
    assert parsed.feed.title == "Bản tin sáng"
    (entry,) = parsed.entries
    assert entry.id == f"tag:agg.example,{now:%Y-%m-%d}:digest/daily/{issue_id}"
    assert entry.link == f"https://agg.example/issues/{issue_id}"
    assert entry.title == "Bản tin 2026-11-23"
    assert "Bão" in entry.content[0].value and "news.example/a" in entry.content[0].value
    assert "Unsubscribe" not in entry.content[0].value  # the archive form, not a reader's
    assert site.feed("/digests/weekly.atom") is None


def test_a_digests_story_stream_has_the_stories_its_filters_pick(
    make_settings: Callable[..., Settings], now: datetime
) -> None:
    world = (
        '\n[[digests]]\nname = "world"\ntitle = "World"\nschedule = "0 7 * * *"\n'
        'timezone = "UTC"\ntags = ["world"]\nlanguages = ["en"]\nkeywords = ["storm 2"]\n'
    )
    store, settings = fill_site(lambda extra: make_settings(extra + world), now)
    site = Site(store, settings, recheck=0)
    # The unfiltered digest streams every story, one entry each, by its stable story id.
    daily = [e for page in follow_pages(site, "/digests/daily/stories.atom") for e in page.entries]
    stories = [e for p in follow_pages(site, "/feeds/stories.atom") for e in p.entries]
    assert sorted(e.id for e in daily) == sorted(e.id for e in stories)
    # Tags, languages and keywords: only story 2, with only its English source.
    parsed = check_atom(body(site, "/digests/world/stories.atom"))
    assert parsed.feed.title == "World: stories"
    (entry,) = parsed.entries
    assert {link.href for link in entry.links if link.rel == "related"} == {
        "https://wire.example/2"
    }
    assert "/digests/world/stories.atom" in site.topic_paths()
    assert site.feed("/digests/weekly/stories.atom") is None


def test_rss_variant_has_the_same_items_and_paging(site: Site) -> None:
    parsed = feedparser.parse(body(site, "/feeds/all.rss"))
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    atom = feedparser.parse(body(site, "/feeds/all.atom"))
    assert [e.id for e in parsed.entries] == [e.id for e in atom.entries]
    assert [e.link for e in parsed.entries] == [e.link for e in atom.entries]
    assert all(e.published_parsed for e in parsed.entries)
    nexts = [link.href for link in parsed.feed.links if link.rel == "next"]
    assert nexts == ["https://agg.example/feeds/all/page/2.rss"]
    assert feedparser.parse(body(site, "/feeds/all/page/2.rss")).bozo == 0


def test_json_feed_variant_follows_version_1_1(site: Site) -> None:
    seen: list[str] = []
    path = "/feeds/all.json"
    while path:
        feed = json.loads(body(site, path))
        assert feed["version"] == "https://jsonfeed.org/version/1.1"
        assert isinstance(feed["title"], str) and feed["feed_url"] == "https://agg.example" + path
        assert feed["home_page_url"] == "https://agg.example/"
        for item in feed["items"]:
            assert isinstance(item["id"], str) and item["id"]
            assert "content_html" in item or "content_text" in item
            datetime.fromisoformat(item["date_published"].replace("Z", "+00:00"))
            assert item["language"] in {"vi", "en"}
            assert "<script" not in item.get("content_html", "")
            seen.append(item["id"])
        path = feed.get("next_url", "").removeprefix("https://agg.example")
    assert seen == [entry_atom_id(e) for e in site.store.list_entries(limit=100)]


def test_enclosures_reach_every_format(site: Site) -> None:
    audio, picture = ENCLOSURES
    document = body(site, "/feeds/all.atom")
    atom = check_atom(document)
    (entry,) = [e for e in atom.entries if e.get("enclosures")]
    assert [e.href for e in entry.enclosures] == [audio.url, picture.url]
    links = etree.fromstring(document).iterfind(f"{ATOM}entry/{ATOM}link[@rel='enclosure']")
    assert [dict(link.attrib) for link in links] == [
        {"rel": "enclosure", "href": audio.url, "type": "audio/mpeg", "length": "4200000"},
        {"rel": "enclosure", "href": picture.url},  # type and length unknown: not written
    ]
    rss = feedparser.parse(body(site, "/feeds/all.rss"))
    assert rss.bozo == 0, rss.get("bozo_exception")
    (item,) = [e for e in rss.entries if e.get("enclosures")]
    # RSS 2.0: one enclosure per item, every attribute present.
    assert [(e.href, e.type, e.length) for e in item.enclosures] == [
        (audio.url, "audio/mpeg", "4200000")
    ]
    feed = json.loads(body(site, "/feeds/all.json"))
    (attached,) = [i for i in feed["items"] if "attachments" in i]
    assert attached["attachments"] == [
        {"url": audio.url, "mime_type": "audio/mpeg", "size_in_bytes": 4200000},
        {"url": picture.url, "mime_type": "application/octet-stream"},
    ]
    assert attached["id"] == entry.id == item.id


def test_a_feed_is_rendered_again_only_when_the_store_changes(site: Site, now: datetime) -> None:
    first = site.feed("/feeds/all.atom")
    renders = site.renders
    assert site.feed("/feeds/all.atom") is first and site.renders == renders
    (feed, *_) = site.store.list_feeds()
    site.store.upsert_entries(
        feed.id,
        [Entry(entry_key="new", url="https://tin.example/new", title="Mới", published=now)],
        now=now,
    )
    misses = site.fragments.misses
    second = site.feed("/feeds/all.atom")
    assert second is not None and first is not None
    assert second.etag != first.etag and b"tin.example/new" in second.body
    assert site.fragments.misses == misses + 1  # only the new entry was serialized


def test_the_version_is_read_at_most_once_per_recheck_interval(site: Site, now: datetime) -> None:
    site.recheck = 3600
    first = site.feed("/feeds/all.atom")
    assert site.cached("/feeds/all.atom") is first
    (feed, *_) = site.store.list_feeds()
    site.store.upsert_entries(
        feed.id,
        [Entry(entry_key="n", url="https://t.example/n", title="N", published=now)],
        now=now,
    )
    assert site.feed("/feeds/all.atom") is first  # within the interval: the known bytes
    site.recheck = 0
    assert site.cached("/feeds/all.atom") is None
    assert site.feed("/feeds/all.atom") is not first


@pytest.mark.parametrize(
    "path",
    ["/feeds/tag/vn.rss", "/feeds/stories.json", "/feeds/all.xml", "/feeds/all/page/0.atom"],
)
def test_paths_that_are_no_feed(path: str) -> None:
    assert parse_feed_path(path) is None


def test_an_empty_site_still_serves_valid_feeds(
    make_settings: Callable[..., Settings], now: datetime
) -> None:
    store, settings = fill_site(make_settings, now, count=0)
    site = Site(store, settings)
    for path in site.feed_paths():
        if path.endswith(".atom"):
            assert check_atom(body(site, path)).entries == []
    assert json.loads(body(site, "/feeds/all.json"))["items"] == []


def _add_long_entries(store: Store, now: datetime, count: int = 60) -> None:
    """``count`` entries of about 24 KB of Vietnamese text each to the site's first outlet."""
    (feed, *_) = store.list_feeds()
    store.upsert_entries(
        feed.id,
        [
            Entry(
                entry_key=f"big{n}",
                url=f"https://tin.example/big/{n}",
                title=f"Bài dài {n}",
                published=now - timedelta(minutes=n),
                content_html=f"<p>{n} " + "chữ " * 6_000 + "</p>",
            )
            for n in range(count)
        ],
        now=now,
    )


def _main_feed_paths(site: Site) -> list[str]:
    return [p for p in site.feed_paths() if "/feeds/all" in p]


def test_caches_keep_within_their_byte_budget_however_many_pages_are_read(
    make_settings: Callable[..., Settings], now: datetime
) -> None:
    store, settings = fill_site(make_settings, now, page=10)
    _add_long_entries(store, now)
    small = replace(settings, publish=replace(settings.publish, cache_mb=1))
    site, roomy = Site(store, small, recheck=0), Site(store, settings, recheck=0)
    paths = _main_feed_paths(site)
    assert len(paths) >= 3 * 7  # 68 entries in pages of 10, in three formats
    for _ in range(2):
        for path in paths:
            assert body(site, path) == body(roomy, path)  # evicted, rendered again the same
            assert sum(site.memory().values()) <= 2**20
    assert sum(roomy.memory().values()) > 2**20  # the walk would have needed more


def test_caches_count_all_the_memory_they_keep(
    make_settings: Callable[..., Settings], now: datetime
) -> None:
    """What the caches say they hold is not less than what keeping it costs the process
    (traced by tracemalloc), so ``[publish] cache_mb`` bounds real memory."""
    store, settings = fill_site(make_settings, now, page=10)
    _add_long_entries(store, now)
    warm = Site(store, settings, recheck=0)
    for path in _main_feed_paths(warm):  # the store's own caches filled before tracing
        body(warm, path)
    del warm
    gc.collect()
    tracemalloc.start()
    try:
        site = Site(store, settings, recheck=0)
        for path in _main_feed_paths(site):
            assert site.feed(path) is not None
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    counted = sum(site.memory().values())
    assert counted > 2**20  # the walk kept megabytes of Vietnamese text (2 bytes a character)
    assert kept <= counted


def test_held_bytes_counts_everything_a_value_reaches_once() -> None:
    text = "chữ " * 1_000  # not Latin-1: two bytes a character
    item = Item(
        id="urn:x",
        title="t",
        updated=datetime(2026, 1, 1),
        content_html=text,
        related=(Link(href="https://a.example/" + "x" * 500),),
    )
    assert held_bytes(item) > sys.getsizeof(text) + 500
    assert held_bytes(("atom", item), item) == held_bytes(("atom", item))  # once
    assert held_bytes(item.content_html) == sys.getsizeof(text) > 2 * len(text)


def test_fragment_cache_drops_least_recently_used_past_its_bytes() -> None:
    probe: FragmentCache[bytes] = FragmentCache(max_bytes=1)
    each = probe.weight("a", b"aaaa")  # one-letter keys and four-byte values weigh the same
    assert each > ENTRY_BYTES + 4  # the key, the value and the slot, not the bytes alone
    cache: FragmentCache[bytes] = FragmentCache(max_bytes=2 * each + 1)
    cache.put("a", b"aaaa")
    cache.put("b", b"bbbb")
    assert cache.peek("a") == b"aaaa"  # now "b" is the least recently used
    cache.put("c", b"cccc")
    assert cache.peek("b") is None and cache.peek("a") == b"aaaa" and cache.bytes == 2 * each
    cache.put("a", b"a")  # a new value for a key replaces its weight
    assert cache.bytes == 2 * each - 3
    huge = b"x" * (2 * each)
    assert cache.put("huge", huge) is huge  # larger than the budget: served, never kept
    assert cache.peek("huge") is None and len(cache) == 2


def test_fragment_cache_counts_its_keys() -> None:
    # The cleaned-content cache's keys are the raw markup: most of what it keeps.
    markup = "<p>" + "chữ " * 2_500 + "</p>"
    cache: FragmentCache[str] = FragmentCache(max_bytes=2**20)
    cache.put(markup, "cleaned")
    assert cache.bytes >= sys.getsizeof(markup) + sys.getsizeof("cleaned")


def test_fragment_cache_keeps_within_its_bytes_after_many_values() -> None:
    cache: FragmentCache[str] = FragmentCache(max_bytes=64 * 1024)
    for n in range(5_000):
        cache.put(("page", n), f"{n} " + "chữ " * (n % 300))
        assert cache.bytes <= cache.max_bytes
    assert 0 < len(cache) < 5_000
    assert cache.bytes == sum(cache.weight(k, v) for k, (v, _) in cache._data.items())
