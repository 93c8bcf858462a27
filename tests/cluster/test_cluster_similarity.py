"""Tokens and similarity: Vietnamese syllables stay whole, spellings compare equal."""

from __future__ import annotations

import unicodedata
from collections import Counter
from datetime import UTC, datetime

import pytest

from aggregator.cluster.similarity import cosine, features, idf_table, tfidf_vector, tokenize
from aggregator.model import Entry

WHEN = datetime(2026, 11, 22, 2, 10, tzinfo=UTC)


def entry(title: str, summary: str = "") -> Entry:
    return Entry(
        entry_key=title, url="https://a.example/", title=title, summary=summary, published=WHEN
    )


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Đường sắt đô thị", ["đường", "sắt", "đô", "thị"]),
        ("ĐÀ NẴNG thông xe", ["đà", "nẵng", "thông", "xe"]),
        ("Hòa Xuân, sông Cẩm Lệ!", ["hòa", "xuân", "sông", "cẩm", "lệ"]),
        ("Quỹ bình ổn giá", ["quỹ", "bình", "ổn", "giá"]),
    ],
)
def test_vietnamese_syllables_stay_whole_tokens(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


@pytest.mark.parametrize(
    "text",
    [
        "Đà Nẵng thông xe cầu Hòa Xuân 2 sớm hai tháng",
        "Chủ tịch HĐND TP Phan Thị Mỹ Hạnh",
        "Bán dẫn Hải Âu khánh thành nhà máy ở Bắc Ninh",
    ],
)
def test_decomposed_text_gives_the_same_tokens_as_composed(text: str) -> None:
    decomposed = unicodedata.normalize("NFD", text)
    assert decomposed != text
    assert tokenize(decomposed) == tokenize(text)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Giá xăng của Việt Nam và thế giới", ["giá", "xăng", "việt", "nam", "thế", "giới"]),
        ("The price of petrol in Vietnam", ["price", "petrol", "vietnam"]),
    ],
)
def test_stopwords_are_not_tokens(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def test_single_digits_are_dropped_but_longer_numbers_kept() -> None:
    assert tokenize("Cầu 6 làn xe khánh thành 2027, đường dây 500kV") == [
        "cầu",
        "làn",
        "xe",
        "khánh",
        "thành",
        "2027",
        "đường",
        "dây",
        "500kv",
    ]


def test_features_weigh_the_title_twice_and_add_word_pairs() -> None:
    bag = features(entry("Hòa Xuân", "cầu Hòa Xuân"))
    assert bag == Counter({"hòa": 3, "xuân": 3, "hòa xuân": 3, "cầu": 1, "cầu hòa": 1})


def test_nfd_and_nfc_titles_are_fully_similar() -> None:
    title = "Đà Nẵng thông xe cầu Hòa Xuân 2 sớm hai tháng"
    bags = [features(entry(title)), features(entry(unicodedata.normalize("NFD", title)))]
    idf = idf_table(bags)
    first, second = (tfidf_vector(bag, idf) for bag in bags)
    assert cosine(first, second) == pytest.approx(1.0)


def test_unrelated_titles_have_no_similarity() -> None:
    bags = [features(entry("Giá xăng giảm")), features(entry("Hanoi Marathon record field"))]
    idf = idf_table(bags)
    first, second = (tfidf_vector(bag, idf) for bag in bags)
    assert cosine(first, second) == 0.0


def test_a_shared_rare_pair_outweighs_shared_common_words() -> None:
    titles = [
        "Đà Nẵng thông xe cầu Hòa Xuân",
        "Đà Nẵng khánh thành cầu Hòa Xuân",
        "Đà Nẵng thông qua ngân sách",
        "Đà Nẵng đón khách du lịch",
    ]
    bags = [features(entry(t)) for t in titles]
    idf = idf_table(bags)
    vectors = [tfidf_vector(bag, idf) for bag in bags]
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[1], vectors[3])


def test_the_same_article_in_two_feeds_is_one_story_whatever_its_text() -> None:
    from datetime import timedelta

    from aggregator.cluster import plan_clusters

    def stored(n: int, feed_id: int, url: str, title: str, summary: str) -> Entry:
        return Entry(
            id=n,
            feed_id=feed_id,
            entry_key=str(n),
            url=url,
            title=title,
            summary=summary,
            published=datetime(2026, 11, 20, tzinfo=UTC),
        )

    wire = stored(1, 1, "https://wire.example/bao-13", "Bão số 13 vào bờ", "Sơ tán 92.000 dân.")
    copy = stored(2, 2, "https://wire.example/bao-13", "Storm makes landfall", "Syndicated.")
    other = stored(3, 2, "https://other.example/x", "Petrol prices fall again", "A third cut.")
    plan = plan_clusters([wire, copy, other], [], threshold=0.99, window=timedelta(hours=72))
    groups = [set(story.entry_ids) for story in plan.new_stories]
    assert {1, 2} in groups and {3} in groups
