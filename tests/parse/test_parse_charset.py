"""Undeclared and wrongly declared encodings, through parse_document and to_entries.

Fixtures in ``fixtures/charset`` are our own texts written in legacy encodings by
``charset_corpus.py``'s encoders (windows-1258 spells tones as combining marks, as
Windows does); every title is compared after NFC with the text as written.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator.model import ParsedDocument, RawDocument
from aggregator.normalize import to_entries
from aggregator.parse import charset, detect_format, parse_document
from aggregator.parse.fast import parse_fast
from tests.parse.charset_corpus import cases, encode_cp1258

FIXTURES = Path(__file__).parent / "fixtures" / "charset"
VI_TITLES = [
    "Cảng cá Thọ Quang nhộn nhịp sau đợt gió mùa",
    "Trường đại học ở Huế trao 300 suất học bổng cho sinh viên vùng lũ",
]
EN_TITLES = [
    "Café reopens at the library — with “pay what you can” prices",
    "Farmers’ market moves indoors; parking costs €2",
]


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def parse(name: str, content_type: str = "") -> ParsedDocument:
    path = FIXTURES / name
    return parse_document(
        RawDocument(url=path.as_uri(), content=path.read_bytes(), content_type=content_type)
    )


def titles(doc: ParsedDocument) -> list[str]:
    return [nfc(entry.title) for entry in doc.entries]


def test_an_undeclared_windows1258_feed_is_read_as_windows1258() -> None:
    doc = parse("rss2_undeclared_windows1258.xml")
    assert titles(doc) == VI_TITLES
    assert nfc(doc.title) == "Tin Miền Trung"
    assert doc.encoding == "windows-1258"
    assert doc.warnings == ("no character encoding declared; read as windows-1258",)


def test_an_undeclared_windows1258_feed_becomes_clean_entries() -> None:
    path = FIXTURES / "rss2_undeclared_windows1258.xml"
    doc = parse_document(RawDocument(url="https://tmt.example.vn/rss", content=path.read_bytes()))
    entries = to_entries(doc, feed_url="https://tmt.example.vn/rss", now=datetime.now(UTC))
    assert [entry.title for entry in entries] == VI_TITLES  # normalize composes to NFC
    assert "Hàng trăm tàu cá cập bến" in entries[0].summary


def test_an_undeclared_windows1252_english_feed_is_read_as_windows1252() -> None:
    doc = parse("rss2_undeclared_windows1252.xml")
    assert titles(doc) == EN_TITLES
    assert doc.encoding == "windows-1252"


@pytest.mark.parametrize("content_type", ["", "application/rss+xml; charset=utf-8"])
def test_a_feed_declared_utf8_whose_bytes_are_windows1258_is_read_as_windows1258(
    content_type: str,
) -> None:
    # The XML declaration (or the server) says UTF-8; the bytes say otherwise.
    doc = parse("rss2_declared_utf8_but_windows1258.xml", content_type)
    assert titles(doc) == VI_TITLES
    assert doc.encoding == "windows-1258"
    assert doc.warnings == ("declared utf-8, but the bytes are not utf-8; read as windows-1258",)


def test_an_undeclared_utf16_feed_without_bom_is_read_on_the_fast_path() -> None:
    raw = RawDocument(url="u", content=(FIXTURES / "rss2_undeclared_utf16le.xml").read_bytes())
    assert detect_format(raw) == "xml"
    fast = parse_fast(raw)
    assert fast is not None and titles(fast) == VI_TITLES
    assert fast.encoding == "utf-16-le"
    big_endian = RawDocument(url="u", content=raw.content.decode("utf-16-le").encode("utf-16-be"))
    assert titles(parse_document(big_endian)) == VI_TITLES


def test_an_ill_formed_undeclared_windows1258_feed_is_repaired_for_feedparser() -> None:
    # Unclosed <link>: the fast path declines, feedparser reads the re-encoded text.
    body = encode_cp1258(
        "<rss version='2.0'><channel><title>Tin</title><item>"
        "<title>Giá xăng giảm lần thứ ba liên tiếp</title><link>x</item></channel></rss>"
    )
    doc = parse_document(RawDocument(url="https://x.example/rss", content=body))
    assert titles(doc) == ["Giá xăng giảm lần thứ ba liên tiếp"]
    assert doc.encoding == "windows-1258"


def test_an_ordinary_utf8_feed_is_left_alone() -> None:
    body = "<rss version='2.0'><channel><title>Thời sự</title></channel></rss>".encode()
    doc = parse_document(RawDocument(url="u", content=body))
    assert doc.title == "Thời sự"
    assert doc.encoding == "utf-8"
    assert doc.warnings == ()


def _rss(title: str, declaration: str = "") -> bytes:
    head = f'<?xml version="1.0" encoding="{declaration}"?>' if declaration else ""
    item = f"<item><title>{title}</title><link>https://x.example/1</link></item>"
    return f'{head}<rss version="2.0"><channel><title>T</title>{item}</channel></rss>'.encode()


@pytest.mark.parametrize(
    ("declaration", "content_type"),
    [
        ("iso-8859-1", ""),
        ("windows-1252", ""),
        ("", "application/rss+xml; charset=ISO-8859-1"),
        ("us-ascii", ""),
    ],
)
def test_utf8_bytes_labelled_latin1_are_read_as_utf8(declaration: str, content_type: str) -> None:
    title = VI_TITLES[1]
    raw = RawDocument(url="u", content=_rss(title, declaration), content_type=content_type)
    doc = parse_document(raw)
    assert titles(doc) == [title]
    assert doc.encoding == "utf-8"
    assert any("bytes are UTF-8" in w for w in doc.warnings)


def test_real_latin1_text_under_a_latin1_label_stays_latin1() -> None:
    title = "Café reopens at the library"
    latin1 = _rss(title, "iso-8859-1").decode().encode("latin-1")
    doc = parse_document(RawDocument(url="u", content=latin1))
    assert titles(doc) == [title]
    assert doc.warnings == ()


def test_an_html_page_without_meta_charset_in_windows1258() -> None:
    doc = parse("html_page_undeclared_windows1258.html")
    assert nfc(doc.title) == "Nông dân Tây Nguyên phấn khởi vì giá cà phê lên cao"
    assert "Đắk Lắk" in nfc(doc.entries[0].content_html)
    assert doc.encoding == "windows-1258"


def test_an_html_page_declared_utf8_whose_bytes_are_windows1258() -> None:
    doc = parse("html_page_undeclared_windows1258.html", "text/html; charset=utf-8")
    assert nfc(doc.title) == "Nông dân Tây Nguyên phấn khởi vì giá cà phê lên cao"
    assert "\ufffd" not in doc.entries[0].content_html


def test_a_declared_html_charset_that_reads_the_bytes_is_followed() -> None:
    page = "<html><head><title>Crème brûlée</title></head><body><p>x</p></body></html>"
    raw = RawDocument(url="u", content=page.encode("cp1252"), content_type="text/html")
    with_meta = page.replace("<head>", '<head><meta charset="windows-1252">')
    assert parse_document(raw).title == "Crème brûlée"
    meta = RawDocument(url="u", content=with_meta.encode("cp1252"))
    assert parse_document(meta).encoding == "cp1252"


def test_a_viscii_text_article() -> None:
    doc = parse("text_article_viscii.txt")
    assert titles(doc) == ["Thành phố thử nghiệm làn đường riêng cho xe buýt trên đại lộ"]
    assert "Sở Giao thông Vận tải" in doc.entries[0].content_html
    assert "Bình luận" not in doc.entries[0].content_html  # the noise rules still apply
    assert doc.encoding == "viscii"


def test_an_english_windows1252_text_article_is_no_longer_read_as_vietnamese() -> None:
    doc = parse("text_article_windows1252.txt")
    assert titles(doc) == ["A chef’s résumé: from São Paulo to Zürich"]
    assert doc.encoding == "windows-1252"


def test_the_windows1258_text_article_still_reads() -> None:
    path = Path(__file__).parent / "fixtures" / "text_article_windows1258.txt"
    doc = parse_document(RawDocument(url=path.as_uri(), content=path.read_bytes()))
    assert titles(doc) == ["Đà Nẵng thông xe cầu Hòa Xuân 2 sớm hai tháng"]
    assert doc.encoding == "windows-1258"


@pytest.mark.parametrize(("name", "expected", "data"), cases(), ids=lambda v: str(v)[:40])
def test_every_corpus_encoding_is_detected(name: str, expected: str, data: bytes) -> None:
    assert nfc(charset.detect_and_decode(data)[0]) == expected, name


def test_detection_reads_past_a_long_ascii_start() -> None:
    tail = encode_cp1258("Giá xăng giảm lần thứ ba liên tiếp")
    assert charset.detect(b"a" * (charset.SAMPLE_BYTES * 3) + tail) == "windows-1258"


def test_vietnamese_syllables() -> None:
    assert all(map(charset.is_vietnamese_syllable, ["giảm", "Nẵng", "người", "NGHIÊNG"]))
    assert not any(map(charset.is_vietnamese_syllable, ["giaòm", "café", "gIẢM", "déjà"]))


@given(st.binary(max_size=2048))
def test_detection_never_raises_on_any_bytes(data: bytes) -> None:
    text, encoding = charset.detect_and_decode(data)
    assert charset.lookup(encoding) is not None
    assert isinstance(text, str)
