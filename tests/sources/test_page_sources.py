"""Page sources: a site without a feed, followed through its article links (loopback only)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aggregator import pipeline
from aggregator.config import Settings, loads
from aggregator.sources.pages import find_article_links, is_article_path
from aggregator.store import Store, open_store
from tests.loopback import Reply, ScriptedHTTPServer

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
HTML = {"Content-Type": "text/html; charset=utf-8"}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/thoi-su/da-nang-thong-xe-cau-hoa-xuan-2-10262.html", True),
        ("/2026/11/22/phnom-penh-brt-millionth-passenger/", True),
        ("/news/48213", True),
        ("/tag/kinh-te", False),
        ("/category/the-thao/", False),
        ("/tac-gia/nguyen-van-a", False),
        ("/about", False),
        ("/", False),
        ("/images/banner-2026-11.jpg", False),
        ("/kinh-te", False),
    ],
)
def test_article_paths(path: str, expected: bool) -> None:
    assert is_article_path(path) is expected


def index(*links: str) -> bytes:
    nav = '<nav><a href="/">Trang chủ</a><a href="/tag/kinh-te">Kinh tế</a></nav>'
    items = "".join(f'<article><a href="{href}">x</a></article>' for href in links)
    other = '<a href="https://elsewhere.example/some-long-article-slug-1">ads</a>'
    return f"<html><body>{nav}<main>{items}</main>{other}</body></html>".encode()


def article(title: str, published: str) -> bytes:
    return (
        f'<html lang="vi"><head><title>{title} | Site</title>'
        f'<meta property="og:title" content="{title}">'
        f'<meta property="article:published_time" content="{published}"></head>'
        f"<body><nav>menu</nav><article><h1>{title}</h1><p>Nội dung bài viết về {title}.</p>"
        "<script>alert(1)</script></article><footer>footer</footer></body></html>"
    ).encode()


ARTICLES = {
    "/kinh-te/gia-xang-giam-10240.html": ("Giá xăng giảm lần thứ ba", "2026-11-19T15:05:00+07:00"),
    "/thoi-su/cau-hoa-xuan-2-10262.html": ("Thông xe cầu Hòa Xuân 2", "2026-11-22T09:00:00+07:00"),
    "/van-hoa/hoi-sach-mua-dong-10251.html": ("Hội sách mùa đông", "2026-11-21T08:30:00+07:00"),
}


@pytest.fixture
def site() -> Iterator[ScriptedHTTPServer]:
    with ScriptedHTTPServer() as server:
        for path, (title, published) in ARTICLES.items():
            server.routes[path] = lambda _h, t=title, p=published: Reply(200, article(t, p), HTML)
        server.routes["/"] = lambda _h: Reply(200, index(*ARTICLES), HTML)
        yield server


def follow(server: ScriptedHTTPServer, tmp_path: Path) -> tuple[Store, Settings]:
    settings = loads(
        f'[storage]\nurl = "sqlite:///{tmp_path / "db.sqlite"}"\n'
        "[fetch]\nallow_private_networks = true\ntimeout = 5\n",
        source="config.toml",
        base_dir=tmp_path,
        environ={},
    )
    store = open_store(settings.storage.url)
    store.add_feed(server.url("/"), now=NOW, kind="page", title="Site")
    return store, settings


def poll(store: Store, settings: Settings, now: datetime) -> None:
    asyncio.run(pipeline.refresh_feeds(store, settings, now=now, due_only=False))


def test_the_articles_of_a_page_become_entries(site: ScriptedHTTPServer, tmp_path: Path) -> None:
    store, settings = follow(site, tmp_path)
    poll(store, settings, NOW)
    entries = {e.title: e for e in store.list_entries()}
    assert set(entries) == {title for title, _ in ARTICLES.values()}
    bridge = entries["Thông xe cầu Hòa Xuân 2"]
    assert bridge.url == site.url("/thoi-su/cau-hoa-xuan-2-10262.html")
    assert bridge.published == datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    assert "<script" not in bridge.content_html and "menu" not in bridge.content_html
    assert bridge.language == "vi"
    assert not any("elsewhere" in path or "/tag/" in path for path, _ in site.requests)
    store.close()


def test_only_new_articles_are_fetched_on_the_next_pass(
    site: ScriptedHTTPServer, tmp_path: Path
) -> None:
    store, settings = follow(site, tmp_path)
    poll(store, settings, NOW)
    site.requests.clear()
    site.routes["/the-thao/futsal-nu-vao-chung-ket-10270.html"] = lambda _h: Reply(
        200, article("Futsal nữ vào chung kết", "2026-11-23T10:00:00+07:00"), HTML
    )
    site.routes["/"] = lambda _h: Reply(
        200, index("/the-thao/futsal-nu-vao-chung-ket-10270.html", *ARTICLES), HTML
    )
    poll(store, settings, NOW + timedelta(days=1))
    assert [path for path, _ in site.requests] == [
        "/",
        "/the-thao/futsal-nu-vao-chung-ket-10270.html",
    ]
    assert store.count_entries() == 4
    store.close()


def test_a_broken_article_is_skipped_and_a_broken_index_is_the_feed_error(
    site: ScriptedHTTPServer, tmp_path: Path
) -> None:
    store, settings = follow(site, tmp_path)
    site.routes["/van-hoa/hoi-sach-mua-dong-10251.html"] = lambda _h: Reply(500, b"oops")
    poll(store, settings, NOW)
    assert store.count_entries() == 2
    assert store.list_feeds()[0].error_count == 0
    site.routes["/"] = lambda _h: Reply(503, b"down")
    poll(store, settings, NOW + timedelta(days=1))
    (feed,) = store.list_feeds()
    assert feed.error_count == 1 and "HTTP 503" in feed.last_error
    assert store.count_entries() == 2  # nothing lost
    store.close()


def test_links_off_site_and_to_navigation_are_ignored() -> None:
    page = index("/kinh-te/gia-xang-giam-10240.html")
    assert find_article_links(page, "https://site.example/") == [
        "https://site.example/kinh-te/gia-xang-giam-10240.html"
    ]
