"""Feed discovery: from a web page's URL to the feed(s) it offers.

The page's own ``<link rel="alternate">`` declarations come first, in document order
(browsers and Miniflux do the same); when there are none, a few common paths are
tried. Comment feeds are never "the" feed of a site. :func:`find_feed_links` and
:func:`choose_feed` are pure; :func:`discover` does the I/O with the guarded fetcher.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin

import httpx
import lxml.etree

from aggregator.config import FetchSettings
from aggregator.errors import SourceError
from aggregator.model import RawDocument
from aggregator.parse import detect_format
from aggregator.parse.html import load_html
from aggregator.sources.http import fetch_url

FEED_TYPES = {
    "application/atom+xml": "atom",
    "application/rss+xml": "rss",
    "application/rdf+xml": "rss",
    "application/feed+json": "json",
    "application/json": "json",
}
# Preference when one site offers the same feed in several formats.
FORMAT_RANK = {"atom": 0, "rss": 1, "json": 2}
COMMON_PATHS = (
    "/feed",
    "/rss",
    "/atom.xml",
    "/feed.xml",
    "/rss.xml",
    "/index.xml",
    "/feed.json",
    "/feeds/all.atom",
)


@dataclass(frozen=True, slots=True)
class FeedLink:
    url: str
    title: str = ""
    format: str = ""

    @property
    def is_comments(self) -> bool:
        return "comment" in self.title.lower() or "/comments" in self.url.lower()


@dataclass(frozen=True, slots=True)
class Discovery:
    """``feed`` when the answer is clear, else every candidate in ``candidates``."""

    feed: FeedLink | None
    candidates: tuple[FeedLink, ...] = ()


def find_feed_links(page: bytes, base_url: str, content_type: str = "") -> list[FeedLink]:
    try:
        doc = load_html(page, content_type)
    except (lxml.etree.ParserError, ValueError):
        return []
    base = (doc.xpath("//base/@href") or [base_url])[0]
    links: dict[str, FeedLink] = {}
    for link in doc.xpath("//link[@href]"):
        rel = {r.lower() for r in (link.get("rel") or "").split()}
        kind = FEED_TYPES.get((link.get("type") or "").split(";")[0].strip().lower())
        if "alternate" in rel and kind:
            url = urljoin(urljoin(base_url, str(base)), link.get("href").strip())
            if url.startswith(("http://", "https://")):
                links.setdefault(url, FeedLink(url, (link.get("title") or "").strip(), kind))
    return list(links.values())


def choose_feed(links: list[FeedLink]) -> Discovery:
    """One feed when the site offers one (in one or several formats), else the list."""
    main = [link for link in links if not link.is_comments] or links
    if not main:
        return Discovery(None)
    titles = {_base_title(link.title) for link in main}
    if len(main) == 1 or len(titles) == 1:
        best = min(main, key=lambda link: FORMAT_RANK.get(link.format, 9))
        return Discovery(best, tuple(links))
    return Discovery(None, tuple(links))


def _base_title(title: str) -> str:
    # "Site » Feed", "Site RSS", "Site (Atom)" name one feed in several formats.
    words = title.lower().replace("»", " ").replace("(", " ").replace(")", " ").split()
    return " ".join(w for w in words if w not in {"rss", "atom", "json", "feed", "2.0", "1.0"})


def is_feed(raw: RawDocument) -> bool:
    return detect_format(raw) in {"xml", "json"}


async def discover(client: httpx.AsyncClient, url: str, settings: FetchSettings) -> Discovery:
    """What to subscribe to for ``url``: itself when it is a feed, else what its page offers."""
    raw = await fetch_url(client, url, settings)
    if is_feed(raw):
        return Discovery(FeedLink(raw.url))
    found = choose_feed(find_feed_links(raw.content, raw.url, raw.content_type))
    if found.feed is not None or found.candidates:
        return found
    for path in COMMON_PATHS:
        candidate = urljoin(raw.url, path)
        try:
            probe = await fetch_url(client, candidate, settings)
        except SourceError:
            continue
        if is_feed(probe):
            return Discovery(FeedLink(probe.url))
    return Discovery(None)
