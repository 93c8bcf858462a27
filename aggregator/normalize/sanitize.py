"""HTML sanitizer: an allowlist, and only http/https/mailto URLs in any attribute.

This must be the last step that touches entry HTML: anything that rewrites HTML
after it could reintroduce what it removed. Feed content is hostile: no scripts,
no event handlers, no style attributes (CSS expressions), no forms, frames, SVG or
MathML. Relative URLs are resolved against the entry's base by the sanitizer itself
(ammonia parses URLs as browsers do), after character references are decoded, so an
entity-obfuscated ``javascript:`` is judged as the browser would read it.

The only URL-bearing attributes allowed are ``href`` and ``src``, the two ammonia
checks: ``cite``, ``srcset``, ``poster``, ``background`` and ``xlink:href`` never pass.

Iframes (a video or a map embedded in a post) are dropped unless their host is one the
config allows (``[parse] iframe_hosts``): then the frame stays with an https address on
that host, sandboxed, lazily loaded and without our address as referrer. Whether a
frame's address is on an allowed host is decided inside nh3's own parse
(``attribute_filter``), never by a pattern over the markup.
"""

from __future__ import annotations

import re
import secrets
import sys
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

import nh3

from aggregator.normalize.text import scrub_characters
from aggregator.normalize.urls import SAFE_SCHEMES

# Block containers (div, section, ...) stay so the text keeps its paragraphs; they carry
# no attributes.
ALLOWED_TAGS = frozenset(
    "a abbr article b blockquote br caption code dd del div dl dt em figcaption figure "
    "footer h1 h2 h3 h4 h5 h6 header hr i img ins kbd li main mark ol p pre q s section "
    "small span strong sub sup table tbody td tfoot th thead time tr u ul".split()
)
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    "time": {"datetime"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}
# Their content is dropped with them, not kept as text. A frame's content is what a
# browser without frames shows ("your browser does not support iframes"); with frames
# allowed, _settle_frames drops it.
DROPPED_WITH_CONTENT = frozenset({"script", "style", "template", "iframe"})


# What the sanitizer would change in text without markup: tags, entities and the
# characters its serializer escapes (> and no-break space), CRs (parsed as newlines),
# NULs (dropped), and lone surrogates (which cannot reach it). Text with none of them
# comes out as it went in (checked in tests/normalize/test_normalize_sanitize.py).
_NOT_PLAIN = re.compile("[<>&\r\x00\xa0\ud800-\udfff]")

# Paragraphs without attributes around text the sanitizer hands back as it is: many
# feeds send nothing else (two entries in three of the bench corpus), and nh3 would
# parse and re-serialize them into the same string at about 20 ns a character. Besides
# what _NOT_PLAIN excludes, the text holds no character scrub_characters removes, so
# the result needs no scrub either; of the entities only &amp; &lt; &gt;, which the
# serializer writes back as they were. The loop is unrolled (runs of ordinary
# characters, then an entity) so the regex never backtracks. The grammar admits no
# nesting and no unclosed <p>, which the HTML parser would rebuild; tests compare it
# with nh3 on generated markup.
# What the shortcut's text never holds, as code point ranges: <, >, &, CR, the C0
# controls but tab and LF, DEL, no-break space, soft hyphen, zero-width characters and
# BOM, lone surrogates. Written as the class of what it admits: sre checks a class of
# ranges faster than a negated one (4.0 against 5.5 ns a character over the bench corpus).
_LEFT_OUT = (
    (0x00, 0x08),
    (0x0B, 0x1F),
    (0x26, 0x26),
    (0x3C, 0x3C),
    (0x3E, 0x3E),
    (0x7F, 0x7F),
    (0xA0, 0xA0),
    (0xAD, 0xAD),
    (0x200B, 0x200D),
    (0x2060, 0x2060),
    (0xD800, 0xDFFF),
    (0xFEFF, 0xFEFF),
)


def _admitted(left_out: tuple[tuple[int, int], ...]) -> str:
    """A regex class of every code point outside the sorted ranges ``left_out``."""
    ranges, start = [], 0
    for low, high in left_out:
        if low > start:
            ranges.append(f"\\U{start:08x}-\\U{low - 1:08x}")
        start = high + 1
    ranges.append(f"\\U{start:08x}-\\U{sys.maxunicode:08x}")
    return f"[{''.join(ranges)}]"


