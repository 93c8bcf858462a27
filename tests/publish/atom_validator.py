"""An Atom 1.0 validator for our own output, offline: RFC 4287 by the book.

The W3C feed validator cannot be reached from here (no network), so the feed tests check
what it checks that applies to our feeds: the structure (which elements, how often, which
attributes) against the RELAX NG grammar in ``tests/fixtures/atom/atom.rng``, and in code
the rules a grammar cannot state: RFC 3339 dates, absolute IRIs for ids and links, ids
unique within a feed, the author rule, content or an alternate link, a summary where
content is out of line, at most one alternate link per type and language, a self link
(matching the feed's address when it is known), language tags, and no active markup in
escaped HTML. :func:`problems` lists every violation in words; an empty list is a valid
document.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from lxml import etree

ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
GRAMMAR = Path(__file__).parent.parent / "fixtures" / "atom" / "atom.rng"

# RFC 3339 section 5.6 date-time: a full date, a time, and a zone (Z or an offset).
_RFC3339 = re.compile(
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)"
    r"(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)\Z"
)
# BCP 47 in outline: a 2-3 letter (or 4-8 letter) language, then subtags of 1-8 characters.
_LANGUAGE_TAG = re.compile(r"([a-zA-Z]{2,3}|[a-zA-Z]{4,8})(-[a-zA-Z0-9]{1,8})*\Z")
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")
# RFC 4151 tag URIs and RFC 4122 urn:uuid, the two id forms our feeds use.
_TAG_URI = re.compile(r"tag:[^,\s]+,\d{4}(-\d{2}(-\d{2})?)?:\S*\Z")
_URN_UUID = re.compile(r"urn:uuid:[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\Z")
# Markup that must not survive in escaped HTML (type="html"): what a sanitizer removes.
_ACTIVE_HTML = re.compile(
    r"<\s*(script|iframe|object|embed|form|style|svg|math)\b|\son\w+\s*=|javascript:|vbscript:",
    re.IGNORECASE,
)
# Media types whose inline content is text or XML; others are base64 and need a summary.
_TEXTUAL = ("text", "html", "xhtml")


@cache
def _grammar() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(GRAMMAR)))


def problems(document: bytes, *, url: str | None = None) -> list[str]:
    """Every way ``document`` breaks RFC 4287; ``url``: where it is served (its self link)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(document, parser)
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed XML: {exc}"]
    grammar = _grammar()
    found = [] if grammar.validate(root) else [str(e) for e in grammar.error_log]
    if root.tag == ATOM + "feed":
        found += _feed_rules(root, url)
    elif root.tag == ATOM + "entry":
        found += _entry_rules(root, feed_has_author=False)
    for element in root.iter(ATOM + "updated", ATOM + "published"):
        if not _RFC3339.match((element.text or "").strip()):
            found.append(f"{_where(element)}: {element.text!r} is not an RFC 3339 date-time")
    for element in root.iter():
        language = element.get(XML_LANG)
        if language is not None and language and not _LANGUAGE_TAG.match(language):
            found.append(f"{_where(element)}: xml:lang {language!r} is not a language tag")
    return found


def _feed_rules(feed: etree._Element, url: str | None) -> list[str]:
    found = _link_rules(feed)
    links = feed.findall(ATOM + "link")
    selves = [link.get("href") for link in links if link.get("rel") == "self"]
    if not selves:
        found.append("feed: no atom:link with rel='self' (RFC 4287 section 4.2.7.2 advises one)")
    elif url is not None and url not in selves:
        found.append(f"feed: the self link {selves} is not where it is served ({url})")
    has_author = feed.find(ATOM + "author") is not None
    ids: dict[str, int] = {}
    for entry in feed.findall(ATOM + "entry"):
        found += _entry_rules(entry, feed_has_author=has_author)
        entry_id = (entry.findtext(ATOM + "id") or "").strip()
        ids[entry_id] = ids.get(entry_id, 0) + 1
    found += [f"feed: entry id {i!r} appears {n} times" for i, n in ids.items() if n > 1]
    return found + _id_rules(feed)


def _entry_rules(entry: etree._Element, *, feed_has_author: bool) -> list[str]:
    found = _link_rules(entry) + _id_rules(entry)
    where = _where(entry)
    source = entry.find(ATOM + "source")
    has_author = (
        feed_has_author
        or entry.find(ATOM + "author") is not None
        or (source is not None and source.find(ATOM + "author") is not None)
    )
    if not has_author:
        found.append(f"{where}: no author, and its feed names none (section 4.1.2)")
    content = entry.find(ATOM + "content")
    alternates = [
        x for x in entry.findall(ATOM + "link") if x.get("rel", "alternate") == "alternate"
    ]
    if content is None and not alternates:
        found.append(f"{where}: neither atom:content nor an alternate link (section 4.1.1)")
    if content is not None:
        kind = content.get("type", "text")
        out_of_line = content.get("src") is not None
        base64 = kind not in _TEXTUAL and not _xml_or_text(kind)
        if (out_of_line or base64) and entry.find(ATOM + "summary") is None:
            found.append(f"{where}: content out of line or base64 needs atom:summary")
    for text in entry.iter(ATOM + "content", ATOM + "summary", ATOM + "title"):
        if text.get("type") == "html" and _ACTIVE_HTML.search(text.text or ""):
            found.append(f"{_where(text)}: active markup in escaped HTML: {text.text!r:.120}")
    return found


def _xml_or_text(media_type: str) -> bool:
    lowered = media_type.lower()
    return lowered.startswith("text/") or lowered.endswith(("/xml", "+xml"))


def _id_rules(element: etree._Element) -> list[str]:
    own = element.find(ATOM + "id")
    if own is None:
        return []
    value = (own.text or "").strip()
    if not _SCHEME.match(value):
        return [f"{_where(element)}: id {value!r} is not an absolute IRI"]
    if value.startswith("tag:") and not _TAG_URI.match(value):
        return [f"{_where(element)}: id {value!r} is not a tag URI (RFC 4151)"]
    if value.startswith("urn:uuid:") and not _URN_UUID.match(value):
        return [f"{_where(element)}: id {value!r} is not a UUID URN (RFC 4122)"]
    return []


def _link_rules(element: etree._Element) -> list[str]:
    found: list[str] = []
    seen: set[tuple[str, str]] = set()
    based = any(e.get(XML_BASE) for e in (element, *element.iterancestors()))
    for link in element.findall(ATOM + "link"):
        href = link.get("href", "")
        if not based and not urlsplit(href).scheme:
            found.append(f"{_where(element)}: link {href!r} is relative, with no xml:base")
        if link.get("rel", "alternate") == "alternate":
            key = (link.get("type", ""), link.get("hreflang", ""))
            if key in seen:
                found.append(f"{_where(element)}: two alternate links of type/hreflang {key}")
            seen.add(key)
    return found


def _where(element: etree._Element) -> str:
    """An element's place in words: its name, and its entry's id when inside one."""
    name = etree.QName(element).localname
    entry = element if name == "entry" else next(element.iterancestors(ATOM + "entry"), None)
    if entry is None:
        return name
    entry_id = (entry.findtext(ATOM + "id") or "?").strip()
    return f"entry {entry_id}" if entry is element else f"{name} of entry {entry_id}"
