"""Scraped-page leftovers are removed from entry HTML and text articles; content stays."""

from __future__ import annotations

from aggregator.normalize.noise import strip_page_noise
from tests.bundled import ARTICLES, FEEDS, by_url_part, entries_of

NOISE = ("0:00", "Tin liên quan", "Bình luận", "Gửi bình luận")


def test_bundled_entries_lose_player_comment_and_teaser_leftovers() -> None:
    dong_thap = by_url_part(entries_of(FEEDS / "saigon-times-daily.atom"), "dong-thap")
    exports = by_url_part(entries_of(FEEDS / "tin-nhanh.xml"), "xuat-khau-rau-qua")
    for entry in (dong_thap, exports):
        assert not any(noise in entry.content_html for noise in NOISE), entry.content_html
        assert "<ul>" not in entry.content_html  # the teaser list went with its heading
    assert "Ông Võ Văn Tám" in dong_thap.content_html  # the article itself stays
    assert "7,4 tỷ USD" in exports.content_html


def test_the_scraped_text_article_loses_its_teaser_headlines() -> None:
    (article,) = entries_of(ARTICLES / "vi_scraped_article.txt")
    for leftover in ("Tin cùng chuyên mục", "Cầu Nhật Tân được sơn lại", "Bình luận", "0:00"):
        assert leftover not in article.content_html


def test_captions_and_sentences_that_merely_mention_noise_words_stay() -> None:
    markup = (
        "<p>Ông nói: bình luận của độc giả rất quan trọng.</p>"
        "<figure><img src='a.jpg'><figcaption>Cầu mới. Ảnh: Trà My</figcaption></figure>"
        "<p>Ảnh: Trà My</p><p>Read more:</p><ul><li><a href='/x'>Other story</a></li></ul>"
    )
    cleaned = strip_page_noise(markup)
    assert "bình luận của độc giả" in cleaned and "Cầu mới. Ảnh: Trà My" in cleaned
    assert "<p>Ảnh: Trà My</p>" not in cleaned and "Other story" not in cleaned


def test_clean_markup_is_returned_untouched() -> None:
    markup = "<p>Nội dung <b>sạch</b>, không có gì để bỏ.</p>"
    assert strip_page_noise(markup) is markup
