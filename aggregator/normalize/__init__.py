"""Stage 3, normalize: a :class:`ParsedDocument` becomes clean, comparable :class:`Entry` values.

Order matters and is fixed here: text clean-up, page noise, then the HTML sanitizer,
the last step that writes HTML (see ``sanitize.py`` for why); the plain text, identity,
language and summary are read from its output.
Pure: the clock comes in as ``now``.
"""

from __future__ import annotations

import html
import itertools
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from aggregator.model import Entry, ParsedDocument, ParsedEntry
from aggregator.normalize.dates import clamp_date, parse_date
from aggregator.normalize.enclosures import clean_enclosures
from aggregator.normalize.identity import entry_key
from aggregator.normalize.language import detect_language, primary_subtag
from aggregator.normalize.noise import strip_page_noise
from aggregator.normalize.sanitize import sanitize_html
from aggregator.normalize.summary import summarize
from aggregator.normalize.text import (
    clean_html_text,
    clean_text,
    html_to_text,
    sanitized_html_blocks,
    sanitized_html_to_text,
)
from aggregator.normalize.urls import canonical_url
from aggregator.parse.text import has_noise_block, is_noise_line

__all__ = ["feed_metadata", "to_entries"]


def feed_metadata(doc: ParsedDocument) -> tuple[str, str]:
    """The feed's own title and site link, cleaned like an entry's."""
    return _one_line(doc.title), canonical_url(doc.site_url)


def to_entries(
    doc: ParsedDocument,
    *,
    feed_url: str,
    now: datetime,
    max_entries: int = 200,
    identity: str = "auto",
    iframe_hosts: frozenset[str] = frozenset(),
) -> list[Entry]:
    """Normalize every entry of ``doc``; duplicates inside the document are dropped.

    ``identity`` is the feed's policy (see :mod:`aggregator.normalize.identity`);
    ``iframe_hosts`` the embeds its HTML keeps (``[parse] iframe_hosts``).
    """
    guid_counts = Counter(item.guid for item in doc.entries if item.guid)
    entries: dict[str, Entry] = {}
    for item in doc.entries[:max_entries]:
        # A guid shared by several items cannot identify one of them: mix the link in
        # (unless the feed's owner said to trust its guids).
        shared_guid = identity == "auto" and guid_counts[item.guid] > 1
        entry = to_entry(
            item,
            doc=doc,
            feed_url=feed_url,
            now=now,
            shared_guid=shared_guid,
            identity=identity,
            iframe_hosts=iframe_hosts,
        )
        if entry is not None:
            entries.setdefault(entry.entry_key, entry)
    return list(entries.values())


def to_entry(
    item: ParsedEntry,
    *,
    doc: ParsedDocument,
    feed_url: str,
    now: datetime,
    shared_guid: bool = False,
    identity: str = "auto",
    iframe_hosts: frozenset[str] = frozenset(),
) -> Entry | None:
    base = _base_url(item.base_url or feed_url, doc)
    link = canonical_url(item.link, base)
    # Sanitize first and read the text off the sanitizer's output: nothing rewrites the
    # HTML after it, and its regular markup is read without a second parse. The sanitizer
    # scrubs and composes (NFC) what it outputs: no clean-up before it.
    markup = item.content_html or item.summary_html
    content_html = sanitize_html(markup, base, iframe_hosts)
    if has_noise_block(content_html):  # rare: sanitize again without the page noise
        content_html = sanitize_html(strip_page_noise(clean_html_text(markup)), base, iframe_hosts)
    # The text serves the title, summary, language and content identity: its start is
    # enough, and reading the whole of a long article would cost as much as sanitizing.
    # Most entries have a title and a declared language and are keyed by guid or link:
    # then only the summary reads the text, and only its first paragraphs.
    head = _head(content_html)
    title = _one_line(item.title)
    declared = item.language or doc.language
    text = ""
    paragraphs: Iterable[str]
    if not title or identity == "content" or not primary_subtag(declared):
        text = sanitized_html_to_text(head)
        paragraphs = text.split("\n\n")
        title = title or _title_from_text(text)
    else:
        paragraphs = sanitized_html_blocks(head)
    if not title and not link:
        return None
    # Our reader first: feedparser silently reads unknown zones such as ICT as UTC.
    published = clamp_date(parse_date(item.published_text) or item.published, now)
    guid = f"{item.guid}|{link}" if shared_guid else item.guid
    # A summary of its own only when the feed gave one beside the content (most RSS gives
    # one description, which is then the content: no need to read it twice).
    own_summary = item.summary_html if item.content_html else ""
    summary_text = html_to_text(clean_html_text(own_summary)) if own_summary else ""
    if summary_text:
        paragraphs = summary_text.split("\n\n")
    return Entry(
        entry_key=entry_key(
            guid=guid,
            link=link,
            title=title,
            published=published.isoformat(),
            text=text,
            policy=identity,
        ),
        url=link,
        title=title,
        published=published,
        updated=item.updated,
        language=detect_language(f"{title}\n{text}", declared),
        summary=summarize(_lead(paragraphs)),
        author=clean_text(item.author),
        tags=tuple(dict.fromkeys(filter(None, map(clean_text, item.tags)))),
        content_html=content_html,
        enclosures=clean_enclosures(item.enclosures, base) if item.enclosures else (),
    )


def _one_line(markup: str) -> str:
    """A title as plain text on one line (markup in titles is rare)."""
    return clean_text(html_to_text(markup) if "<" in markup else html.unescape(markup))


def _base_url(base: str, doc: ParsedDocument) -> str:
    """The base for relative URLs: a local file's path means nothing to a reader.

    A feed read from disk (the bundled samples, ``ingest``) resolves its relative links
    against the site it describes instead; with no site link they are dropped.
    """
    if base.startswith("file:"):
        return doc.site_url if doc.site_url.startswith(("http://", "https://")) else ""
    return base


LEAD_CHARS = 3000


def _head(markup: str, limit: int = LEAD_CHARS) -> str:
    """The first ``limit`` characters of serialized HTML, without a tag cut in two."""
    if len(markup) <= limit:
        return markup
    head = markup[:limit]
    cut = head.rfind("<")
    return head[:cut] if cut > head.rfind(">") else head


def _lead(paragraphs: Iterable[str], count: int = 3) -> str:
    """The first paragraphs a summary reads, without scraped-page leftovers."""
    lead = (p for p in paragraphs if not is_noise_line(p))
    return "\n\n".join(itertools.islice(lead, count))


def _title_from_text(text: str, limit: int = 90) -> str:
    first = text.split("\n\n", 1)[0]
    return first if len(first) <= limit else first[: limit - 1].rsplit(" ", 1)[0] + "…"