_KEPT = f"{_admitted(_LEFT_OUT)}*"
_RUN = f"{_KEPT}(?:&(?:amp|lt|gt);{_KEPT})*"
_PLAIN_PARAGRAPHS = re.compile(f"{_RUN}(?:<p>{_RUN}</p>{_RUN})*")


# A plain run: the same paragraphs inside markup that is not plain as a whole (a lead with
# a link, a picture or a styled first paragraph, then the body's paragraphs, then a
# "read more" link). nh3 reads the markup with _SENTINEL in the run's place: when nh3
# hands the sentinel back unchanged, the markup before the run leaves the HTML parser
# where a plain paragraph is read as it is (no formatting element carried into it, no
# table, raw text, comment, tag or attribute left open; an open <p> is closed by the
# run's first <p> as by the sentinel's), and the run comes out as it went in, in the
# sentinel's place. Otherwise the whole markup goes through nh3. The sentinel's random
# text cannot be guessed by a feed, so only ours can come back.
# tests/normalize/test_normalize_sanitize.py compares the result with nh3's own.
_PLAIN_RUN = re.compile(f"(?:<p>{_RUN}</p>{_RUN})+")
_NONCE = secrets.token_hex(8)
_SENTINEL = f"<p>{_NONCE}</p>{_NONCE}"
# The shortest run worth the search and the splice, as a share of the markup.
_RUN_SHARE = 0.5


def sanitize_html(
    markup: str, base_url: str = "", iframe_hosts: frozenset[str] = frozenset()
) -> str:
    """Safe HTML for our feeds, pages and emails, with every URL absolute; iframes only
    from ``iframe_hosts`` (lower-case host names)."""
    if not markup:
        return ""
    if _PLAIN_PARAGRAPHS.fullmatch(markup):
        # Nothing to remove, rewrite or scrub (see above): only composing is left.
        return unicodedata.normalize("NFC", markup).strip()
    if not _NOT_PLAIN.search(markup):  # plain text, as in many titles and Atom text
        cleaned = scrub_characters(markup)
    elif iframe_hosts and _IFRAME.search(markup):
        framed = _settle_frames(
            _clean_around_plain_run(markup, _framing_cleaner(base_url, iframe_hosts))
        )
        # None: a frame nh3 wrote in a form we do not expect; then none is kept.
        if framed is None:
            framed = _clean_around_plain_run(markup, _cleaner(base_url))
        cleaned = framed
    else:
        cleaned = _clean_around_plain_run(markup, _cleaner(base_url))
    # nh3 decodes character references, a few of them into characters we cannot store,
    # and decoded combining marks may need composing again (at a plain run's ends too).
    return unicodedata.normalize("NFC", cleaned).strip()


def _clean_around_plain_run(markup: str, cleaner: nh3.Cleaner) -> str:
    """nh3's output for ``markup``, scrubbed; its longest plain run skips nh3 (see
    _SENTINEL)."""
    longest = max(
        _PLAIN_RUN.finditer(markup), key=lambda run: run.end() - run.start(), default=None
    )
    if longest is not None and longest.end() - longest.start() >= _RUN_SHARE * len(markup):
        start, end = longest.span()
        cleaned = cleaner.clean(markup[:start] + _SENTINEL + markup[end:])
        before, found, after = cleaned.partition(_SENTINEL)
        if found:
            return scrub_characters(before) + markup[start:end] + scrub_characters(after)
    return scrub_characters(cleaner.clean(markup))


@lru_cache(maxsize=256)
def _cleaner(base_url: str) -> nh3.Cleaner:
    """One reusable sanitizer per base URL (an RSS feed has one base for every entry)."""
    return _with_base(base_url, _build_cleaner)


@lru_cache(maxsize=64)
def _framing_cleaner(base_url: str, iframe_hosts: frozenset[str]) -> nh3.Cleaner:
    """:func:`_cleaner` that keeps the iframes of ``iframe_hosts`` (see the docstring)."""
    return _with_base(base_url, lambda relative: _build_cleaner(relative, iframe_hosts))


Relative = Literal["deny"] | tuple[Literal["rewrite_with_base"], str]


def _with_base(base_url: str, build: Callable[[Relative], nh3.Cleaner]) -> nh3.Cleaner:
    if base_url.startswith(("http://", "https://")):
        try:
            return build(("rewrite_with_base", base_url))
        except ValueError:  # a base ammonia cannot parse: relative URLs go, as with none
            pass
    return build("deny")


