"""Stage 7, publish: every feed of the site, read from the store and kept as bytes.

The web server and ``aggregator publish`` both ask a :class:`Site` for a feed by its
path (``/feeds/all.atom``, ``/feeds/tag/NAME.atom``, ``/feeds/stories.atom``,
``/digests/NAME.atom``, ``/feeds/all.rss``, ``/feeds/all.json``, and each one's later
pages ``…/page/N.ext``). A feed is rendered when the store's :meth:`content_version`
moves, not per request: between changes every request is answered from the same bytes,
their ETag and their gzip form, all computed once. The version is itself read at most
once per ``recheck`` seconds, so a burst of requests costs no query.

What each item says (and its stable id) is decided in ``items.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, unquote

from aggregator.config import DigestSettings, Settings
from aggregator.model import DigestIssue, Story
from aggregator.normalize.sanitize import sanitize_html
from aggregator.publish.feeds import (
    MEDIA_TYPES,
    RENDERERS,
    Document,
    FragmentCache,
    Item,
    Link,
    page_path,
)
from aggregator.publish.items import entry_item, feed_id, issue_atom_id, issue_body, story_item
from aggregator.store import Store
from aggregator.store.entries import EntryStamp

EMPTY_FEED_UPDATED = datetime(2000, 1, 1, tzinfo=UTC)
# At most this many related links per entry: a story of fifty sources stays readable.
MAX_RELATED = 10
_FEED_PATH = re.compile(
    r"/(?:feeds/(?P<feed>all|stories|tag/(?P<tag>[^/]+))"
    r"|digests/(?P<digest>[^/]+)(?P<stream>/stories)?)"
    r"(?:/page/(?P<page>[1-9][0-9]{0,8}))?\.(?P<ext>atom|rss|json)"
)
# A digest's story stream is filtered in Python (keywords, languages): it looks at the
# newest this many stories of the digest's tags.
STREAM_STORIES = 1_000


@dataclass(frozen=True, slots=True)
class FeedRef:
    kind: str  # all, tag, stories, digest (its issues) or stream (a digest's stories)
    name: str
    page: int
    ext: str

    @property
    def base(self) -> str:
        if self.kind == "tag":
            return f"/feeds/tag/{quote(self.name, safe='')}"
        if self.kind == "digest":
            return f"/digests/{quote(self.name, safe='')}"
        if self.kind == "stream":
            return f"/digests/{quote(self.name, safe='')}/stories"
        return f"/feeds/{self.kind}"

    @property
    def path(self) -> str:
        return page_path(self.base, self.page, self.ext)


def parse_feed_path(path: str) -> FeedRef | None:
    """The feed at ``path``, or None; RSS and JSON Feed exist for the main feed only."""
    match = _FEED_PATH.fullmatch(path)
    if match is None:
        return None
    if match["digest"]:
        kind = "stream" if match["stream"] else "digest"
    else:
        kind = "tag" if match["tag"] else match["feed"]
    if kind != "all" and match["ext"] != "atom":
        return None
    name = unquote(match["tag"] or match["digest"] or "")
    return FeedRef(kind, name, int(match["page"] or 1), match["ext"])


class Rendered:
    """One feed's bytes with their validators; the gzip form is made on first demand."""

    def __init__(
        self, body: bytes, media_type: str, last_modified: datetime, *, links: str = ""
    ) -> None:
        self.body = body
        self.media_type = media_type
        self.last_modified = last_modified
        self.links = links  # an HTTP Link header value (WebSub discovery), or ""
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        self.gzip_etag = self.etag[:-1] + '-gz"'
        self.http_date = format_datetime(last_modified.astimezone(UTC), usegmt=True)
        self._gzipped: bytes | None = None

    @property
    def gzipped(self) -> bytes:
        if self._gzipped is None:
            # mtime=0: the same bytes every time, so a gzip ETag would be stable too.
            self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gzipped


@dataclass
class _Cached:
    version: tuple[Any, ...]
    rendered: Rendered

    def gzip_room(self) -> int:
        # Room for the gzip copy, made after the feed is kept (at the first request that
        # takes it): a fraction of the body.
        return len(self.rendered.body) // 4


