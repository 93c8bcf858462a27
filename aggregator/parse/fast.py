"""The fast path for well-formed RSS 2.0, RSS 1.0 (RDF) and Atom 1.0: lxml directly.

Most real feeds are well-formed; for them a C parser plus field extraction is many times
faster than feedparser (whose pure-Python sanitizer alone is half its time, and which we
do not use for safety anyway). The parser is hardened: no entity resolution, no DTD, no
network, no huge trees. Anything it does not handle with certainty (a syntax error, an
unknown root, Atom 0.3) returns None, and :mod:`aggregator.parse.feed` (feedparser,
tolerant) takes over. Field values are handed to ``normalize`` exactly as feedparser's
adapter hands them: text as text, HTML as HTML, dates as the feed wrote them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from html import escape
from typing import Any
from urllib.parse import urljoin

import lxml.etree as etree

from aggregator.model import Enclosure, ParsedDocument, ParsedEntry, RawDocument
from aggregator.normalize.dates import parse_date
from aggregator.parse import charset
from aggregator.parse.hints import refresh_hint
from aggregator.parse.media import MEDIA, enclosure, media_content

ATOM = "http://www.w3.org/2005/Atom"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RSS1 = "http://purl.org/rss/1.0/"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
DC = "http://purl.org/dc/elements/1.1/"
SY = "http://purl.org/rss/1.0/modules/syndication/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        recover=False,
    )


_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*?\?>")
_ANY_DECLARATION = re.compile(rb"\s*<\?xml")
# The declaration :func:`_as_utf8` writes, in any spelling libxml2 reads the same way.
_UTF8_DECLARATION = re.compile(
    rb"<\?xml\s+version\s*=\s*([\"'])1\.0\1\s+encoding\s*=\s*([\"'])utf-8\2\s*\?>", re.I
)


def xml_encoding(raw: RawDocument) -> str:
    """The encoding RFC 7303 gives the document (unchecked): a byte-order mark (or
    UTF-16 without one, XML appendix F); the HTTP charset; the XML declaration; UTF-8."""
    return (
        charset.bom_encoding(raw.content)
        or charset.utf16_without_bom(raw.content)
        or charset.http_charset(raw.content_type)
        or charset.xml_declared_encoding(raw.content)
        or "utf-8"
    )


def _as_utf8(text: str) -> bytes:
    """``text`` as UTF-8 under a matching declaration, since libxml2 only reads that."""
    body = _DECLARATION.sub("", text, count=1).encode("utf-8")
    return b'<?xml version="1.0" encoding="utf-8"?>' + body


def xml_bytes(raw: RawDocument) -> bytes | None:
    """The bytes to hand to the XML parser, following RFC 7303 for the charset.

    A byte-order mark wins; then the charset of the HTTP Content-Type, which takes
    precedence over the XML declaration (the server knows what it sent; a CMS often
    copies a template's declaration); then the declaration; then UTF-8. When the HTTP
    charset decides, or the text is UTF-16 without a BOM, it is re-encoded as UTF-8.
    None: undecodable as declared (see :func:`reencoded`).
    """
    content = raw.content
    if content.startswith(_BOMS):
        return content
    # Both checks are a few bytes' work on an ordinary feed: no extra pass over it.
    encoding = charset.utf16_without_bom(content)
    declared = charset.http_charset(raw.content_type)
    if not encoding and not declared:
        return content
    encoding = encoding or charset.lookup(declared) or ""
    if not encoding:
        return None
    if encoding == "utf-8" and _utf8_as_declared(content):
        return content
    try:
        return _as_utf8(charset.decode(content, encoding, "strict"))
    except UnicodeDecodeError:
        return None


def _utf8_as_declared(content: bytes) -> bool:
    """Whether UTF-8 bytes can go to libxml2 as they are (the usual feed, served as UTF-8):
    valid UTF-8, and either no declaration or one that says what ``_as_utf8`` would
    write. Re-encoding would give the same bytes at the cost of two copies of the text."""
    if not (_UTF8_DECLARATION.match(content) or not _ANY_DECLARATION.match(content)):
        return False
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# Single-byte Western charsets decode any bytes, so a wrong one is never caught by a
# decoding error: UTF-8 text under such a label reads as mojibake ("Viá»‡t").
_WESTERN_LABELS = frozenset({"ascii", "iso8859-1", "cp1252", "iso8859-15"})


def mislabelled_utf8(raw: RawDocument) -> tuple[RawDocument, str] | None:
    """UTF-8 bytes labelled with a Western single-byte charset: (the document relabelled
    as UTF-8, a warning), else None.

    Against the letter of RFC 7303 but with every browser and feedparser: text that
    is valid UTF-8 with multi-byte characters is practically never Latin-1 (its
    accented letters would have to come in exactly UTF-8's byte pairs).
    """
    content = raw.content
    if content.isascii() or content.startswith(_BOMS):
        return None
    declared = charset.http_charset(raw.content_type) or charset.xml_declared_encoding(content)
    if not declared or charset.lookup(declared) not in _WESTERN_LABELS:
        return None
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    mime = raw.content_type.split(";")[0].strip() or "application/xml"
    fixed = replace(raw, content=_as_utf8(text), content_type=f"{mime}; charset=utf-8")
    return fixed, f"declared {declared}, but the bytes are UTF-8; read as utf-8"


def reencoded(raw: RawDocument) -> tuple[RawDocument, str, str] | None:
    """When the encoding RFC 7303 gives cannot read the bytes (none declared and not
    UTF-8, or a plainly wrong declaration): (the document re-encoded as UTF-8 from the
    guessed encoding, that encoding, a warning). None when the declaration holds, so a
    document that is ill-formed for other reasons goes on unchanged. feedparser in
    this place sets ``bozo`` and tries UTF-8 and windows-1252, which is mojibake for
    Vietnamese; it does not guess further without chardet."""
    content = raw.content
    if content.startswith(_BOMS) or charset.utf16_without_bom(content):
        return None
    declared = charset.http_charset(raw.content_type) or charset.xml_declared_encoding(content)
    encoding = charset.lookup(declared or "utf-8")
    if encoding is not None and charset.decodes(content, encoding):
        return None
    text, guess = charset.detect_and_decode(content)
    mime = raw.content_type.split(";")[0].strip() or "application/xml"
    fixed = replace(raw, content=_as_utf8(text), content_type=f"{mime}; charset=utf-8")
    return fixed, guess, charset.guessed(guess, declared)


def parse_fast(raw: RawDocument) -> ParsedDocument | None:
    """The document, or None when the tolerant parser should decide instead."""
    content = xml_bytes(raw)
    if content is None:
        return None
    try:
        root = etree.fromstring(content, parser=_parser(), base_url=raw.url)
    except (etree.XMLSyntaxError, ValueError, LookupError):
        return None
    if root is None or not isinstance(root.tag, str):
        return None
    document: ParsedDocument | None = None
    if root.tag == "rss" and root.get("version", "").startswith("2."):
        document = _rss2(root)
    elif root.tag == f"{{{ATOM}}}feed":
        document = _atom(root, raw.url)
    elif root.tag == f"{{{RDF}}}RDF" and root.find(f"{{{RSS1}}}channel") is not None:
        document = _rss1(root)
    if document is None:
        return None
    encoding = xml_encoding(raw)
    return replace(document, encoding=charset.lookup(encoding) or encoding)


# -- helpers ----------------------------------------------------------------------------


def _text(element: Any) -> str:
    if element is None:
        return ""
    if not len(element):  # no child elements (the usual case): no join, no copy
        return element.text or ""
    return "".join(element.itertext())


def _first(parent: Any, *paths: str) -> str:
    for path in paths:
        found = parent.find(path)
        if found is not None:
            text = _text(found).strip()
            if text:
                return text
    return ""


def _tags(parent: Any, path: str, attribute: str | None = None) -> tuple[str, ...]:
    return _values(parent.findall(path), attribute)


def _values(elements: Iterable[Any], attribute: str | None = None) -> tuple[str, ...]:
    values = ((el.get(attribute) if attribute else _text(el)) or "" for el in elements)
    return tuple(v.strip() for v in values if v.strip())


class _Children:
    """An entry's child elements by tag, in document order, from one walk over them.

    An item is read field by field, a dozen lookups; each ``find`` walks the children
    again behind lxml's path machinery, and together they cost more than libxml2's parse
    of the whole document. ``first`` and ``all`` answer as ``find`` and ``findall`` do
    for a plain tag (a child, never a deeper descendant).
    """

    __slots__ = ("_by_tag",)

    def __init__(self, element: Any) -> None:
        by_tag: dict[Any, list[Any]] = {}
        for child in element:
            found = by_tag.get(child.tag)
            if found is None:
                by_tag[child.tag] = [child]
            else:
                found.append(child)
        self._by_tag = by_tag

    def element(self, tag: str) -> Any:
        """The first child ``tag``, or None: ``find(tag)``."""
        found = self._by_tag.get(tag)
        return found[0] if found else None

    def all(self, tag: str) -> list[Any]:
        """Every child ``tag``: ``findall(tag)``."""
        return self._by_tag.get(tag, [])

    def has(self, *tags: str) -> bool:
        """Whether any child is one of ``tags``."""
        by_tag = self._by_tag
        for tag in tags:  # a loop, not any(): a generator costs more than the lookups
            if tag in by_tag:
                return True
        return False

    def first(self, *tags: str) -> str:
        """:func:`_first` over plain tags."""
        for tag in tags:
            found = self._by_tag.get(tag)
            if found:
                text = _text(found[0]).strip()
                if text:
                    return text
        return ""


def _resolve(element: Any, url: str) -> str:
    """``url`` against the element's base; an empty URL stays empty (never the feed's).
    Against a local file's path it stays relative: ``normalize`` resolves it against the
    site the feed describes (a ``file:`` address means nothing to a reader)."""
    if url.startswith(("http://", "https://")):
        return url  # already absolute: what urljoin would return, without its cost
    base = element.base or ""
    return urljoin(base, url) if url and not base.startswith("file:") else url


_MEDIA_CONTENT = f"{{{MEDIA}}}content"
_ATOM_LINK = f"{{{ATOM}}}link"
_MEDIA_GROUP = f"{{{MEDIA}}}group"


def _with_media(listed: list[Enclosure | None], children: _Children) -> tuple[Enclosure, ...]:
    """The format's own enclosures (``listed``, None where one had no URL), then the
    entry's Media RSS ones."""
    found = listed + _media(children)
    return tuple(filter(None, found)) if found else ()


def _media(children: _Children) -> list[Enclosure | None]:
    """The entry's Media RSS pictures, audio and video, alone or grouped."""
    if not children.has(_MEDIA_CONTENT, _MEDIA_GROUP):  # the usual entry: no list built
        return []
    contents = children.all(_MEDIA_CONTENT)
    groups = children.all(_MEDIA_GROUP)
    if groups:
        contents = contents + [c for g in groups for c in g.iterchildren(_MEDIA_CONTENT)]
    return [
        media_content(
            _resolve(c, c.get("url", "").strip()),
            c.get("type", ""),
            c.get("fileSize", ""),
            c.get("medium", ""),
        )
        for c in contents
    ]


def _refresh_hint(channel: Any) -> int | None:
    return refresh_hint(
        _first(channel, "ttl"),
        _first(channel, f"{{{SY}}}updatePeriod"),
        _first(channel, f"{{{SY}}}updateFrequency"),
    )


# -- RSS 2.0 ----------------------------------------------------------------------------


def _rss2(root: Any) -> ParsedDocument | None:
    channel = root.find("channel")
    if channel is None:
        return None
    language = _first(channel, "language", f"{{{DC}}}language")
    entries = tuple(_rss_item(item, language) for item in channel.iterfind("item"))
    return ParsedDocument(
        format="rss20",
        title=_first(channel, "title"),
        site_url=_first(channel, "link"),
        language=language,
        entries=entries,
        refresh_hint=_refresh_hint(channel),
    )


def _rss_guid(item: Any, children: _Children) -> str:
    """The guid as the tolerant parser reports it, so identity never depends on the path:
    a permalink guid (the default) is resolved against the item's base like a link."""
    element = children.element("guid")
    guid = _text(element).strip() if element is not None else ""
    if guid and element.get("isPermaLink", "true").lower() != "false":
        return _resolve(item, guid)
    return guid


_EMAIL_NAME = re.compile(r"^\S+@\S+\s*\((.+)\)$")


def _rss_author(children: _Children) -> str:
    """RSS writes "email (Name)"; readers want the name. Every author, in order."""
    names = []
    for value in _values(children.all("author")) + _values(children.all(f"{{{DC}}}creator")):
        found = _EMAIL_NAME.match(value)
        names.append(found.group(1).strip() if found else value)
    return ", ".join(dict.fromkeys(names))


def _rss_item(item: Any, language: str, *, rdf: bool = False) -> ParsedEntry:
    ns = f"{{{RSS1}}}" if rdf else ""
    children = _Children(item)
    guid = _rss_guid(item, children) if not rdf else item.get(f"{{{RDF}}}about", "")
    description = children.first(f"{ns}description")
    encoded = children.first(f"{{{CONTENT}}}encoded")
    return ParsedEntry(
        guid=guid,
        link=_resolve(item, children.first(f"{ns}link")),
        title=children.first(f"{ns}title"),
        content_html=encoded,
        summary_html=description,
        published_text=(published := children.first("pubDate", f"{{{DC}}}date")),
        published=parse_date(published),
        author=_rss_author(children),
        tags=_values(children.all("category")) + _values(children.all(f"{{{DC}}}subject")),
        language=children.first(f"{{{DC}}}language") or language,
        base_url=item.base or "",
        enclosures=_rss_enclosures(children),
    )


def _rss_enclosures(children: _Children) -> tuple[Enclosure, ...]:
    if not children.has("enclosure", _MEDIA_CONTENT, _MEDIA_GROUP):
        return ()
    listed = [
        enclosure(_resolve(e, e.get("url", "").strip()), e.get("type", ""), e.get("length", ""))
        for e in children.all("enclosure")
    ]
    return _with_media(listed, children)


# -- RSS 1.0 ----------------------------------------------------------------------------


def _rss1(root: Any) -> ParsedDocument:
    channel = root.find(f"{{{RSS1}}}channel")
    language = _first(channel, f"{{{DC}}}language")
    entries = tuple(
        _rss_item(item, language, rdf=True) for item in root.iterfind(f"{{{RSS1}}}item")
    )
    return ParsedDocument(
        format="rss10",
        title=_first(channel, f"{{{RSS1}}}title"),
        site_url=_first(channel, f"{{{RSS1}}}link"),
        language=language,
        entries=entries,
        refresh_hint=_refresh_hint(channel),
    )


# -- Atom 1.0 ---------------------------------------------------------------------------


def _atom(root: Any, url: str) -> ParsedDocument:
    language = root.get(XML_LANG, "")
    return ParsedDocument(
        format="atom10",
        title=_atom_text(root.find(f"{{{ATOM}}}title"), html=False),
        site_url=_atom_link(root),
        language=language,
        entries=tuple(_atom_entry(entry, language) for entry in root.iterfind(f"{{{ATOM}}}entry")),
    )


def _atom_link(element: Any, links: Iterable[Any] | None = None) -> str:
    """The alternate link, resolved against its xml:base as the Atom spec says.
    ``links``: the element's link children when the caller has them already."""
    for link in element.iterfind(f"{{{ATOM}}}link") if links is None else links:
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return _resolve(link, str(link.get("href")).strip())
    return ""


def _atom_text(element: Any, *, html: bool) -> str:
    """An Atom text construct as HTML (``html=True``) or as text/HTML for a title."""
    if element is None:
        return ""
    kind = element.get("type", "text")
    if kind == "xhtml":
        container = element.find("{http://www.w3.org/1999/xhtml}div")
        node = container if container is not None else element
        # The node serialized once, its own tags cut off: the namespace is declared on it
        # alone, where a serialization per child declared it again on each (one call per
        # paragraph, and attributes that sent plain paragraphs to the sanitizer), and its
        # leading text comes escaped. The start tag ends at the first ">" (the serializer
        # escapes it in attribute values); with_tail=False, the end tag ends the string.
        markup: str = etree.tostring(node, encoding="unicode", method="html", with_tail=False)
        return markup[markup.index(">") + 1 : markup.rindex("</")].strip()
    text = _text(element).strip()
    if kind == "text" and html:
        return escape(text, quote=False)
    return text


def _atom_entry(entry: Any, language: str) -> ParsedEntry:
    children = _Children(entry)
    content = children.element(f"{{{ATOM}}}content")
    summary = children.element(f"{{{ATOM}}}summary")
    content_html = (
        _atom_text(content, html=True) if content is not None and not content.get("src") else ""
    )
    summary_html = _atom_text(summary, html=True)
    base = (content if content is not None else entry).base or entry.base or ""
    names = (
        name
        for author in children.all(f"{{{ATOM}}}author")
        for name in author.iterchildren(f"{{{ATOM}}}name")
    )
    return ParsedEntry(
        guid=children.first(f"{{{ATOM}}}id"),
        link=_atom_link(entry, children.all(f"{{{ATOM}}}link")),
        title=_atom_text(children.element(f"{{{ATOM}}}title"), html=False),
        content_html=content_html or summary_html,
        summary_html=summary_html if content_html and summary_html != content_html else "",
        published_text=(published := children.first(f"{{{ATOM}}}published", f"{{{ATOM}}}updated")),
        published=parse_date(published),
        updated=parse_date(children.first(f"{{{ATOM}}}updated")),
        author=", ".join(dict.fromkeys(_values(names))),
        tags=_values(children.all(f"{{{ATOM}}}category"), "term"),
        language=entry.get(XML_LANG, "") or language,
        base_url=base,
        enclosures=_atom_enclosures(children),
    )


def _atom_enclosures(children: _Children) -> tuple[Enclosure, ...]:
    listed = [
        enclosure(
            _resolve(link, link.get("href", "").strip()),
            link.get("type", ""),
            link.get("length", ""),
        )
        for link in children.all(_ATOM_LINK)
        if link.get("rel") == "enclosure"
    ]
    return _with_media(listed, children)