# The attributes a kept frame is given whatever the feed wrote: scripts run in the
# embed's own origin (never ours: its host is another site), no top navigation, no forms.
FRAME_ATTRIBUTES = (
    ' sandbox="allow-scripts allow-same-origin allow-popups allow-presentation"'
    ' allowfullscreen="" loading="lazy" referrerpolicy="strict-origin-when-cross-origin"'
)
_IFRAME = re.compile("<iframe", re.IGNORECASE)
# A frame as nh3 writes it: its start tag holds only an address the filter let through,
# digits and nh3's generic attributes (title, lang), their values escaped (no quote or
# angle bracket); what follows up to the first end tag is its content, raw text to an
# HTML parser, handed back unescaped.
_FRAME = re.compile(r'<iframe((?: [a-z-]+="[^"<>]*")*)>.*?</iframe>', re.DOTALL)
_ATTRIBUTE = re.compile(r' ([a-z-]+)="([^"<>]*)"')
_KEPT_ATTRIBUTES = ("src", "width", "height", "title", "lang")
_SETTLED_FRAME = re.compile(f'<iframe(?: [a-z]+="[^"<>]*")*{re.escape(FRAME_ATTRIBUTES)}></iframe>')
_SIZE = re.compile("[0-9]{1,5}")


def _settle_frames(cleaned: str) -> str | None:
    """nh3's output with each kept frame rewritten (:func:`_settled_frame`) and each
    refused one (no address left) removed; None when a frame is not in the form nh3
    writes."""
    settled = _FRAME.sub(_settled_frame, cleaned)
    return None if "<iframe" in _SETTLED_FRAME.sub("", settled) else settled


def _settled_frame(frame: re.Match[str]) -> str:
    """One frame: its attributes in a fixed order (nh3's order varies from one call to the
    next, and an entry whose HTML changes is an edit), then ours; no content.

    A frame's content is shown only by readers that do not show frames, and there as
    HTML: "<script>" inside a frame comes back from nh3 as it was written (browsers read
    it as text, and nh3 with them). So it goes. A refused frame would be an empty box.
    """
    found = dict(_ATTRIBUTE.findall(frame.group(1)))
    if "src" not in found:
        return ""
    kept = "".join(f' {name}="{found[name]}"' for name in _KEPT_ATTRIBUTES if name in found)
    return f"<iframe{kept}{FRAME_ATTRIBUTES}></iframe>"


def _build_cleaner(relative: Relative, iframe_hosts: frozenset[str] = frozenset()) -> nh3.Cleaner:
    tags, attributes = set(ALLOWED_TAGS), {t: set(a) for t, a in ALLOWED_ATTRIBUTES.items()}
    framing: dict[str, object] = {}
    if iframe_hosts:
        tags.add("iframe")
        attributes["iframe"] = {"src", "width", "height"}
        framing = {"attribute_filter": _frame_filter(iframe_hosts)}
    return nh3.Cleaner(
        tags=tags,
        clean_content_tags=set(DROPPED_WITH_CONTENT) - tags,
        attributes=attributes,
        url_schemes=set(SAFE_SCHEMES),
        url_relative=relative,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        **framing,  # type: ignore[arg-type]
    )


def _frame_filter(iframe_hosts: frozenset[str]) -> Callable[[str, str, str], str | None]:
    def keep(element: str, attribute: str, value: str) -> str | None:
        if element != "iframe":
            return value
        if attribute == "src":
            return embeddable(value, iframe_hosts)
        if attribute in ("width", "height"):
            return value if _SIZE.fullmatch(value) else None
        return value  # nh3's generic ones (title, lang)

    return keep


def embeddable(src: str, hosts: frozenset[str]) -> str | None:
    """``src`` as an https address on one of ``hosts``, or None.

    The value as the feed wrote it (nh3 resolves relative addresses after this check, so
    one is never accepted). Refused outright: anything a browser would read with another
    host than :func:`urlsplit` does (backslashes, user info, white space, controls).
    """
    if src.startswith("//"):
        src = "https:" + src  # protocol-relative: on our https pages, https
    if src[:8].lower() != "https://" or _AMBIGUOUS.search(src):
        return None
    try:
        host = urlsplit(src).hostname
    except ValueError:
        return None
    return src if host in hosts else None


_AMBIGUOUS = re.compile(r"[\\@\s\x00-\x1f\x7f\"<>]")
