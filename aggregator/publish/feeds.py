"""Stage 7, publish: our feeds as Atom 1.0 (RFC 4287), RSS 2.0 and JSON Feed 1.1.

Every feed we give out (all entries, one tag, stories, a digest's issues) is first a
:class:`Document` of :class:`Item` values, built by ``site.py`` from the store; the three
serializers here turn one into bytes. They are pure and know nothing of the store.

Each item is serialized and encoded once and its bytes kept in a :class:`FragmentCache` keyed on the
item's value, so regenerating a feed after one new entry serializes that entry and joins
the others' cached bytes. (feedgen, which this replaces, builds an lxml tree of the whole
feed on every call and cannot set ``xml:lang`` per entry.)

Paging follows RFC 5005 section 3: each page links ``first``, ``next``, ``previous`` and
``last``; JSON Feed's ``next_url`` is the same thing.
"""

from __future__ import annotations

import json
import re
import sys
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.utils import format_datetime
from enum import Enum
from functools import partial
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType
from typing import Any, Generic, TypeVar
from xml.sax.saxutils import escape, quoteattr

from aggregator.model import Enclosure

ATOM_TYPE = "application/atom+xml; charset=utf-8"
RSS_TYPE = "application/rss+xml; charset=utf-8"
JSON_FEED_TYPE = "application/feed+json; charset=utf-8"
MEDIA_TYPES = {"atom": ATOM_TYPE, "rss": RSS_TYPE, "json": JSON_FEED_TYPE}

# Characters XML 1.0 forbids even escaped; a stray one would make the whole feed unreadable.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")
V = TypeVar("V")


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    href: str
    rel: str = "alternate"
    type: str = ""
    title: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """One entry of a feed, whatever it stands for; frozen and hashable (a cache key)."""

    id: str
    title: str
    updated: datetime
    published: datetime | None = None
    url: str = ""
    related: tuple[Link, ...] = ()
    author: str = ""
    summary: str = ""
    content_html: str = ""
    language: str = ""
    categories: tuple[str, ...] = ()
    enclosures: tuple[Enclosure, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    """One page of a feed. ``path`` is its page-1 address without the extension
    (``/feeds/all``); page N is ``{path}/page/N.{ext}`` (see :func:`page_path`)."""

    id: str
    title: str
    base_url: str
    path: str
    updated: datetime
    items: tuple[Item, ...]
    subtitle: str = ""
    author: str = ""
    language: str = ""
    home_path: str = "/"
    page: int = 1
    pages: int = 1
    # WebSub hubs (W3C WebSub section 4) that announce this feed; named on page 1 only,
    # the one address we announce and readers subscribe to.
    hubs: tuple[str, ...] = ()

    @property
    def announced_hubs(self) -> tuple[str, ...]:
        return self.hubs if self.page == 1 else ()


def page_path(path: str, page: int, ext: str) -> str:
    return f"{path}.{ext}" if page <= 1 else f"{path}/page/{page}.{ext}"


# What keeping one value costs beyond its key and value: its slot in the OrderedDict's
# table, its node in the order list, and the (value, weight) pair with its int.
ENTRY_BYTES = 200


def held_bytes(*objects: object) -> int:
    """The memory these objects take with everything they reach, each counted once
    (``sys.getsizeof``): strings, bytes, numbers, dates, containers, and other objects
    through their slots and attributes. Classes, functions and modules are not counted:
    they are shared by everything, not held by a value."""
    seen: set[int] = set()
    stack = list(objects)
    total = 0
    while stack:
        obj = stack.pop()
        if obj is None or id(obj) in seen or isinstance(obj, _NOT_HELD):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, _LEAVES):
            continue
        if isinstance(obj, dict):
            stack += obj.keys()
            stack += obj.values()
        elif isinstance(obj, (tuple, list, set, frozenset)):
            stack += obj
        else:
            stack += (getattr(obj, name, None) for name in _slots(type(obj)))
            if hasattr(obj, "__dict__"):
                stack.append(vars(obj))
    return total


_LEAVES = (str, bytes, bytearray, int, float, complex, datetime, date, time, timedelta, Enum)
_NOT_HELD = (type, ModuleType, FunctionType, BuiltinFunctionType, MethodType, bool)


