"""XML entity safety: no entity is expanded, no external entity is read."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aggregator.model import ParsedDocument, RawDocument
from aggregator.parse import parse_document
from aggregator.parse.feed import strip_doctype

FIXTURES = Path(__file__).parent / "fixtures"
# Generous for a 1 KB document; an expanded billion laughs takes gigabytes and minutes.
QUICK_SECONDS = 2.0
# A DOCTYPE pushed past the first 64 KiB, which strip_doctype does not look at.
PADDING = b"<!--" + b"x" * 70_000 + b"-->\n"


def all_text(doc: ParsedDocument) -> str:
    parts = [doc.title, doc.site_url]
    for entry in doc.entries:
        parts += [entry.title, entry.content_html, entry.summary_html, entry.link, entry.guid]
    return "\n".join(parts)


def parse_timed(content: bytes, url: str) -> tuple[ParsedDocument, float]:
    start = time.perf_counter()
    doc = parse_document(RawDocument(url=url, content=content, content_type="application/xml"))
    return doc, time.perf_counter() - start


def pad_after_prolog(content: bytes) -> bytes:
    prolog, rest = content.split(b"\n", 1)
    return prolog + b"\n" + PADDING + rest


@pytest.mark.parametrize("padded", [False, True], ids=["plain", "doctype-after-64k"])
def test_billion_laughs_is_parsed_quickly_without_expansion(padded: bool) -> None:
    content = (FIXTURES / "rss2_billion_laughs.xml").read_bytes()
    if padded:
        content = pad_after_prolog(content)
    doc, seconds = parse_timed(content, "https://laughs.example/feed.xml")
    assert seconds < QUICK_SECONDS
    (entry,) = doc.entries
    assert entry.link == "https://laughs.example/a"
    assert entry.title.startswith("Item")
    assert "lollol" not in all_text(doc)
    assert len(all_text(doc)) < 1_000


def test_external_entity_to_etc_passwd_is_not_read() -> None:
    content = (FIXTURES / "rss2_xxe_file_entity.xml").read_bytes()
    assert b'SYSTEM "file:///etc/passwd"' in content
    doc, seconds = parse_timed(content, "https://xxe.example/feed.xml")
    assert seconds < QUICK_SECONDS
    (entry,) = doc.entries
    assert entry.title.startswith("Leak")
    text = all_text(doc)
    assert "root:" not in text
    assert "/bin/" not in text
    assert "nologin" not in text


@pytest.mark.parametrize("padded", [False, True], ids=["plain", "doctype-after-64k"])
def test_external_entity_to_a_local_file_is_not_read(tmp_path: Path, padded: bool) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SENTINEL-7f3a-do-not-leak")
    content = (
        b'<?xml version="1.0"?>\n'
        + (PADDING if padded else b"")
        + b'<!DOCTYPE rss [<!ENTITY leak SYSTEM "'
        + secret.as_uri().encode()
        + b'">]>\n<rss version="2.0"><channel><title>T &leak;</title>'
        b"<item><title>I &leak;</title><link>https://x.example/1</link>"
        b"<description>D &leak;</description></item></channel></rss>"
    )
    doc, _ = parse_timed(content, "https://x.example/feed.xml")
    assert len(doc.entries) == 1
    assert "SENTINEL" not in all_text(doc)


def test_strip_doctype_removes_the_internal_subset() -> None:
    content = (FIXTURES / "rss2_billion_laughs.xml").read_bytes()
    stripped = strip_doctype(content)
    assert b"<!DOCTYPE" not in stripped
    assert b"<!ENTITY" not in stripped
    assert b"<rss version=" in stripped


def test_strip_doctype_leaves_a_document_without_one_unchanged() -> None:
    content = b'<?xml version="1.0"?>\n<rss version="2.0"><channel/></rss>'
    assert strip_doctype(content) == content