class Site:
    """Feeds over ``store``, each regenerated only when the store's version moves.

    ``recheck``: seconds between two reads of the version; ``renders`` counts renders.
    """

    def __init__(self, store: Store, settings: Settings, *, recheck: float = 1.0) -> None:
        self.store = store
        self.settings = settings
        self.recheck = recheck
        self.renders = 0
        self._make_caches(settings.publish.cache_mb)
        self._version: tuple[Any, ...] = ()
        self._checked_at = -math.inf
        self._lock = threading.Lock()

    def _make_caches(self, megabytes: int) -> None:
        """Empty caches sharing ``[publish] cache_mb``: rendered feeds and the items'
        serialized bytes take most of it, because a regeneration after one new entry
        joins the bytes of all the others."""
        budget = megabytes * 2**20
        self._feeds: FragmentCache[_Cached] = FragmentCache(
            max_bytes=budget * 4 // 10, extra=_Cached.gzip_room
        )
        # A fragment's key holds its item, about as much text as the fragment's bytes.
        self.fragments: FragmentCache[bytes] = FragmentCache(max_bytes=budget * 4 // 10)
        self._items: FragmentCache[Item] = FragmentCache(max_bytes=budget // 10)
        self._cleaned: FragmentCache[str] = FragmentCache(max_bytes=budget // 20)
        self._issues: FragmentCache[str] = FragmentCache(2_000, max_bytes=budget // 20)

    def memory(self) -> dict[str, int]:
        """Bytes each cache holds, by its own count (``/metrics``)."""
        caches: dict[str, FragmentCache[Any]] = {
            "feeds": self._feeds,
            "fragments": self.fragments,
            "items": self._items,
            "cleaned": self._cleaned,
            "issues": self._issues,
        }
        return {name: cache.bytes for name, cache in caches.items()}

    @property
    def base_url(self) -> str:
        return self.settings.publish.base_url.rstrip("/")

    def reconfigure(self, settings: Settings) -> None:
        """Serve by new settings (a daemon's reload): every cached feed and fragment was
        rendered by the old ones (titles, addresses, page sizes), so all are dropped."""
        with self._lock:
            self.settings = settings
            self._make_caches(settings.publish.cache_mb)
            self._checked_at = -math.inf

    def version(self) -> tuple[Any, ...]:
        now = time.monotonic()
        if now - self._checked_at >= self.recheck:
            self._version = self.store.content_version()
            self._checked_at = now
        return self._version

    def refresh(self) -> None:
        """Read the store's version on the next request, whenever the last read was."""
        self._checked_at = -math.inf

    def cached(self, path: str) -> Rendered | None:
        """The feed's bytes if they are known to be current, without touching the store:
        the web server answers these on its event loop."""
        entry = self._feeds.peek(path)
        if entry is None or time.monotonic() - self._checked_at >= self.recheck:
            return None
        return entry.rendered if entry.version == self._version else None

    def feed(self, path: str) -> Rendered | None:
        """The feed at ``path`` (None when there is no such feed or page)."""
        ref = parse_feed_path(path)
        if ref is None:
            return None
        # One thread renders a feed at a time; the others wait and take its bytes.
        with self._lock:
            version = self.version()
            entry = self._feeds.peek(path)
            if entry is not None and entry.version == version:
                return entry.rendered
            rendered = self._render(ref)
            # Only feeds that exist are kept: a made-up page number costs no memory.
            if rendered is not None:
                self._feeds.put(path, _Cached(version, rendered))
            return rendered

    def _render(self, ref: FeedRef) -> Rendered | None:
        doc = self.document(ref)
        if doc is None:
            return None
        self.renders += 1
        body = RENDERERS[ref.ext](doc, self.fragments)
        links = ""
        if doc.announced_hubs:
            # WebSub section 4: the hubs and the topic's own URL, also for clients that
            # never look inside the body.
            self_url = self.base_url + ref.path
            links = ", ".join(
                [*(f'<{hub}>; rel="hub"' for hub in doc.hubs), f'<{self_url}>; rel="self"']
            )
        return Rendered(body, MEDIA_TYPES[ref.ext], doc.updated, links=links)

    # -- documents ------------------------------------------------------------------

    def document(self, ref: FeedRef) -> Document | None:
        if ref.kind == "stories":
            return self._stories_document(ref)
        if ref.kind == "digest":
            return self._digest_document(ref)
        if ref.kind == "stream":
            return self._stream_document(ref)
        return self._entries_document(ref)

    def _pages(self, ref: FeedRef, count: int) -> int | None:
        pages = max(1, math.ceil(count / self.settings.publish.max_entries))
        return pages if ref.page <= pages else None

    def _document(self, ref: FeedRef, items: Sequence[Item], pages: int, **extra: Any) -> Document:
        publish = self.settings.publish
        return Document(
            id=feed_id(self.base_url, page_path(ref.base, 1, "atom")),
            base_url=self.base_url,
            path=ref.base,
            # An empty feed has never changed: a fixed instant keeps its bytes and ETag.
            updated=max((item.updated for item in items), default=EMPTY_FEED_UPDATED),
            items=tuple(items),
            author=publish.title,
            language=publish.locale,
            page=ref.page,
            pages=pages,
            hubs=publish.websub_hubs,
            **extra,
        )

    def tag_feed_ids(self) -> dict[str, list[int]]:
        tags: dict[str, list[int]] = {}
        for feed in self.store.list_feeds():
            for tag in feed.tags:
                tags.setdefault(tag, []).append(feed.id)
        return tags

    def _entries_document(self, ref: FeedRef) -> Document | None:
        title = self.settings.publish.title
        feed_ids: list[int] | None = None
        if ref.kind == "tag":
            feed_ids = self.tag_feed_ids().get(ref.name)
            if feed_ids is None:
                return None
        size = self.settings.publish.max_entries
        pages = self._pages(ref, self.store.count_entries(feed_ids=feed_ids))
        if pages is None:
            return None
        # Only the stamps of the page's entries are read; full rows only for entries not
        # seen since their last change (after one new entry: that one).
        stamps = self.store.entry_stamps(
            limit=size, offset=(ref.page - 1) * size, feed_ids=feed_ids
        )
        links = self.store.story_links([s.story_id for s in stamps if s.story_id is not None])
        keyed = [
            (stamp, self._related(stamp, links.get(stamp.story_id or 0, []))) for stamp in stamps
        ]
        items = {key: self._items.peek(key) for key in keyed}
        missing = [stamp.id for (stamp, _), item in items.items() if item is None]
        rows = {entry.id: entry for entry in self.store.entries_by_id(missing)}
        for (stamp, related), item in items.items():
            if item is None and stamp.id in rows:
                entry = replace(rows[stamp.id], feed_title=stamp.feed_title)
                made = entry_item(entry, related=related, site_title=title, clean=self._clean)
                items[(stamp, related)] = self._items.put((stamp, related), made)
        ready = [item for item in items.values() if item is not None]
        if ref.kind == "tag":
            return self._document(
                ref, ready, pages, title=f"{title}: {ref.name}", subtitle=f"#{ref.name}"
            )
        return self._document(
            ref, ready, pages, title=title, subtitle=f"Entries collected by {title}"
        )

    def _clean(self, markup: str) -> str:
        # An entry whose story gains a source is a new item with the same content.
        return self._cleaned.get(
            markup, lambda: sanitize_html(markup, iframe_hosts=self.settings.parse.frame_hosts)
        )

    def _related(
        self, stamp: EntryStamp, members: Sequence[tuple[int, str, str]]
    ) -> tuple[Link, ...]:
        """Links to the other sources of the entry's story, and to the story's page."""
        others = [(url, t) for entry_id, url, t in members if entry_id != stamp.id and url]
        if not others:
            return ()
        links = [
            Link(href=url, rel="related", type="text/html", title=t)
            for url, t in others[:MAX_RELATED]
        ]
        story = f"{self.base_url}/stories/{stamp.story_id}"
        return (*links, Link(href=story, rel="related", type="text/html", title="story"))

    def _stream_stories(self, spec: DigestSettings) -> list[Story]:
        """The stories the digest's filters pick, newest first: what a reader who follows
        the digest in a feed reader gets as it happens, instead of once per issue."""
        from aggregator.digest.build import select_stories

        stories = self.store.list_stories(limit=STREAM_STORIES, tags=spec.tags)
        ids = {feed.url: feed.id for feed in self.store.list_feeds()}
        feed_ids = {ids[url] for url in spec.feeds if url in ids} if spec.feeds else None
        return select_stories(stories, spec, feed_ids=feed_ids)

    def _stream_document(self, ref: FeedRef) -> Document | None:
        spec = self.digest_settings(ref.name)
        if spec is None:
            return None
        stories = self._stream_stories(spec)
        size = self.settings.publish.max_entries
        pages = self._pages(ref, len(stories))
        if pages is None:
            return None
        start = (ref.page - 1) * size
        items = [
            story_item(story, base_url=self.base_url) for story in stories[start : start + size]
        ]
        name = spec.title or spec.name
        return self._document(
            ref,
            items,
            pages,
            title=f"{name}: stories",
            subtitle=f"The stories {name} picks, one entry each, as they happen",
            home_path=f"/digests/{quote(spec.name, safe='')}",
        )

    def _stories_document(self, ref: FeedRef) -> Document | None:
        size = self.settings.publish.max_entries
        pages = self._pages(ref, self.store.count_stories())
        if pages is None:
            return None
        stories = self.store.list_stories(limit=size, offset=(ref.page - 1) * size)
        items = [story_item(story, base_url=self.base_url) for story in stories]
        title = self.settings.publish.title
        return self._document(
            ref,
            items,
            pages,
            title=f"{title}: stories",
            subtitle="One entry per story, updated as sources join",
        )

    def digest_settings(self, name: str) -> DigestSettings | None:
        return self.settings.digest(name)

    def _digest_document(self, ref: FeedRef) -> Document | None:
        spec = self.digest_settings(ref.name)
        if spec is None:
            return None
        size = self.settings.publish.max_entries
        pages = self._pages(ref, self.store.count_issues(spec.name))
        if pages is None:
            return None
        issues = self.store.list_issues(spec.name, limit=size, offset=(ref.page - 1) * size)
        items = [self._issue_item(issue, spec) for issue in issues]
        return self._document(
            ref,
            items,
            pages,
            title=spec.title or spec.name,
            subtitle=f"Every issue of {spec.title or spec.name}, as sent",
            home_path=f"/digests/{quote(spec.name, safe='')}",
        )

    def _issue_item(self, issue: DigestIssue, spec: DigestSettings) -> Item:
        from aggregator.publish.email import issue_url, render_issue

        # Issues are frozen: rendered once per process, whatever else changes.
        content = self._issues.get(
            ("issue", issue.id),
            lambda: issue_body(
                render_issue(issue, digest=spec, publish=self.settings.publish, archive=True).html
            ),
        )
        return Item(
            id=issue_atom_id(issue, self.base_url),
            title=issue.title,
            updated=issue.created_at,
            published=issue.created_at,
            url=issue_url(issue.id, self.settings.publish),
            author=self.settings.publish.title,
            summary=f"{len(issue.stories)} stories",
            content_html=content,
            language=spec.locale,
        )

    # -- static output --------------------------------------------------------------

    def _first_pages(self, tag_ids: Mapping[str, list[int]] | None = None) -> list[FeedRef]:
        """``tag_ids``: :meth:`tag_feed_ids`, when the caller has read it already."""
        tags = self.tag_feed_ids() if tag_ids is None else tag_ids
        refs = [FeedRef("all", "", 1, ext) for ext in ("atom", "rss", "json")]
        refs.append(FeedRef("stories", "", 1, "atom"))
        refs += [FeedRef("tag", tag, 1, "atom") for tag in sorted(tags)]
        for spec in self.settings.digests:
            refs += [
                FeedRef("digest", spec.name, 1, "atom"),
                FeedRef("stream", spec.name, 1, "atom"),
            ]
        return refs

    def topic_paths(self) -> list[str]:
        """The first page of every feed: the addresses readers subscribe to (and that
        WebSub announces)."""
        return [ref.path for ref in self._first_pages()]

    def feed_paths(self) -> list[str]:
        """Every feed and page of the site, for ``aggregator publish``."""
        size = self.settings.publish.max_entries
        tag_ids = self.tag_feed_ids()
        refs = self._first_pages(tag_ids)
        counts = {
            "all": self.store.count_entries(),
            "stories": self.store.count_stories(),
        }
        paths = []
        for ref in refs:
            if ref.kind == "tag":
                count = self.store.count_entries(feed_ids=tag_ids[ref.name])
            elif ref.kind == "digest":
                count = self.store.count_issues(ref.name)
            elif ref.kind == "stream":
                spec = self.digest_settings(ref.name)
                count = len(self._stream_stories(spec)) if spec else 0
            else:
                count = counts[ref.kind]
            pages = max(1, math.ceil(count / size))
            paths += [
                FeedRef(ref.kind, ref.name, page, ref.ext).path for page in range(1, pages + 1)
            ]
        return paths