def _slots(cls: type) -> list[str]:
    return [name for klass in cls.__mro__ for name in getattr(klass, "__slots__", ())]


class FragmentCache(Generic[V]):
    """Values by key (serialized items, built items, rendered feeds), least recently used
    dropped past ``size`` values or past ``max_bytes``.

    With ``max_bytes``, each value weighs what its key and value hold in memory
    (:func:`held_bytes`) plus its slot (``ENTRY_BYTES``), and ``extra`` (for memory a value
    takes later, such as a gzip copy made on first demand). An object two caches hold (an
    item that is one cache's value and another's key) counts in both: what the caches
    hold together stays within the sum of their bounds.

    An item whose entry changed is a different key, so an edit is never served stale;
    its old value ages out. The byte bound is what keeps a long-running daemon's memory
    flat: a crawler walking every page of every feed would otherwise keep them all.
    """

    def __init__(
        self,
        size: int = 20_000,
        *,
        max_bytes: int | None = None,
        extra: Callable[[V], int] | None = None,
    ) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._extra = extra
        self._data: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self.bytes = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    def weight(self, key: Hashable, value: V) -> int:
        """What keeping ``value`` under ``key`` counts against ``max_bytes``."""
        if self.max_bytes is None:
            return 0  # nothing to bound: spare the count
        extra = self._extra(value) if self._extra is not None else 0
        return held_bytes(key, value) + ENTRY_BYTES + extra

    def peek(self, key: Hashable) -> V | None:
        found = self._data.get(key)
        if found is None:
            return None
        self._data.move_to_end(key)
        return found[0]

    def put(self, key: Hashable, value: V) -> V:
        self.misses += 1
        weight = self.weight(key, value)
        old = self._data.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        if self.max_bytes is not None and weight > self.max_bytes:
            return value  # larger than the whole budget: served, never kept
        self._data[key] = (value, weight)
        self.bytes += weight
        while len(self._data) > self.size or (
            self.max_bytes is not None and self.bytes > self.max_bytes
        ):
            _, (_, dropped) = self._data.popitem(last=False)
            self.bytes -= dropped
        return value

    def get(self, key: Hashable, make: Callable[[], V]) -> V:
        value = self.peek(key)
        return value if value is not None else self.put(key, make())


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def language_tag(value: str) -> str:
    """A BCP 47 tag for xml:lang, or "" (inherit the feed's) for anything else."""
    return value if _LANGUAGE_TAG.fullmatch(value) else ""


def _text(value: str) -> str:
    return escape(_NOT_XML.sub("", value))


def _attr(value: str) -> str:
    return quoteattr(_NOT_XML.sub("", value))


def _link(href: str, rel: str, type_: str = "", title: str = "", length: int | None = None) -> str:
    extra = (f" type={_attr(type_)}" if type_ else "") + (f" title={_attr(title)}" if title else "")
    if length:  # RFC 4287 4.2.7.6: an advisory size in bytes
        extra += f' length="{length:d}"'
    return f"<link rel={_attr(rel)} href={_attr(href)}{extra}/>"


# RSS 2.0 and JSON Feed require a type; a file of unknown type is a stream of bytes.
UNKNOWN_TYPE = "application/octet-stream"


def _paging(doc: Document, ext: str) -> list[tuple[str, str]]:
    """(rel, URL) of this page's neighbours, by RFC 5005."""
    if doc.pages <= 1:
        return []
    links = [("first", doc.base_url + page_path(doc.path, 1, ext))]
    if doc.page > 1:
        links.append(("previous", doc.base_url + page_path(doc.path, doc.page - 1, ext)))
    if doc.page < doc.pages:
        links.append(("next", doc.base_url + page_path(doc.path, doc.page + 1, ext)))
    links.append(("last", doc.base_url + page_path(doc.path, doc.pages, ext)))
    return links


