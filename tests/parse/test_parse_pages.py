"""parse_document on single articles: HTML pages, scraped text, and legacy encodings."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from aggregator.errors import ParseError
from aggregator.model import ParsedDocument, ParsedEntry, RawDocument
from aggregator.normalize.text import html_to_text
from aggregator.parse import parse_document
from aggregator.parse.text import decode_text, has_noise_block, is_noise_line, without_teaser_tail

ROOT = Path(__file__).resolve().parents[2]
FEEDS = ROOT / "feeds"
ARTICLES = ROOT / "tests" / "fixtures" / "articles"
FIXTURES = Path(__file__).parent / "fixtures"
PETROL_URL = (
    "https://saigonnhatbao.example.vn/kinh-te/gia-xang-giam-lan-thu-ba-lien-tiep-10240.html"
)
PETROL_TITLE = "Giá xăng giảm lần thứ ba liên tiếp, RON 95 còn dưới 19.900 đồng/lít"


def parse_file(path: Path, content_type: str = "", url: str = "") -> ParsedDocument:
    raw = RawDocument(
        url=url or path.resolve().as_uri(), content=path.read_bytes(), content_type=content_type
    )
    return parse_document(raw)


def only_entry(doc: ParsedDocument) -> ParsedEntry:
    assert len(doc.entries) == 1
    return doc.entries[0]


# --- HTML article page -----------------------------------------------------------------


@pytest.fixture(scope="module")
def page() -> ParsedDocument:
    return parse_file(ARTICLES / "vi_article_page.html", "text/html; charset=utf-8")


def test_html_page_takes_title_date_language_and_canonical_link_from_its_metadata(
    page: ParsedDocument,
) -> None:
    entry = only_entry(page)
    assert page.format == "html"
    assert entry.title == PETROL_TITLE  # og:title, without the " - Sài Gòn Nhật Báo" suffix
    assert entry.published_text == "2026-11-19T17:45:00+07:00"
    assert entry.language == page.language == "vi"
    assert entry.link == PETROL_URL
    assert entry.summary_html.startswith("Từ 15h ngày 19/11, xăng RON 95-III giảm 412 đồng")


def test_html_page_body_is_the_article_text(page: ParsedDocument) -> None:
    body = only_entry(page).content_html
    assert "Theo thông báo của liên Bộ Công Thương" in body
    assert "dễ thở hơn" in body


@pytest.mark.parametrize(
    "chrome",
    [
        pytest.param("main-menu", id="nav"),
        pytest.param("Trang chủ", id="nav-link"),
        pytest.param("Đọc nhiều", id="aside"),
        pytest.param("Bảng giá xăng dầu mới nhất", id="aside-teaser"),
        pytest.param("Liên hệ", id="footer"),
        pytest.param("<script", id="script-tag"),
        pytest.param("dataLayer", id="head-script"),
        pytest.param("console.log", id="body-script"),
    ],
)
def test_html_page_body_has_no_page_chrome(page: ParsedDocument, chrome: str) -> None:
    assert chrome not in only_entry(page).content_html


def test_html_page_without_article_drops_chrome_from_the_body() -> None:
    doc = parse_file(
        FIXTURES / "html_page_chrome_in_body.html", url="https://mientay.example.vn/a/1"
    )
    entry = only_entry(doc)
    assert "hàng trăm ghe xuồng" in entry.content_html
    for marker in ("nav-marker", "header-marker", "aside-marker", "form-marker", "footer-marker"):
        assert marker not in entry.content_html
    assert "script-marker" not in entry.content_html
    # No og:title and no canonical link: the <title> and the page URL stand in.
    assert entry.title == "Chợ nổi Cái Răng mở cửa lại sau mùa lũ | Miền Tây Online"
    assert entry.link == "https://mientay.example.vn/a/1"
    assert entry.published_text == "2026-11-20T06:30:00+07:00"  # from <time datetime>
    assert entry.language == "vi-VN"


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"<html><head><title>Only a head</title></head></html>", id="head-only"),
        pytest.param(b"<html><frameset><frame src='a.html'></frameset></html>", id="frameset"),
    ],
)
def test_html_page_without_a_body_raises_parse_error(content: bytes) -> None:
    url = "https://nobody.example/page"
    with pytest.raises(ParseError, match="nobody.example/page"):
        parse_document(RawDocument(url=url, content=content, content_type="text/html"))


# --- scraped plain-text articles -------------------------------------------------------


@pytest.fixture(scope="module")
def scraped() -> ParsedEntry:
    doc = parse_file(ARTICLES / "vi_scraped_article.txt", "text/plain")
    assert doc.format == "text"
    return only_entry(doc)


def test_text_article_title_is_the_first_line(scraped: ParsedEntry) -> None:
    assert scraped.title == "Hà Nội mở thêm ba tuyến xe buýt điện nối sân bay Nội Bài"


def test_text_article_finds_the_date_inside_the_text(scraped: ParsedEntry) -> None:
    # "Thứ Bảy, 21/11/2026 10:45 (GMT+7)": the zone stays with the time.
    assert scraped.published_text.startswith("21/11/2026 10:45")
    assert "GMT+7" in scraped.published_text


def test_text_article_keeps_the_body(scraped: ParsedEntry) -> None:
    assert "<p>(Thời Báo Thủ Đô) - Từ ngày 1/12" in scraped.content_html
    assert "năng lượng xanh.</p>" in scraped.content_html


@pytest.mark.parametrize(
    "noise",
    [
        pytest.param("<p>0:00 / 0:00</p>", id="player-clock"),
        pytest.param("<p>0:00</p>", id="player-position"),
        pytest.param("Bình luận bài viết (0)", id="comment-count-label"),
        pytest.param("Gửi bình luận", id="comment-button"),
        pytest.param("<p>Hà Nội mở thêm ba tuyến xe buýt điện nối sân bay Nội Bài</p>", id="title"),
    ],
)
def test_text_article_drops_page_noise(scraped: ParsedEntry, noise: str) -> None:
    assert noise not in scraped.content_html


@pytest.mark.parametrize(
    ("line", "noise"),
    [
        ("0:00 / 0:00", True),
        ("12:34", True),
        ("Bình luận", True),
        ("Bình luận (3)", True),
        ("Bình luận bài viết (0)", True),
        ("Gửi bình luận", True),
        ("Comments (12)", True),
        ("Tin liên quan:", True),
        ("Bình luận viên Nguyễn Văn A nhận định trận đấu rất hay.", False),
        ("Lúc 10:45 sáng nay, cầu được thông xe.", False),
    ],
)
def test_noise_lines_are_whole_line_labels_only(line: str, noise: bool) -> None:
    assert is_noise_line(line) is noise


NOISE_LINES = [
    "0:00 / 0:00",
    "12:34",
    "Bình luận",
    "Bình luận bài viết (0)",
    "Gửi bình luận",
    "Ý kiến của bạn",
    "Chia sẻ",
    "Comments (12)",
    "Ảnh: Trà My",
    "Nguồn ảnh: Thông tấn xã",
    "Photo: Reuters",
    "Photos: AP",
    "Image: the harbour at dawn",
    "Tin liên quan:",
    "Tin cùng chuyên mục",
    "Bài liên quan",
    "Xem thêm",
    "Đọc thêm:",
    "Related stories",
    "More stories",
    "Read more",
]


@pytest.mark.parametrize("line", NOISE_LINES)
def test_every_noise_rule_is_seen_inside_markup(line: str) -> None:
    # has_noise_block's lookahead lists the rules' first characters: a rule whose first
    # letter it misses would never be removed from feed HTML.
    assert is_noise_line(line)
    for spelling in (line, line.upper(), line.lower()):
        assert has_noise_block(f"<p>Body text.</p><p> {spelling} </p>")
    assert not has_noise_block(f"<p>The report said {line} in passing.</p>")


def test_english_text_article_reads_the_date_line() -> None:
    entry = only_entry(parse_file(ARTICLES / "en_plain_article.txt"))
    assert entry.title == "Fishers on the Tonle Sap brace for a lean dai season"
    assert entry.published_text == "2026-11-20"
    assert "date 2026-11-20" not in entry.content_html
    assert entry.content_html.startswith("<p>PHNOM PENH - Three days after")


def test_text_article_escapes_markup_in_its_lines() -> None:
    content = b"Title line\n<script>alert(1)</script> & more\n"
    entry = only_entry(parse_document(RawDocument(url="https://t.example/a", content=content)))
    assert entry.content_html == "<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; more</p>"


# --- windows-1258 ----------------------------------------------------------------------


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def test_windows1258_feed_decodes_to_the_same_text_as_the_utf8_feed() -> None:
    legacy = parse_file(ARTICLES / "windows1258_feed.xml", "application/rss+xml")
    utf8 = parse_file(FEEDS / "tin-nhanh.xml", "application/rss+xml")
    by_guid = {entry.guid: entry for entry in utf8.entries}
    assert len(legacy.entries) == 2
    for entry in legacy.entries:
        twin = by_guid[entry.guid]
        assert nfc(entry.title) == nfc(twin.title)
        assert nfc(entry.summary_html or entry.content_html) == nfc(
            twin.summary_html or twin.content_html
        )


def test_windows1258_feed_title_is_vietnamese_not_mojibake() -> None:
    legacy = parse_file(ARTICLES / "windows1258_feed.xml")
    titles = [nfc(entry.title) for entry in legacy.entries]
    assert "Giá xăng RON 95 giảm 412 đồng, lần giảm thứ ba liên tiếp" in titles
    assert "HĐND Đà Nẵng thông qua dự toán thu ngân sách 2027 hơn 41.200 tỷ đồng" in titles


def test_windows1258_text_is_decoded_and_composed() -> None:
    content = (FIXTURES / "text_article_windows1258.txt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    text = decode_text(content)
    assert unicodedata.is_normalized("NFC", text)
    assert text.startswith("Đà Nẵng thông xe cầu Hòa Xuân 2 sớm hai tháng\n")


def test_windows1258_text_article_gets_title_date_and_noise_rules() -> None:
    entry = only_entry(parse_file(FIXTURES / "text_article_windows1258.txt"))
    assert entry.title == "Đà Nẵng thông xe cầu Hòa Xuân 2 sớm hai tháng"
    assert entry.published_text == "22/11/2026 09:10 (GMT+7)"
    assert "Cẩm Lệ" in entry.content_html
    assert "Bình luận" not in entry.content_html
    assert "0:00" not in entry.content_html


def test_a_utf8_page_without_a_declared_charset_is_not_read_as_latin1() -> None:
    page = "<html><head><title>Đà Nẵng thông xe cầu</title></head><body><p>Tin</p></body></html>"
    raw = RawDocument(url="https://site.example/a", content=page.encode("utf-8"))
    assert parse_document(raw).title == "Đà Nẵng thông xe cầu"


def test_the_http_charset_decodes_a_legacy_vietnamese_page() -> None:
    # windows-1258 has "ă" precomposed but tone marks only as combining characters.
    page = "<html><head><title>Giá xăng gia\u0309m</title></head><body><p>Tin</p></body></html>"
    raw = RawDocument(
        url="https://site.example/a",
        content=page.encode("cp1258"),
        content_type="text/html; charset=windows-1258",
    )
    title = parse_document(raw).title
    assert unicodedata.normalize("NFC", title) == "Giá xăng giảm"


def test_a_list_of_other_articles_without_a_heading_is_cut_off() -> None:
    doc = parse_file(ARTICLES / "vi_scraped_teaser_tail.txt", "text/plain")
    (entry,) = doc.entries
    text = html_to_text(entry.content_html)
    assert text.startswith("(Tin Biển) - Từ đầu tháng 12")
    assert text.endswith("vượt dự kiến khoảng 30%.")
    for teaser in ("Chợ cá Thạch Kim", "Nông dân vùng cát", "Cẩm Xuyên", "Nhiều hộ trồng"):
        assert teaser not in text


@pytest.mark.parametrize(
    "tail",
    [
        # One item only: a dateline paragraph may end an article.
        ["Tin khác", "(Tin Biển) - Một đoạn tin khác."],
        # Datelines without a headline before them: paragraphs of the article.
        ["(Tin Biển) - Đoạn một.", "(Tin Biển) - Đoạn hai.", "(Tin Biển) - Đoạn ba."],
        # Items followed by an ordinary paragraph: not the page's end.
        ["A", "(Tin Biển) - Tin A.", "B", "(Tin Biển) - Tin B.", "Đoạn kết của bài."],
    ],
)
def test_dateline_paragraphs_that_are_not_a_teaser_tail_stay(tail: list[str]) -> None:
    body = ["(Tin Biển) - Mở đầu bài.", "Thân bài.", *tail]
    assert without_teaser_tail(body) == body


def test_the_first_teaser_item_does_not_take_the_articles_last_paragraph() -> None:
    body = [
        "(Tin Biển) - Mở đầu bài.",
        "Thân bài.",
        "Câu kết ngắn của bài.",  # short, but a sentence: the article's
        "Tin thứ nhất về cảng cá",
        "(Tin Biển) - Lời dẫn tin thứ nhất.",
        "Tin thứ hai",
        "Tin thứ hai",
        "(Tin Biển) - Lời dẫn tin thứ hai.",
    ]
    assert without_teaser_tail(body) == body[:3]
