"""Canonical URLs: absolute, lower-case scheme and host, no fragment, no tracking parameters.

Two links to one article that differ only in ``utm_*`` or ``fbclid`` must compare
equal, both for deduplication and for clustering.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

_UNSAFE_CHARS = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
# Most entry links: http(s), a lower-case host without port or user, no query, no
# fragment. Such a URL is its own canonical form (with "/" for an empty path), so the
# parse and re-assembly below are skipped (hot path: one per entry).
_PLAIN_URL = re.compile(r"https?://[a-z0-9-]+(?:\.[a-z0-9-]+)*(/[^?#]*)?")
# The same with a query of plain name=value pairs (feed links often carry utm_* ones):
# characters urlencode leaves as they are, so decoding and re-encoding the kept pairs
# would give them back unchanged, and only the tracking pairs need dropping.
_PLAIN_QUERY_URL = re.compile(
    r"(https?://[a-z0-9-]+(?:\.[a-z0-9-]+)*)(/[^?#]*)?\?([\w.~-]+=[\w.~-]*(?:&[\w.~-]+=[\w.~-]*)*)",
    re.ASCII,
)
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "ref_src",
    }
)


def is_tracking_param(name: str) -> bool:
    name = name.lower()
    return name.startswith("utm_") or name in TRACKING_PARAMS


def is_safe_url(url: str) -> bool:
    """True for http, https and mailto URLs (after the browser's own trimming)."""
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:  # unparseable (``//[``): not a URL a browser would follow
        return False
    return scheme in SAFE_SCHEMES


def absolute_url(url: str, base: str) -> str:
    """``url`` resolved against ``base``; "" when it cannot be parsed (``//[``)."""
    url = url.strip()
    # urljoin returns an absolute URL as it is, only much more slowly (hot path).
    if not base or url.startswith(("http://", "https://", "mailto:")):
        return url
    try:
        return urljoin(base, url)
    except ValueError:  # a malformed IPv6 literal in a network-path reference
        return ""


def canonical_url(url: str, base: str = "") -> str:
    """The canonical form of ``url`` resolved against ``base``; "" when unsafe or empty."""
    if not url.strip():
        # Resolving "" would yield the base itself: an entry without a link is not its feed.
        return ""
    url = absolute_url(url, base)
    if not url or _UNSAFE_CHARS.search(url):  # control characters, lone surrogates
        return ""
    plain = _PLAIN_URL.fullmatch(url)
    if plain:
        return url if plain.group(1) else f"{url}/"
    plain = _PLAIN_QUERY_URL.fullmatch(url)
    if plain:
        site, path, query = plain.groups()
        kept = "&".join(p for p in query.split("&") if not is_tracking_param(p.split("=", 1)[0]))
        return f"{site}{path or '/'}?{kept}" if kept else f"{site}{path or '/'}"
    return _canonical_parts(url)


def _canonical_parts(url: str) -> str:
    """:func:`canonical_url` of an absolute, safe URL the shortcuts do not take."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        return url if scheme == "mailto" else ""
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:
        # An IPv6 literal: hostname drops its brackets, which the URL needs back.
        host = f"[{host}]"
    if port and not (scheme == "http" and port == 80 or scheme == "https" and port == 443):
        host = f"{host}:{port}"
    query = parts.query
    if query:  # most article links have none: skip the decode and re-encode
        query = urlencode(
            [
                (k, v)
                for k, v in parse_qsl(query, keep_blank_values=True)
                if not is_tracking_param(k)
            ]
        )
    return urlunsplit((scheme, host, parts.path or "/", query, ""))