def _fragments(
    cache: FragmentCache[bytes] | None,
    kind: str,
    items: Sequence[Item],
    make: Callable[[Item], str],
) -> list[bytes]:
    """Each item's bytes, encoded once: joining bytes spares encoding the whole feed."""
    if cache is None:
        return [make(item).encode("utf-8") for item in items]
    return [cache.get((kind, item), partial(_encoded, make, item)) for item in items]


def _encoded(make: Callable[[Item], str], item: Item) -> bytes:
    return make(item).encode("utf-8")


# -- Atom 1.0 -------------------------------------------------------------------------


def _atom_entry(item: Item) -> str:
    lang = language_tag(item.language)
    parts = [
        f'<entry xml:lang="{lang}">' if lang else "<entry>",
        f"<id>{_text(item.id)}</id>",
        f'<title type="text">{_text(item.title)}</title>',
        f"<updated>{rfc3339(item.updated)}</updated>",
    ]
    if item.published is not None:
        parts.append(f"<published>{rfc3339(item.published)}</published>")
    if item.author:
        parts.append(f"<author><name>{_text(item.author)}</name></author>")
    if item.url:
        parts.append(_link(item.url, "alternate", "text/html"))
    parts += [_link(link.href, link.rel, link.type, link.title) for link in item.related]
    parts += [_link(e.url, "enclosure", e.type, length=e.length) for e in item.enclosures]
    parts += [f"<category term={_attr(term)}/>" for term in item.categories if term]
    if item.summary:
        parts.append(f'<summary type="text">{_text(item.summary)}</summary>')
    if item.content_html:
        parts.append(f'<content type="html">{_text(item.content_html)}</content>')
    elif not item.url:
        # RFC 4287 4.1.1: an entry without an alternate link must have content.
        parts.append(f'<content type="text">{_text(item.summary or item.title)}</content>')
    parts.append("</entry>\n")
    return "".join(parts)


def render_atom_document(doc: Document, cache: FragmentCache[bytes] | None = None) -> bytes:
    lang = language_tag(doc.language)
    head = [
        '<?xml version="1.0" encoding="utf-8"?>\n',
        '<feed xmlns="http://www.w3.org/2005/Atom"',
        f' xml:lang="{lang}">\n' if lang else ">\n",
        f"<id>{_text(doc.id)}</id>\n",
        f'<title type="text">{_text(doc.title)}</title>\n',
    ]
    if doc.subtitle:
        head.append(f'<subtitle type="text">{_text(doc.subtitle)}</subtitle>\n')
    head += [
        f"<updated>{rfc3339(doc.updated)}</updated>\n",
        # The feed's author stands for every entry without one of its own (4.1.1).
        f"<author><name>{_text(doc.author or doc.title)}</name></author>\n",
        _link(doc.base_url + page_path(doc.path, doc.page, "atom"), "self", "application/atom+xml"),
        "\n",
        _link(doc.base_url + doc.home_path, "alternate", "text/html"),
        "\n",
        *(_link(url, rel, "application/atom+xml") + "\n" for rel, url in _paging(doc, "atom")),
        *(_link(hub, "hub") + "\n" for hub in doc.announced_hubs),
        "<generator>aggregator</generator>\n",
    ]
    body = b"".join(_fragments(cache, "atom", doc.items, _atom_entry))
    return "".join(head).encode("utf-8") + body + b"</feed>\n"


# -- RSS 2.0 --------------------------------------------------------------------------


def _rss_item(item: Item) -> str:
    parts = [
        "<item>",
        f"<title>{_text(item.title)}</title>",
        f"<link>{_text(item.url)}</link>" if item.url else "",
        # Our ids are URNs, not addresses: isPermaLink="false" says so.
        f'<guid isPermaLink="false">{_text(item.id)}</guid>',
        f"<pubDate>{format_datetime((item.published or item.updated).astimezone(UTC), usegmt=True)}"
        "</pubDate>",
        # RSS's <author> must be an email address; Dublin Core's creator takes a name.
        f"<dc:creator>{_text(item.author)}</dc:creator>" if item.author else "",
        *(f"<category>{_text(term)}</category>" for term in item.categories if term),
        f"<description>{_text(item.content_html or _paragraph(item.summary))}</description>",
        _rss_enclosure(item.enclosures[0]) if item.enclosures else "",
        "</item>\n",
    ]
    return "".join(parts)


