"""Page sources: a site without a feed, followed through the article links of one page.

:func:`find_article_links` is pure: from an index page (a news front page, a blog's
home) it keeps links that look like articles: same site, not the page itself, not
navigation (tags, categories, authors, search, login, paging), preferring links
inside ``<article>``/``<main>``, in page order. The pipeline fetches only the ones
it has not stored yet, a few per pass, and extracts each with the HTML article parser.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import lxml.etree

from aggregator.normalize.urls import canonical_url
from aggregator.parse.html import load_html

NAVIGATION = re.compile(
    r"/(tag|tags|category|categories|chu-de|tac-gia|author|authors|search|tim-kiem|login|"
    r"dang-nhap|register|page|trang|about|contact|lien-he|privacy|terms|rss|feed)(/|$)",
    re.IGNORECASE,
)
ASSET = re.compile(r"\.(jpg|jpeg|png|gif|webp|svg|css|js|pdf|zip|mp3|mp4)$", re.IGNORECASE)


def is_article_path(path: str) -> bool:
    """A path that names one article: a long slug, or an id, not a section or an asset."""
    if NAVIGATION.search(path) or ASSET.search(path):
        return False
    last = path.rstrip("/").rsplit("/", 1)[-1]
    long_slug = len(last) >= 12 and "-" in last
    has_id = len(last) >= 5 and any(ch.isdigit() for ch in last)
    return long_slug or has_id


def find_article_links(page: bytes, base_url: str, content_type: str = "") -> list[str]:
    try:
        doc = load_html(page, content_type)
    except (lxml.etree.ParserError, ValueError):
        return []
    site = (urlsplit(base_url).hostname or "").removeprefix("www.")
    own = canonical_url(base_url)
    preferred: list[str] = []
    others: list[str] = []
    for anchor in doc.xpath("//a[@href]"):
        url = canonical_url(urljoin(base_url, anchor.get("href")))
        parts = urlsplit(url)
        if not url or url == own or (parts.hostname or "").removeprefix("www.") != site:
            continue
        if not is_article_path(parts.path):
            continue
        in_content = bool(anchor.xpath("ancestor::article or ancestor::main"))
        (preferred if in_content else others).append(url)
    return list(dict.fromkeys(preferred + others))
