"""OPML 2.0 subscription lists: read for ``feeds import``, written for ``feeds export``.

Folders (nested outlines) become tags, as most readers export categories that way.
The DOCTYPE is dropped before parsing, as for feeds: no entity is ever expanded.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

from aggregator.errors import ParseError, SourceError
from aggregator.model import Feed
from aggregator.parse.feed import strip_doctype


@dataclass(frozen=True, slots=True)
class Outline:
    url: str
    title: str = ""
    tags: tuple[str, ...] = ()


def read_opml(path: Path) -> list[Outline]:
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise SourceError(str(path), exc.strerror or "cannot read the file") from None
    try:
        root = ET.fromstring(strip_doctype(content))
    except ET.ParseError as exc:
        raise ParseError(f"{path}: not a valid OPML file ({exc})") from None
    body = root.find("body")
    if root.tag != "opml" or body is None:
        raise ParseError(f"{path}: not an OPML file (no <opml><body>)")
    found: dict[str, Outline] = {}
    _walk(body, (), found)
    return list(found.values())


def _walk(node: ET.Element, folders: tuple[str, ...], found: dict[str, Outline]) -> None:
    for outline in node.findall("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        title = outline.get("title") or outline.get("text") or ""
        if url and urlsplit(url).scheme in {"http", "https"}:
            categories = tuple(
                c.strip()
                for c in (outline.get("category") or "").split(",")
                if c.strip().strip("/")
            )
            found.setdefault(
                url,
                Outline(
                    url=url, title=title, tags=folders + tuple(c.strip("/") for c in categories)
                ),
            )
        elif not url:
            _walk(outline, folders + ((title,) if title else ()), found)


def write_opml(feeds: list[Feed], *, title: str, now: datetime) -> str:
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = f"{title} subscriptions"
    ET.SubElement(head, "dateCreated").text = format_datetime(now, usegmt=True)
    body = ET.SubElement(root, "body")
    for feed in feeds:
        if feed.is_local:
            continue  # a path on this machine means nothing to another reader
        attributes = {
            "type": "rss",
            "text": feed.title or feed.url,
            "title": feed.title or feed.url,
            "xmlUrl": feed.url,
        }
        if feed.site_url:
            attributes["htmlUrl"] = feed.site_url
        if feed.tags:
            attributes["category"] = ",".join(feed.tags)
        ET.SubElement(body, "outline", attributes)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
