"""to_entries: identity and duplicates, language, and the short summary."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.model import ParsedDocument, ParsedEntry, RawDocument
from aggregator.normalize import summary, to_entries
from aggregator.normalize.identity import entry_key
from aggregator.normalize.language import detect_language, primary_subtag
from aggregator.normalize.summary import summarize
from aggregator.parse import parse_document
from tests.bundled import (
    ARTICLES,
    BUNDLED_FEEDS,
    FEEDS,
    FIXED_NOW,
    by_url_part,
    entries_of,
)

FIXTURES = Path(__file__).parent / "fixtures"


# --- identity and duplicates -----------------------------------------------------------


@pytest.mark.parametrize(("name", "count"), BUNDLED_FEEDS.items())
def test_bundled_feed_yields_one_entry_per_unique_item(name: str, count: int) -> None:
    entries = entries_of(FEEDS / name)
    assert len(entries) == count
    assert len({entry.entry_key for entry in entries}) == count


def test_duplicate_guid_in_the_lantern_yields_one_marathon_entry() -> None:
    entries = entries_of(FEEDS / "the-lantern.xml")
    marathons = [e for e in entries if "hanoi-marathon" in e.url]
    assert len(marathons) == 1
    assert marathons[0].title == "Hanoi Marathon draws a record 14,000 runners"


def test_items_sharing_one_guid_with_different_links_are_kept_apart() -> None:
    entries = entries_of(FIXTURES / "rss2_shared_guid.xml", url="https://cms.example/feed.xml")
    assert [e.url for e in entries] == [
        "https://cms.example/tin-1",
        "https://cms.example/tin-2",
        "https://cms.example/tin-3",
    ]
    assert len({e.entry_key for e in entries}) == 3


def test_a_repeat_of_a_shared_guid_item_under_new_tracking_params_is_dropped() -> None:
    entries = entries_of(FIXTURES / "rss2_shared_guid.xml", url="https://cms.example/feed.xml")
    first = by_url_part(entries, "tin-1")
    assert first.summary == "Nội dung tin thứ nhất."  # the first copy wins


def test_items_without_links_are_not_merged_into_the_feed_url() -> None:
    entries = entries_of(
        FIXTURES / "rss2_items_without_links.xml", url="https://nolinks.example/feed.xml"
    )
    assert [e.title for e in entries] == [
        "Ferry service resumes after storm",
        "Night market hours extended",
        "An item with neither title nor link: its first words become the title.",
    ]
    assert all(e.url == "" for e in entries)
    assert len({e.entry_key for e in entries}) == 3


def test_links_differing_only_in_tracking_identify_one_entry_when_there_is_no_guid() -> None:
    doc = ParsedDocument(
        format="rss20",
        entries=(
            ParsedEntry(link="https://a.example/story?utm_source=rss", title="Story"),
            ParsedEntry(link="https://A.EXAMPLE/story?fbclid=x#top", title="Story, updated"),
        ),
    )
    (entry,) = to_entries(doc, feed_url="https://a.example/feed", now=FIXED_NOW)
    assert entry.url == "https://a.example/story"
    assert entry.title == "Story"


def test_an_item_without_title_or_link_is_skipped() -> None:
    doc = ParsedDocument(format="rss20", entries=(ParsedEntry(guid="g"), ParsedEntry(title="T")))
    entries = to_entries(doc, feed_url="https://a.example/feed", now=FIXED_NOW)
    assert [e.title for e in entries] == ["T"]


def test_a_long_untitled_item_gets_a_title_cut_at_a_word() -> None:
    words = "Mưa lớn kéo dài khiến nhiều tuyến đường ở trung tâm thành phố ngập sâu " * 3
    doc = ParsedDocument(
        format="rss20",
        entries=(ParsedEntry(link="https://a.example/x", content_html=f"<p>{words}</p>"),),
    )
    (entry,) = to_entries(doc, feed_url="https://a.example/feed", now=FIXED_NOW)
    assert len(entry.title) <= 90
    assert entry.title.endswith("…")
    assert words.startswith(entry.title[:-1])
    assert words[len(entry.title) - 1] == " "


def test_max_entries_caps_the_document() -> None:
    doc = parse_document(
        RawDocument(url="https://tn.example/rss", content=(FEEDS / "tin-nhanh.xml").read_bytes())
    )
    capped = to_entries(doc, feed_url="https://tn.example/rss", now=FIXED_NOW, max_entries=3)
    assert [e.title for e in capped] == [item.title for item in doc.entries[:3]]


def test_entry_keys_are_stable_across_runs_and_clocks() -> None:
    for name in BUNDLED_FEEDS:
        first = [e.entry_key for e in entries_of(FEEDS / name)]
        again = [e.entry_key for e in entries_of(FEEDS / name, now=FIXED_NOW + timedelta(days=3))]
        assert first == again


def test_entry_keys_differ_across_all_bundled_feeds() -> None:
    keys = [e.entry_key for name in BUNDLED_FEEDS for e in entries_of(FEEDS / name)]
    assert len(keys) == sum(BUNDLED_FEEDS.values())
    assert len(set(keys)) == len(keys)


def test_entry_key_prefers_guid_then_link_then_title_and_date() -> None:
    by_guid = entry_key(guid="g-1", link="https://a.example/1", title="T", published="p")
    assert by_guid == entry_key(
        guid="  g-1 ", link="https://other.example/", title="X", published="q"
    )
    assert by_guid != entry_key(guid="g-2", link="https://a.example/1", title="T", published="p")
    by_link = entry_key(guid="", link="https://a.example/1", title="T", published="p")
    assert by_link == entry_key(guid="", link="https://a.example/1", title="X", published="q")
    assert by_link != by_guid
    by_title = entry_key(guid="", link="", title="T", published="2026-11-20T00:00:00+00:00")
    assert by_title != entry_key(guid="", link="", title="T", published="2026-11-21T00:00:00+00:00")
    assert len(by_title) == 32 and int(by_title, 16) >= 0


# --- language --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("vi-VN", "vi"), ("en_US", "en"), (" EN ", "en"), ("zh-Hant-TW", "zh"), ("vi", "vi")],
)
def test_primary_subtag(tag: str, expected: str) -> None:
    assert primary_subtag(tag) == expected


@pytest.mark.parametrize(
    ("name", "language"),
    [
        ("tin-nhanh.xml", "vi"),
        ("saigon-times-daily.atom", "vi"),
        ("mekong-review.rdf", "en"),
        ("harbor-tech.json", "en"),
        ("the-lantern.xml", "en"),  # declared "en-us"
    ],
)
def test_bundled_entries_take_the_declared_language(name: str, language: str) -> None:
    assert {e.language for e in entries_of(FEEDS / name)} == {language}


def test_declared_region_subtag_is_dropped() -> None:
    entries = entries_of(FIXTURES / "rss2_shared_guid.xml")  # <language>vi-VN</language>
    assert {e.language for e in entries} == {"vi"}


def test_undeclared_language_is_guessed_from_the_text() -> None:
    entries = entries_of(FIXTURES / "rss2_no_language.xml")
    languages = {e.url.rsplit("/", 1)[-1]: e.language for e in entries}
    assert languages == {"vi": "vi", "en": "en", "short": ""}


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("ĐÀ NẴNG ĐÓN ĐOÀN KHÁCH QUỐC TẾ ĐẦU TIÊN SAU MÙA BÃO", "vi"),
        ("Đà Nẵng đón đoàn khách quốc tế đầu tiên sau mùa bão", "vi"),
        ("Da Nang welcomes its first group of foreign visitors after the storms", "en"),
    ],
)
def test_language_guess_reads_both_cases(text: str, language: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize(
    ("path", "language"),
    [
        (ARTICLES / "vi_scraped_article.txt", "vi"),
        (ARTICLES / "en_plain_article.txt", "en"),
        (ARTICLES / "vi_article_page.html", "vi"),
    ],
    ids=lambda value: getattr(value, "name", value),
)
def test_articles_get_a_language(path: Path, language: str) -> None:
    (entry,) = entries_of(path)
    assert entry.language == language


def test_a_declaration_wins_over_the_guess() -> None:
    assert detect_language("Đà Nẵng thông xe cầu Hòa Xuân", "en-GB") == "en"
    assert detect_language("Đà Nẵng thông xe cầu Hòa Xuân") == "vi"


# --- summary ---------------------------------------------------------------------------


def test_summary_keeps_two_sentences_without_splitting_abbreviations_or_decimals() -> None:
    text = (
        "Giá điện tại TP.HCM tăng 3.5% từ hôm nay. Người dân được khuyến cáo tiết kiệm! "
        "Câu thứ ba không vào tóm tắt."
    )
    assert summarize(text) == (
        "Giá điện tại TP.HCM tăng 3.5% từ hôm nay. Người dân được khuyến cáo tiết kiệm!"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Một câu duy nhất.", "Một câu duy nhất."),
        (
            "Rate held at 7.5 percent. Kip steady. Baht weak.",
            "Rate held at 7.5 percent. Kip steady.",
        ),
        ("Ends with ellipsis… Then more. And more.", "Ends with ellipsis… Then more."),
        ('He said "stop." Then left. Later.', 'He said "stop." Then left.'),
        ("Bà nói “dễ thở hơn.” Ông đồng ý. Hết.", "Bà nói “dễ thở hơn.” Ông đồng ý."),
        ("", ""),
    ],
)
def test_summary_sentence_boundaries(text: str, expected: str) -> None:
    assert summarize(text) == expected


def test_long_summary_is_cut_at_a_word_with_an_ellipsis() -> None:
    sentence = "Tuyến đường sắt đô thị số 1 nối trung tâm Đà Nẵng với Hội An " * 10
    summary = summarize(sentence.strip() + ".")
    assert len(summary) <= 320
    assert summary.endswith("…")
    body = summary[:-1]
    assert sentence.startswith(body)
    assert sentence[len(body)] == " "


def test_bundled_summaries_are_short() -> None:
    for name in BUNDLED_FEEDS:
        for entry in entries_of(FEEDS / name):
            assert len(entry.summary) <= 320


def test_bundled_summary_is_the_first_two_sentences_of_the_description() -> None:
    nakri = by_url_part(entries_of(FEEDS / "tin-nhanh.xml"), "bao-nakri")
    assert nakri.summary == (
        "Sáng 15/11, tâm bão số 13 (tên quốc tế Nakri) nằm cách đảo Lý Sơn khoảng 430 km về "
        "phía Đông, sức gió mạnh nhất cấp 12, giật cấp 14. Bão đi theo hướng Tây Tây Nam, mỗi "
        "giờ 15-20 km, dự kiến đổ bộ vùng ven biển từ Quảng Trị đến Quảng Ngãi trong đêm 16/11."
    )


def test_bundled_summary_keeps_tp_hcm_inside_its_sentence() -> None:
    port = by_url_part(entries_of(FEEDS / "tin-nhanh.xml"), "cang-cai-mep")
    assert port.summary.startswith("Chiều 16/11, một tàu container sức chở 24.300 TEU")
    assert "Cái Mép (TP.HCM), mở đầu tuyến dịch vụ mới nối Việt Nam với Bắc Âu." in port.summary


def test_atom_summary_element_is_preferred_over_the_content() -> None:
    sg = by_url_part(entries_of(FEEDS / "saigon-times-daily.atom"), "10262")
    assert sg.summary == (
        "Cây cầu 6 làn xe bắc qua sông Cẩm Lệ, vốn 1.150 tỷ đồng, đưa vào sử dụng sau 26 "
        "tháng thi công."
    )


def test_summary_skips_video_player_noise_in_feed_html() -> None:
    exports = by_url_part(entries_of(FEEDS / "tin-nhanh.xml"), "xuat-khau-rau-qua")
    assert exports.summary.startswith("(Tin Nhanh) - Theo số liệu Bộ Nông nghiệp")


def test_relative_urls_of_a_local_feed_resolve_against_its_site() -> None:
    # Read from disk, the document's own URL is file:///...; a reader needs https links.
    kratie = by_url_part(entries_of(FEEDS / "mekong-review.rdf"), "kratie")
    assert 'src="https://mekongreview.example.com/media/2026/11/kratie-gauge.jpg"' in (
        kratie.content_html
    )
    assert "file:" not in kratie.content_html


def _item(guid: str, link: str, title: str = "Bão số 13", text: str = "Sơ tán dân.") -> ParsedEntry:
    return ParsedEntry(
        guid=guid,
        link=link,
        title=title,
        content_html=f"<p>{text}</p>",
        published_text="2026-11-16T10:00:00+07:00",
    )


def _keys(items: list[ParsedEntry], identity: str) -> list[str]:
    doc = ParsedDocument(format="rss20", entries=tuple(items))
    return [
        e.entry_key
        for e in to_entries(doc, feed_url="https://f.example/", now=FIXED_NOW, identity=identity)
    ]


def test_identity_link_survives_guid_rewrites() -> None:
    first = _keys([_item("session-1", "https://f.example/a")], "link")
    again = _keys([_item("session-2", "https://f.example/a?utm_source=x")], "link")
    assert first == again
    assert _keys([_item("session-1", "https://f.example/a")], "auto") != _keys(
        [_item("session-2", "https://f.example/a")], "auto"
    )


def test_identity_content_survives_changing_guids_and_links() -> None:
    assert _keys([_item("g1", "https://f.example/a?sid=1")], "content") == _keys(
        [_item("g2", "https://f.example/a?sid=2")], "content"
    )
    assert _keys([_item("g1", "https://f.example/a")], "content") != _keys(
        [_item("g1", "https://f.example/a", text="Khác hẳn.")], "content"
    )


def test_identity_guid_trusts_a_repeated_guid() -> None:
    items = [_item("same", "https://f.example/a"), _item("same", "https://f.example/b")]
    assert len(_keys(items, "auto")) == 2  # auto distrusts a guid repeated in one document
    assert len(_keys(items, "guid")) == 1  # the owner said the guid is the identity


# How summaries were split before the regex started at the stop: the reference.
_LOOK_BEHIND_END = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"”»)]))\s+(?=[\"“«(]?[0-9A-ZÀ-Ỹ])")


@given(st.text(alphabet='.!?…"”»)“«( \n\tAbĐ3x', max_size=40))
@settings(max_examples=1000, deadline=None)
def test_sentences_split_as_the_look_behind_regex_split_them(text: str) -> None:
    assert summary._first_sentences(text, 2) == _LOOK_BEHIND_END.split(text, maxsplit=2)[:2]
