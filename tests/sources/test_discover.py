"""Feed discovery: links in pages (pure), and `feeds add` on a loopback site."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from aggregator.cli import cli
from aggregator.sources.discover import FeedLink, choose_feed, find_feed_links
from tests.bundled import FEEDS, ROOT
from tests.loopback import Reply, ScriptedHTTPServer

ATOM = (FEEDS / "saigon-times-daily.atom").read_bytes()
RSS = (FEEDS / "tin-nhanh.xml").read_bytes()


def page(*links: str) -> bytes:
    head = "".join(links)
    return (
        f"<!doctype html><html><head><title>Site</title>{head}</head><body>x</body></html>".encode()
    )


def link(href: str, kind: str, title: str = "") -> str:
    return f'<link rel="alternate" type="{kind}" href="{href}" title="{title}">'


def test_links_are_found_resolved_and_deduplicated() -> None:
    html = page(
        '<base href="/blog/">',
        link("feed.atom", "application/atom+xml", "Blog (Atom)"),
        link("/rss.xml", "application/rss+xml; charset=utf-8", "Blog RSS"),
        link("feed.atom", "application/atom+xml", "again"),
        link("https://cdn.example/feed.json", "application/feed+json", "Blog"),
        link("javascript:alert(1)", "application/rss+xml"),
        '<link rel="stylesheet" type="text/css" href="/s.css">',
        link("/other", "text/html"),
    )
    found = find_feed_links(html, "https://site.example/blog/post")
    assert [(f.url, f.format) for f in found] == [
        ("https://site.example/blog/feed.atom", "atom"),
        ("https://site.example/rss.xml", "rss"),
        ("https://cdn.example/feed.json", "json"),
    ]


def test_one_feed_in_several_formats_picks_atom() -> None:
    links = [
        FeedLink("https://a/rss", "Blog RSS", "rss"),
        FeedLink("https://a/atom", "Blog (Atom)", "atom"),
    ]
    assert choose_feed(links).feed == links[1]


def test_comment_feeds_are_never_the_main_feed() -> None:
    links = [
        FeedLink("https://a/comments/feed", "Blog » Comments", "rss"),
        FeedLink("https://a/feed", "Blog", "rss"),
    ]
    assert choose_feed(links).feed == links[1]


def test_distinct_feeds_are_listed_not_chosen() -> None:
    links = [FeedLink("https://a/news", "News", "rss"), FeedLink("https://a/sport", "Sport", "rss")]
    result = choose_feed(links)
    assert result.feed is None and result.candidates == tuple(links)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[ScriptedHTTPServer, Path]]:
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    text = (tmp_path / "config.toml").read_text(encoding="utf-8")
    (tmp_path / "config.toml").write_text(text.split("# Feeds: one [[feeds]]")[0], encoding="utf-8")
    with ScriptedHTTPServer() as server:
        yield server, tmp_path


def add(workdir: Path, url: str, *, private: bool = True) -> tuple[int, str]:
    env = {"AGGREGATOR_FETCH_ALLOW_PRIVATE_NETWORKS": "true" if private else "false"}
    result = CliRunner().invoke(
        cli, ["--config", str(workdir / "config.toml"), "feeds", "add", url], env=env
    )
    return result.exit_code, result.output


def listed(workdir: Path) -> list[dict[str, object]]:
    result = CliRunner().invoke(
        cli, ["--config", str(workdir / "config.toml"), "feeds", "list", "--json"]
    )
    return list(json.loads(result.output))


def test_adding_a_page_subscribes_to_its_feed(site: tuple[ScriptedHTTPServer, Path]) -> None:
    server, workdir = site
    server.routes["/"] = lambda _h: Reply(
        200,
        page(
            link("/atom", "application/atom+xml", "Sài Gòn (Atom)"),
            link("/rss", "application/rss+xml", "Sài Gòn RSS"),
        ),
        {"Content-Type": "text/html"},
    )
    server.routes["/atom"] = lambda _h: Reply(200, ATOM, {"Content-Type": "application/atom+xml"})
    code, out = add(workdir, server.url("/"))
    assert code == 0 and f"added: feed 1 {server.url('/atom')}" in out
    (feed,) = listed(workdir)
    assert feed["url"] == server.url("/atom") and feed["title"] == "Sài Gòn (Atom)"


def test_a_page_with_several_feeds_lists_them(site: tuple[ScriptedHTTPServer, Path]) -> None:
    server, workdir = site
    server.routes["/"] = lambda _h: Reply(
        200,
        page(
            link("/news", "application/rss+xml", "News"),
            link("/sport", "application/rss+xml", "Sport"),
        ),
        {"Content-Type": "text/html"},
    )
    code, out = add(workdir, server.url("/"))
    assert code == 1 and "several feeds found" in out
    assert server.url("/news") in out and server.url("/sport") in out
    assert listed(workdir) == []


def test_common_paths_are_tried_when_the_page_declares_nothing(
    site: tuple[ScriptedHTTPServer, Path],
) -> None:
    server, workdir = site
    server.routes["/"] = lambda _h: Reply(200, page(), {"Content-Type": "text/html"})
    server.routes["/feed.xml"] = lambda _h: Reply(200, RSS, {"Content-Type": "application/rss+xml"})
    code, out = add(workdir, server.url("/"))
    assert code == 0 and f"added: feed 1 {server.url('/feed.xml')}" in out


def test_a_page_without_any_feed_is_one_clear_error(site: tuple[ScriptedHTTPServer, Path]) -> None:
    server, workdir = site
    server.routes["/"] = lambda _h: Reply(200, page(), {"Content-Type": "text/html"})
    code, out = add(workdir, server.url("/"))
    assert code == 1 and out.startswith("error: ") and "no feed found" in out
    assert "--as-page" in out and listed(workdir) == []
    result = CliRunner().invoke(
        cli,
        ["--config", str(workdir / "config.toml"), "feeds", "add", server.url("/"), "--as-page"],
    )
    assert result.exit_code == 0 and result.output.startswith("added: page 1")
    (page_source,) = listed(workdir)
    assert page_source["url"] == server.url("/")


def test_a_feed_url_is_added_as_it_is(site: tuple[ScriptedHTTPServer, Path]) -> None:
    server, workdir = site
    server.routes["/rss"] = lambda _h: Reply(200, RSS, {"Content-Type": "application/rss+xml"})
    code, out = add(workdir, server.url("/rss"))
    assert code == 0 and f"added: feed 1 {server.url('/rss')}" in out


def test_a_private_address_is_refused_at_add_time(site: tuple[ScriptedHTTPServer, Path]) -> None:
    server, workdir = site
    server.routes["/rss"] = lambda _h: Reply(200, RSS)
    code, out = add(workdir, server.url("/rss"), private=False)
    assert code == 1 and "non-public address 127.0.0.1" in out
    assert server.requests == [] and listed(workdir) == []
