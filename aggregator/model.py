"""The one data model that flows through every stage of the pipeline.

Plain frozen dataclasses, no I/O. Library types (feedparser dicts, SQL rows, Jinja
contexts) are converted at the boundary of the module that owns them and never
travel further. One word per concept: a *feed* is a subscription, an *entry* is one
item of a feed, a *story* is a group of entries about the same event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from enum import StrEnum
from operator import attrgetter
from typing import Any, TypeVar

# How a feed's entries are identified (``[[feeds]] identity``; see
# :mod:`aggregator.normalize.identity`). Here, not there, so that reading the config
# does not load normalization (lxml, nh3) into every command.
IDENTITY_POLICIES = ("auto", "guid", "link", "content")
# The locales our pages and emails have catalogs for (:mod:`aggregator.publish.i18n`);
# here for the same reason: checking a config must not load Babel and Jinja2.
LOCALES = ("en", "vi")


@dataclass(frozen=True, slots=True, kw_only=True)
class Feed:
    """A subscription: where entries come from, and its polling state."""

    id: int
    url: str
    title: str = ""
    site_url: str = ""
    tags: tuple[str, ...] = ()
    etag: str = ""
    last_modified: str = ""
    next_check_at: datetime | None = None
    last_checked_at: datetime | None = None
    last_success_at: datetime | None = None
    error_count: int = 0
    last_error: str = ""
    last_error_at: datetime | None = None
    status: str = "active"  # or "gone": the server answered 410, polling stopped
    moved_to: str = ""
    moved_count: int = 0
    failing_since: datetime | None = None
    interval_seconds: int | None = None
    kind: str = "feed"  # or "page": articles linked from a web page without a feed

    @property
    def is_page(self) -> bool:
        return self.kind == "page"

    @property
    def is_local(self) -> bool:
        return self.url.startswith("file://")

    @property
    def is_gone(self) -> bool:
        return self.status == "gone"

    def state(self, now: datetime, stale_after: timedelta) -> str:
        """One word for people: ok, failing, stale (failing too long), gone or new."""
        if self.is_gone:
            return "gone"
        if self.failing_since is not None:
            return "stale" if self.is_stale(now, stale_after) else "failing"
        return "ok" if self.last_success_at else "new"

    def is_stale(self, now: datetime, threshold: timedelta) -> bool:
        """Failing without a break for longer than ``threshold`` (still retried)."""
        return self.failing_since is not None and now - self.failing_since >= threshold


@dataclass(frozen=True, slots=True, kw_only=True)
class RawDocument:
    """Bytes as a source delivered them. A 304 is a value (``not_modified``), not an error."""

    url: str
    content: bytes = b""
    content_type: str = ""
    status: int = 200
    etag: str = ""
    last_modified: str = ""
    not_modified: bool = False
    # Where every redirect on the way was permanent (301/308): the feed's new address.
    moved_to: str = ""
    # Cache-Control max-age in seconds, a hint for the polling interval.
    max_age: int | None = None
    # "gzip" when ``content`` is still compressed as the server sent it: a polled feed's
    # body goes to its parse worker that way and is inflated there (see parse.inflate).
    content_encoding: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Enclosure:
    """A file an entry carries: a podcast episode's audio, a video, a picture.

    RSS ``<enclosure>``, Atom ``<link rel="enclosure">``, Media RSS ``<media:content>``
    and JSON Feed ``attachments``. As a format gives it (``ParsedEntry``), ``url`` may be
    relative or unsafe and ``type`` anything; normalized (``Entry``), ``url`` is an
    absolute http(s) URL and ``type`` a MIME type or "". ``length`` is in bytes, None
    when unknown.
    """

    url: str
    type: str = ""
    length: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedEntry:
    """One item as its format understood it, before our normalization rules."""

    guid: str = ""
    link: str = ""
    title: str = ""
    content_html: str = ""
    summary_html: str = ""
    published: datetime | None = None
    updated: datetime | None = None
    published_text: str = ""
    author: str = ""
    tags: tuple[str, ...] = ()
    language: str = ""
    base_url: str = ""
    enclosures: tuple[Enclosure, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedDocument:
    """What one format module understood of a document."""

    format: str
    title: str = ""
    site_url: str = ""
    language: str = ""
    entries: tuple[ParsedEntry, ...] = ()
    warnings: tuple[str, ...] = ()
    # The feed's own polling hint in seconds (RSS ttl, sy:updatePeriod/updateFrequency).
    refresh_hint: int | None = None
    # The character encoding the text was read in; a guessed one is also in ``warnings``.
    encoding: str = ""


_Pickled = TypeVar("_Pickled")
# Per class pickled by :func:`_pickled_as_values`: each field's slot setter, in order.
_SETTERS: dict[type, tuple[Callable[[Any, Any], None], ...]] = {}


def _from_values(cls: type[_Pickled], values: tuple[Any, ...]) -> _Pickled:
    instance = object.__new__(cls)
    for set_slot, value in zip(_SETTERS[cls], values, strict=True):
        set_slot(instance, value)
    return instance


def _pickled_as_values(cls: type[_Pickled]) -> type[_Pickled]:
    """Pickle a frozen slots dataclass as the tuple of its field values.

    The dataclass default looks the fields up for every object, on both sides (about a
    third of the cost of receiving a parse worker's entries). An unpickled object is
    equal to the original; a field added later is pickled like the others."""
    names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    _SETTERS[cls] = tuple(getattr(cls, name).__set__ for name in names)
    values = attrgetter(*names)

    def __reduce__(self: _Pickled) -> tuple[Any, ...]:
        return (_from_values, (cls, values(self)))

    cls.__reduce__ = __reduce__  # type: ignore[assignment,method-assign]
    return cls


@_pickled_as_values
@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """A clean, comparable entry: what normalize produces and the store keeps."""

    entry_key: str
    url: str
    title: str
    published: datetime
    feed_id: int = 0
    updated: datetime | None = None
    language: str = ""
    summary: str = ""
    content_html: str = ""
    author: str = ""
    tags: tuple[str, ...] = ()
    enclosures: tuple[Enclosure, ...] = ()
    # Set by the store.
    id: int | None = None
    story_id: int | None = None
    first_seen_at: datetime | None = None
    feed_title: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Story:
    """Entries about one event; ``entries[0]`` is the lead source."""

    id: int
    title: str
    entries: tuple[Entry, ...]
    created_at: datetime
    updated_at: datetime

    @property
    def source_count(self) -> int:
        return len({entry.feed_id for entry in self.entries})

    @property
    def newest(self) -> datetime:
        return max(entry.published for entry in self.entries)


@dataclass(frozen=True, slots=True, kw_only=True)
class NewStory:
    """A story the clusterer wants created: its title and its entries, lead first."""

    title: str
    entry_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class EntrySignature:
    """An entry's clustering features as the store keeps them (``aggregator.cluster.signature``
    packs and reads ``data``); another ``version`` means they must be computed again."""

    version: int
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterPlan:
    """What one clustering pass decided: entries joining stories, and new stories.

    ``signatures`` holds the features computed for entries that had none stored, so the
    next pass reads them instead of computing them again.
    """

    joins: dict[int, list[int]] = field(default_factory=dict)
    new_stories: list[NewStory] = field(default_factory=list)
    signatures: dict[int, EntrySignature] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class IssueSource:
    """One outlet's link inside a frozen digest story."""

    feed_title: str
    title: str
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IssueStory:
    """A story as frozen into a digest issue."""

    story_id: int
    headline: str
    url: str
    summary: str
    published: datetime
    sources: tuple[IssueSource, ...]
    # A story an earlier issue of the digest carried: ``sources`` are then only the
    # outlets that joined since, ``earlier_sources`` how many that issue listed.
    follow_up_since: datetime | None = None
    earlier_sources: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SentStory:
    """What earlier issues of one digest carried of a story: when, and which sources."""

    first_sent_at: datetime
    urls: frozenset[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestIssue:
    """An immutable snapshot of one digest: a retry or a re-send shows the same content."""

    id: int
    digest: str
    title: str
    created_at: datetime
    window_start: datetime | None
    window_end: datetime
    stories: tuple[IssueStory, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestState:
    """Where a digest stands; the store, not the scheduler's memory, is the truth."""

    name: str
    last_run_at: datetime | None = None
    next_run_at: datetime | None = None
    last_window_end: datetime | None = None


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscriber:
    id: int
    digest: str
    email: str
    active: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One (digest issue, subscriber) row of the delivery ledger."""

    id: int
    issue_id: int
    subscriber_id: int
    email: str
    state: DeliveryState
    attempts: int = 0
    last_error: str = ""
    sent_at: datetime | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryOutcome:
    """What one try of a delivery came to, as the ledger records it.

    ``state`` is SENT, FAILED (permanent: never tried again) or PENDING (a temporary
    failure, due again at ``next_attempt_at``); ``error`` says why it did not go.
    """

    delivery_id: int
    state: DeliveryState
    error: str = ""
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchOutcome:
    """What one polling of one feed did, for logs and progress output."""

    feed: Feed
    new_entries: int = 0
    seen_entries: int = 0
    not_modified: bool = False
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class UnchangedCheck:
    """A successful poll that changed nothing (a 304): only the feed's polling state moves."""

    feed_id: int
    next_check_at: datetime
    etag: str
    last_modified: str
    interval_seconds: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneReport:
    """What one retention pass removed: entries (each now a tombstone), empty stories,
    and tombstones whose item their feed stopped listing long enough ago."""

    entries: int = 0
    stories: int = 0
    tombstones_expired: int = 0
