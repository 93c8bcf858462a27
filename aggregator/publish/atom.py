"""Our Atom 1.0 feed of entries, built with feedgen (RFC 4287).

Entry ids are ``urn:uuid`` values derived from the source feed and the entry's
identity, so they stay stable across runs and machines. Content was sanitized in
``normalize`` and is published as escaped HTML.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from feedgen.feed import FeedGenerator

from aggregator.config import PublishSettings
from aggregator.model import Entry

_NAMESPACE = uuid.UUID("5b0c2d62-3f0e-4d55-9a51-7c1f4a9e2b10")


def entry_atom_id(entry: Entry) -> str:
    return uuid.uuid5(_NAMESPACE, f"{entry.feed_id}:{entry.entry_key}").urn


def render_atom(
    entries: Sequence[Entry],
    *,
    settings: PublishSettings,
    now: datetime,
    path: str = "/feeds/all.atom",
) -> bytes:
    """The Atom document for ``entries`` (already newest first)."""
    base = settings.base_url.rstrip("/")
    fg = FeedGenerator()
    fg.id(uuid.uuid5(_NAMESPACE, base + path).urn)
    fg.title(settings.title)
    fg.subtitle(f"Entries collected by {settings.title}")
    fg.author({"name": settings.title})
    fg.link(href=base + "/", rel="alternate", type="text/html")
    fg.link(href=base + path, rel="self", type="application/atom+xml")
    fg.generator("aggregator")
    fg.updated(max((e.updated or e.published for e in entries), default=now))
    for entry in entries:
        item = fg.add_entry(order="append")
        item.id(entry_atom_id(entry))
        item.title(entry.title or "(untitled)")
        if entry.url:
            item.link(href=entry.url, rel="alternate")
        item.published(entry.published)
        item.updated(entry.updated or entry.published)
        item.author({"name": entry.author or entry.feed_title or settings.title})
        if entry.summary:
            item.summary(entry.summary)
        if entry.content_html:
            item.content(entry.content_html, type="html")
        for tag in entry.tags:
            item.category(term=tag)
    document: bytes = fg.atom_str(pretty=True)
    return document
