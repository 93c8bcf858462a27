"""Stage 1, sources: get the bytes of a feed, over HTTP(S) or from disk.

Everything here is I/O at the edge; the result is a :class:`RawDocument` and every
failure a :class:`SourceError` with a readable message.
"""

from __future__ import annotations

import asyncio

import httpx

from aggregator.config import FetchSettings
from aggregator.model import Feed, RawDocument
from aggregator.sources.files import path_from_url, read_file
from aggregator.sources.http import build_client, fetch_url

__all__ = ["build_client", "fetch_feed"]


async def fetch_feed(
    feed: Feed, client: httpx.AsyncClient, settings: FetchSettings, *, compressed: bool = False
) -> RawDocument:
    """Fetch one feed with its stored validators (ETag, Last-Modified); ``compressed``: see
    :func:`fetch_url`."""
    if feed.is_local:
        return await asyncio.to_thread(
            read_file,
            path_from_url(feed.url),
            max_bytes=settings.max_body_bytes,
            last_modified=feed.last_modified,
        )
    return await fetch_url(
        client,
        feed.url,
        settings,
        etag=feed.etag,
        last_modified=feed.last_modified,
        compressed=compressed,
    )
