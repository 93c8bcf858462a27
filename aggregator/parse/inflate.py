"""Stage 2's first step for a polled feed: inflate a body that arrived gzip-compressed.

The fetching process hands a feed's body to its parse worker as the server sent it:
most servers compress feeds about tenfold, so the worker receives a tenth of the bytes,
and the inflating (a tenth of a second for 50 MB) runs beside the other parses, not in
the one process that fetches and stores for every feed. The size limit is the same one
the fetch applies to a body it decodes itself (``[fetch] max_body_bytes``, counted after
decompression), so a small gzip bomb stops here at the limit too.
"""

from __future__ import annotations

import zlib
from dataclasses import replace

from aggregator.errors import ParseError
from aggregator.model import RawDocument

GZIP = "gzip"
_GZIP_WBITS = zlib.MAX_WBITS | 16  # a gzip header and trailer around the deflate stream


def inflate(raw: RawDocument, limit: int) -> RawDocument:
    """``raw`` with its body decompressed (at most ``limit`` bytes); raises ParseError."""
    if not raw.content_encoding:
        return raw
    if raw.content_encoding != GZIP:
        raise ParseError(f"{raw.url}: the body is encoded as {raw.content_encoding!r}")
    inflater = zlib.decompressobj(_GZIP_WBITS)
    try:
        body = inflater.decompress(raw.content, limit + 1)
    except zlib.error as exc:
        raise ParseError(f"{raw.url}: the body could not be decoded (gzip: {exc})") from None
    if len(body) > limit:
        raise ParseError(f"{raw.url}: the body is larger than the {limit:,}-byte limit")
    return replace(raw, content=body, content_encoding="")
