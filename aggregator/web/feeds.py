"""The web edge of the feeds: answering a request from the bytes a :class:`Site` keeps.

A feed request costs no database query and no rendering while the store is unchanged:
the known bytes are answered straight from the event loop (no thread hop), with their
precomputed ETag, Last-Modified and gzip form. Only when :meth:`Site.cached` cannot
vouch for them (the store may have moved) does the request go to a worker thread, where
the version is read and, if it moved, the feed rendered again.

Conditional GET follows RFC 9110 section 13: If-None-Match wins over If-Modified-Since,
and a 304 carries the same validators and caching headers as the 200 would.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from aggregator.publish.site import Rendered, Site

# Readers poll every few minutes at most; a minute keeps a shared cache useful without
# hiding a new entry for long.
FEED_MAX_AGE = 60


def wants_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in {"gzip", "x-gzip"}:
            return params.replace(" ", "").lower() not in {"q=0", "q=0.0", "q=0.00", "q=0.000"}
    return False


def _is_fresh(request: Request, etags: set[str], rendered: Rendered) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return bool(tags & etags) or "*" in tags
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return rendered.last_modified.replace(microsecond=0) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def feed_response(request: Request, rendered: Rendered, *, max_age: int = FEED_MAX_AGE) -> Response:
    """200 (or an empty-bodied HEAD), or 304 when the client's copy is current."""
    zipped = wants_gzip(request)
    # Each encoding is its own representation, so each has its own strong ETag; a client
    # that saw either form may revalidate with it.
    headers = {
        "ETag": rendered.gzip_etag if zipped else rendered.etag,
        "Last-Modified": rendered.http_date,
        "Cache-Control": f"public, max-age={max_age}",
        "Vary": "Accept-Encoding",
    }
    if rendered.links:
        headers["Link"] = rendered.links
    if _is_fresh(request, {rendered.etag, rendered.gzip_etag}, rendered):
        return Response(status_code=304, headers=headers)
    body = rendered.gzipped if zipped else rendered.body
    if zipped:
        headers["Content-Encoding"] = "gzip"
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(media_type=rendered.media_type, headers=headers)
    return Response(body, media_type=rendered.media_type, headers=headers)


async def serve_feed(request: Request, site: Site, path: str) -> Response:
    rendered = site.cached(path)
    if rendered is None:
        rendered = await run_in_threadpool(site.feed, path)
    if rendered is None:
        return PlainTextResponse("no such feed", status_code=404)
    return feed_response(request, rendered)
