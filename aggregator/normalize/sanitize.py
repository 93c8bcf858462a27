"""HTML sanitizer: an allowlist, and only http/https/mailto URLs in any attribute.

This must be the last step that touches entry HTML: anything that rewrites HTML
after it could reintroduce what it removed. Feed content is hostile: no scripts,
no event handlers, no style attributes (CSS expressions), no forms, frames, SVG or
MathML. Relative URLs are resolved against the entry's base before the scheme
check, so an entity-obfuscated ``javascript:`` is judged after decoding.
"""

from __future__ import annotations

import nh3

from aggregator.normalize.text import scrub_characters
from aggregator.normalize.urls import absolute_url, is_safe_url

ALLOWED_TAGS = frozenset(
    "a abbr b blockquote br caption cite code dd del dl dt em figcaption figure h1 h2 h3 h4 "
    "h5 h6 hr i img ins kbd li mark ol p pre q s small strong sub sup table tbody td tfoot th "
    "thead time tr u ul".split()
)
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite"},
    "ins": {"cite"},
    "time": {"datetime"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}
URL_ATTRIBUTES = frozenset({"href", "src", "cite"})


def sanitize_html(markup: str, base_url: str = "") -> str:
    """Safe HTML for our feeds, pages and emails."""
    if not markup:
        return ""

    def resolve(tag: str, attribute: str, value: str) -> str | None:
        if attribute not in URL_ATTRIBUTES:
            return value
        url = absolute_url(value, base_url)
        return url if is_safe_url(url) else None

    cleaned = nh3.clean(
        markup,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=resolve,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    # nh3 decodes character references, a few of them into characters we cannot store.
    return scrub_characters(cleaned).strip()
