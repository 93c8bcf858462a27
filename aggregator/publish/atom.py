"""Stage 7, publish: the Atom feed of a list of entries, for callers without a store.

The site's feeds (``site.py``) are built the same way from the store, with paging and
related links; this is the one-call form of the main feed's first page.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aggregator.config import PublishSettings
from aggregator.model import Entry
from aggregator.publish.feeds import Document, FragmentCache, render_atom_document
from aggregator.publish.items import NAMESPACE, entry_atom_id, entry_item, feed_id

__all__ = ["NAMESPACE", "entry_atom_id", "render_atom"]


def render_atom(
    entries: Sequence[Entry],
    *,
    settings: PublishSettings,
    now: datetime,
    path: str = "/feeds/all.atom",
    cache: FragmentCache[bytes] | None = None,
) -> bytes:
    """The Atom document for ``entries`` (already newest first)."""
    base = settings.base_url.rstrip("/")
    items = tuple(entry_item(entry, site_title=settings.title) for entry in entries)
    doc = Document(
        id=feed_id(base, path),
        title=settings.title,
        subtitle=f"Entries collected by {settings.title}",
        base_url=base,
        path=path.removesuffix(".atom"),
        updated=max((item.updated for item in items), default=now),
        items=items,
        author=settings.title,
        language=settings.locale,
    )
    return render_atom_document(doc, cache)