def _rss_enclosure(enclosure: Enclosure) -> str:
    """RSS 2.0 allows one enclosure an item (readers take the first), with every attribute
    (length 0 when unknown, as podcast feeds write it)."""
    return (
        f'<enclosure url={_attr(enclosure.url)} length="{enclosure.length or 0:d}"'
        f" type={_attr(enclosure.type or UNKNOWN_TYPE)}/>"
    )


def _paragraph(text: str) -> str:
    return f"<p>{escape(text)}</p>" if text else ""


def render_rss_document(doc: Document, cache: FragmentCache[bytes] | None = None) -> bytes:
    lang = language_tag(doc.language)
    head = [
        '<?xml version="1.0" encoding="utf-8"?>\n',
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n',
        f"<title>{_text(doc.title)}</title>\n",
        f"<link>{_text(doc.base_url + doc.home_path)}</link>\n",
        f"<description>{_text(doc.subtitle or doc.title)}</description>\n",
        f"<language>{lang}</language>\n" if lang else "",
        f"<lastBuildDate>{format_datetime(doc.updated.astimezone(UTC), usegmt=True)}"
        "</lastBuildDate>\n",
        "<generator>aggregator</generator>\n",
        '<atom:link rel="self" type="application/rss+xml" href='
        f"{_attr(doc.base_url + page_path(doc.path, doc.page, 'rss'))}/>\n",
        *(
            f'<atom:link rel="{rel}" type="application/rss+xml" href={_attr(url)}/>\n'
            for rel, url in _paging(doc, "rss")
        ),
        *(f'<atom:link rel="hub" href={_attr(hub)}/>\n' for hub in doc.announced_hubs),
    ]
    body = b"".join(_fragments(cache, "rss", doc.items, _rss_item))
    return "".join(head).encode("utf-8") + body + b"</channel>\n</rss>\n"


# -- JSON Feed 1.1 --------------------------------------------------------------------


def _json_item(item: Item) -> str:
    data: dict[str, Any] = {"id": item.id, "title": item.title}
    if item.url:
        data["url"] = item.url
    if item.content_html:
        data["content_html"] = item.content_html
    else:  # 1.1: an item has content_html or content_text
        data["content_text"] = item.summary or item.title
    if item.summary:
        data["summary"] = item.summary
    if item.published is not None:
        data["date_published"] = rfc3339(item.published)
    data["date_modified"] = rfc3339(item.updated)
    if item.author:
        data["authors"] = [{"name": item.author}]
    if item.categories:
        data["tags"] = list(item.categories)
    if item.enclosures:
        data["attachments"] = [_attachment(e) for e in item.enclosures]
    if language_tag(item.language):
        data["language"] = item.language
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _attachment(enclosure: Enclosure) -> dict[str, Any]:
    found: dict[str, Any] = {"url": enclosure.url, "mime_type": enclosure.type or UNKNOWN_TYPE}
    if enclosure.length:
        found["size_in_bytes"] = enclosure.length
    return found


def render_json_document(doc: Document, cache: FragmentCache[bytes] | None = None) -> bytes:
    head: dict[str, Any] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": doc.title,
        "home_page_url": doc.base_url + doc.home_path,
        "feed_url": doc.base_url + page_path(doc.path, doc.page, "json"),
        "authors": [{"name": doc.author or doc.title}],
    }
    if doc.subtitle:
        head["description"] = doc.subtitle
    if language_tag(doc.language):
        head["language"] = doc.language
    if doc.announced_hubs:
        head["hubs"] = [{"type": "WebSub", "url": hub} for hub in doc.announced_hubs]
    following = dict(_paging(doc, "json")).get("next")
    if following:
        head["next_url"] = following
    body = b",".join(_fragments(cache, "json", doc.items, _json_item))
    opening = json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]
    return (opening + ',"items":[').encode("utf-8") + body + b"]}\n"


RENDERERS: dict[str, Callable[[Document, FragmentCache[bytes] | None], bytes]] = {
    "atom": render_atom_document,
    "rss": render_rss_document,
    "json": render_json_document,
}
