"""Stage 7, publish: what one entry, story or digest issue says as a feed item.

Ids are stable across regenerations and machines. An entry's is a ``urn:uuid`` of its
feed and its identity in that feed (the same as in the feedgen era, so readers that
already have our entries keep them); a story and a digest issue get a ``tag:`` URI
(RFC 4151) of the site's host, the day they were made and their row id, so a row id
reused after a prune can never repeat one.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from aggregator.model import DigestIssue, Entry, Story
from aggregator.normalize.sanitize import sanitize_html
from aggregator.publish.feeds import Item, Link

NAMESPACE = uuid.UUID("5b0c2d62-3f0e-4d55-9a51-7c1f4a9e2b10")


def entry_atom_id(entry: Entry) -> str:
    return uuid.uuid5(NAMESPACE, f"{entry.feed_id}:{entry.entry_key}").urn


def tag_uri(base_url: str, day: datetime, specific: str) -> str:
    host = urlsplit(base_url).hostname or "localhost"
    return f"tag:{host},{day.astimezone(UTC):%Y-%m-%d}:{specific}"


def story_atom_id(story: Story, base_url: str) -> str:
    return tag_uri(base_url, story.created_at, f"story/{story.id}")


def issue_atom_id(issue: DigestIssue, base_url: str) -> str:
    return tag_uri(base_url, issue.created_at, f"digest/{quote(issue.digest, safe='')}/{issue.id}")


def feed_id(base_url: str, path: str) -> str:
    # The same as the feedgen-era id of /feeds/all.atom, so existing readers keep it.
    return uuid.uuid5(NAMESPACE, base_url + path).urn


def entry_item(
    entry: Entry,
    *,
    related: Sequence[Link] = (),
    site_title: str = "",
    clean: Callable[[str], str] = sanitize_html,
) -> Item:
    return Item(
        id=entry_atom_id(entry),
        title=entry.title or "(untitled)",
        updated=entry.updated or entry.published,
        published=entry.published,
        url=entry.url,
        related=tuple(related),
        author=entry.author or entry.feed_title or site_title,
        summary=entry.summary,
        # Sanitized in normalize already; again here, with the same rules, because a row
        # written by an older version must not reach a reader unsanitized.
        content_html=clean(entry.content_html),
        language=entry.language,
        categories=entry.tags,
        enclosures=entry.enclosures,
    )


def story_updated(story: Story) -> datetime:
    """When the story last changed: a source joining moves it."""
    seen = (e.first_seen_at or e.published for e in story.entries)
    return max(story.updated_at, *seen)


def story_content(story: Story) -> str:
    """The story as HTML: the lead's summary, then every source with its headline."""
    lead = story.entries[0]
    parts = [f"<p>{html.escape(lead.summary)}</p>"] if lead.summary else []
    parts.append("<ul>")
    for entry in story.entries:
        source = html.escape(entry.feed_title or entry.url)
        title = html.escape(entry.title)
        day = f"{entry.published.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        parts.append(f'<li><a href="{html.escape(entry.url)}">{source}</a>: {title} ({day})</li>')
    parts.append("</ul>")
    return "".join(parts)


def story_item(story: Story, *, base_url: str) -> Item:
    lead = story.entries[0]
    return Item(
        id=story_atom_id(story, base_url),
        title=story.title,
        updated=story_updated(story),
        published=story.created_at,
        url=f"{base_url}/stories/{story.id}",
        related=tuple(
            Link(href=e.url, rel="related", type="text/html", title=e.feed_title or e.title)
            for e in story.entries
            if e.url
        ),
        author=lead.feed_title,
        summary=lead.summary,
        content_html=story_content(story),
        language=lead.language,
    )


_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.DOTALL)


def issue_body(issue_html: str) -> str:
    """The inside of an issue's HTML document: what an Atom entry's content can hold."""
    match = _BODY.search(issue_html)
    return (match[1] if match else issue_html).strip()
