"""Signatures: Vietnamese syllables stay whole, spellings compare equal, facts veto merges."""

from __future__ import annotations

import dataclasses
import gc
import random
import re
import unicodedata
import zlib
from array import array
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

import pytest

from aggregator import cluster
from aggregator.cluster import conflict, estimated_jaccard, plan_clusters, signature
from aggregator.cluster.gazetteer import canonical_names
from aggregator.cluster.signature import (
    KINDS,
    _words,
    fold,
    pack,
    sign,
    sign_many,
    tokenize,
    unpack,
    unpack_many,
)
from aggregator.config import ClusterSettings
from aggregator.model import Entry, EntrySignature

WHEN = datetime(2026, 11, 22, 2, 10, tzinfo=UTC)


def entry(
    title: str, summary: str = "", *, n: int = 1, when: datetime = WHEN, language: str = ""
) -> Entry:
    return Entry(
        id=n,
        entry_key=str(n),
        url=f"https://a.example/{n}",
        title=title,
        summary=summary,
        published=when,
        language=language,
    )


THRESHOLD = ClusterSettings().threshold
WINDOW = timedelta(hours=72)


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
def test_decomposed_text_gives_the_same_tokens_and_signature_as_composed(text: str) -> None:
    decomposed = unicodedata.normalize("NFD", text)
    assert decomposed != text
    assert tokenize(decomposed) == tokenize(text)
    composed, split = sign(entry(text, text)), sign(entry(decomposed, decomposed))
    assert composed.sets == split.sets
    assert estimated_jaccard(composed, split) == 1.0


def test_stopwords_and_single_digits_are_not_tokens() -> None:
    assert tokenize("Giá xăng của Việt Nam và thế giới") == [
        "giá",
        "xăng",
        "việt",
        "nam",
        "thế",
        "giới",
    ]
    assert tokenize("Cầu 6 làn xe khánh thành 2027, đường dây 500kV") == [
        "cầu", "làn", "xe", "khánh", "thành", "2027", "đường", "dây", "500kv",
    ]  # fmt: skip
    # Single digits of other scripts and planes too (a superscript, a mathematical five).
    assert tokenize("mục ² và \U0001d7d3 điểm \U0001d7d3\U0001d7d3") == [
        "mục", "điểm", "\U0001d7d3\U0001d7d3",
    ]  # fmt: skip


def test_folding_removes_marks_and_the_stroke_of_d() -> None:
    assert fold("Đà Nẵng, Hà Nội, Phạm Đức Hòa") == "Da Nang, Ha Noi, Pham Duc Hoa"


def test_a_vietnamese_report_joins_its_english_counterpart_through_folded_names() -> None:
    vi = entry("Thủ tướng Phạm Đức Hòa rời Hà Nội", "Sáng 22/9, ông Phạm Đức Hòa lên đường.", n=1)
    en = entry(
        "Prime Minister Pham Duc Hoa leaves Hanoi", "HANOI, Sept 22 - Pham Duc Hoa left.", n=2
    )
    other = entry("Gold prices fall in Ho Chi Minh City", "Traders sold on Monday.", n=3)
    a, b, c = sign_many([vi, en, other])
    # "Phạm Đức Hòa" and "Pham Duc Hoa" are one run key, "22/9" and "Sept 22" one date.
    assert a.kind("runs") & b.kind("runs")
    assert a.kind("dates") == b.kind("dates")
    assert not (a.kind("runs") | a.kind("names")) & (c.kind("runs") | c.kind("names"))
    plan = plan_clusters([vi, en, other], [], threshold=THRESHOLD, window=WINDOW)
    assert sorted(story.entry_ids for story in plan.new_stories) == [(1, 2), (3,)]


def test_shared_common_words_alone_join_nothing() -> None:
    # Same words, no shared name, number or date: two stories, whatever the overlap.
    first = entry("prices fall again this week", "prices fall again as demand slows", n=1)
    second = entry("prices fall again this month", "prices fall again as supply grows", n=2)
    plan = plan_clusters([first, second], [], threshold=THRESHOLD, window=WINDOW, duplicate=1.0)
    assert len(plan.new_stories) == 2


@pytest.mark.parametrize(("language", "stories"), [("en", 2), ("en-GB", 2), ("", 1)])
def test_two_reports_sharing_only_a_name_in_one_language_stay_apart(
    language: str, stories: int
) -> None:
    # One person, two events the same day: only the name (its run, its words, and those
    # words in the titles) is shared. Of entries whose language is unknown, as before.
    first = entry(
        "Pham Duc Hoa opens hospital wing",
        "Pham Duc Hoa cut the ribbon at the clinic.",
        n=1,
        language=language,
    )
    second = entry(
        "Pham Duc Hoa meets fishing cooperative",
        "Pham Duc Hoa heard what the fishermen want.",
        n=2,
        language=language,
    )
    plan = plan_clusters([first, second], [], threshold=THRESHOLD, window=WINDOW, duplicate=1.0)
    assert len(plan.new_stories) == stories


def test_a_shared_name_and_a_word_of_what_happened_join_within_one_language() -> None:
    first = entry("Pham Duc Hoa opens hospital wing", "The clinic has forty beds.", language="en")
    second = entry(
        "Pham Duc Hoa opens new wing of Hue hospital",
        "Doctors showed him the wards.",
        n=2,
        language="en",
    )
    plan = plan_clusters([first, second], [], threshold=THRESHOLD, window=WINDOW, duplicate=1.0)
    assert [story.entry_ids for story in plan.new_stories] == [(1, 2)]


def test_across_languages_a_shared_name_is_enough() -> None:
    vi = entry("Ông Phạm Đức Hòa thăm trường học", "Buổi sáng, ông gặp giáo viên.", language="vi")
    en = entry("Pham Duc Hoa tours a school", "He met the teachers.", n=2, language="en")
    plan = plan_clusters([vi, en], [], threshold=THRESHOLD, window=WINDOW, duplicate=1.0)
    assert [story.entry_ids for story in plan.new_stories] == [(1, 2)]


def _keys(kind: str, *members: int) -> set[int]:
    return {KINDS.index(kind) << 32 | member for member in members}


def _one_name(shared: set[int], common: Collection[int] = ()) -> bool:
    return cluster._one_name(frozenset(shared), {key: key in common for key in shared})


def test_one_name_is_a_run_its_words_and_their_echoes_in_the_title_and_nothing_else() -> None:
    name = _keys("runs", 7) | _keys("names", 1, 2)
    assert _one_name(name | _keys("words", 1, 2))
    # A title word that is none of the shared names, a number, a date, a second run: more.
    assert not _one_name(name | _keys("words", 3))
    for more in (_keys("numbers", 5), _keys("dates", 5), _keys("runs", 8)):
        assert not _one_name(name | more)
    # ... unless too common to count.
    assert _one_name(name | _keys("numbers", 5), common=_keys("numbers", 5))
    # A name too common to count still says what its word in the title is.
    shared = _keys("runs", 7) | _keys("names", 1, 2) | _keys("words", 1, 2)
    assert _one_name(shared, common=_keys("names", 1))
    assert not _one_name(shared - _keys("names", 1))


def test_a_near_copy_has_a_high_estimated_jaccard_and_an_unrelated_text_none() -> None:
    text = (
        "The city council approved a budget of 52,700 billion dong for next year on Tuesday, "
        "with most of the investment going to the new port and the first metro line."
    )
    copy = text.replace("approved", "passed").replace("most", "much")
    original, edited = sign_many(
        [entry("Council passes budget", text), entry("Council passes budget", copy)]
    )
    unrelated = sign(entry("Marathon draws a record field", "Runners from forty countries."))
    assert estimated_jaccard(original, edited) >= 0.5
    assert estimated_jaccard(original, unrelated) <= 0.1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Thủ tướng thăm Hoa Kỳ năm 2024", "Thủ tướng thăm Hoa Kỳ năm 2026"),  # years
        ("Bão số 8 đổ bộ Quảng Ninh", "Bão số 9 đổ bộ Nghệ An"),  # the same word, another number
        ("Magnitude 4.2 quake at Mang Den", "Magnitude 3.9 quake at Mang Den"),
    ],
)
def test_conflicting_facts_in_titles_veto(first: str, second: str) -> None:
    assert conflict(sign(entry(first)), sign(entry(second)))


def test_numbers_after_different_words_do_not_conflict() -> None:
    a = sign(entry("Vé metro tăng khoảng 15%", ""))
    b = sign(entry("Metro số 1 tăng giá vé từ 2027", ""))
    assert not conflict(a, b)


def test_event_days_apart_veto_but_a_day_of_slack_does_not() -> None:
    week = datetime(2026, 11, 12, 12, tzinfo=UTC)
    monday = sign(entry("Minister meets Japanese counterpart", "HANOI, Nov 9 - talks", when=week))
    thursday = sign(entry("Minister meets Korean counterpart", "SEOUL, Nov 12 - talks", when=week))
    late = sign(entry("Minister meets Japanese counterpart", "Chiều 10/11 tại Hà Nội", when=week))
    # A date far from publication is background, not the event's day: the entry's day is
    # then its publication day (10 November here, a day after Monday's talks).
    recalled = sign(
        entry(
            "Minister meets Korean counterpart",
            "Back in March 3 talks",
            when=week - timedelta(days=2),
        )
    )
    undated_thursday = sign(entry("Minister meets Korean counterpart", "Talks.", when=week))
    assert conflict(monday, thursday)
    assert not conflict(monday, late)
    assert not conflict(monday, recalled)
    assert conflict(monday, undated_thursday)


def test_a_weekday_is_read_as_the_last_such_day_before_publication() -> None:
    # WHEN is Sunday 22 November 2026: "on Thursday" is 19 November.
    said = sign(entry("Company recalls cars", "the company said on Thursday"))
    dated = sign(entry("Company recalls cars", "HANOI, Nov 19 - a recall"))
    other = sign(entry("Company recalls cars", "HANOI, Nov 17 - a recall"))
    assert not conflict(said, dated)
    assert conflict(said, other)


def test_a_signature_survives_packing_and_another_version_is_refused() -> None:
    signature = sign(entry("Đà Nẵng thông xe cầu Hòa Xuân 2", "Ngày 22/11, cầu dài 720 m."))
    packed = pack(signature)
    back = unpack(packed)
    assert back is not None
    assert back.sets == signature.sets and back.dated == signature.dated
    assert (back.minhash == signature.minhash).all()
    assert unpack(dataclasses.replace(packed, version=packed.version + 1)) is None


def test_signatures_read_together_are_those_read_one_by_one() -> None:
    """``unpack_many`` (a worker's answer, a batch's stored signatures): each as
    ``unpack`` reads it, those of another version or permutation count None, in order."""
    texts = [
        ("Đà Nẵng thông xe cầu Hòa Xuân 2", "Ngày 22/11, cầu dài 720 m của TP.HCM."),
        ("", ""),  # no words: empty sets
        ("Typhoon Yagi hits Hanoi", "HANOI, Nov 9 - 12,436 homes lost power, 5 million dong."),
    ]
    packed = [pack(sign(entry(title, summary, n=n))) for n, (title, summary) in enumerate(texts)]
    other_version = dataclasses.replace(packed[0], version=packed[0].version + 1)
    head = array("I", [32, *([0] * (len(KINDS) + 1))]).tobytes()  # 32 permutations
    other_perms = dataclasses.replace(packed[0], data=head + bytes(4 * 32))
    stored = [packed[0], other_version, packed[1], other_perms, packed[2]]
    together = unpack_many(stored)
    assert [s is None for s in together] == [False, True, False, True, False]
    for read, alone in zip(together, map(unpack, stored), strict=True):
        if read is None or alone is None:
            assert read is alone
            continue
        assert read.sets == alone.sets and read.dated == alone.dated
        assert read.minhash.dtype == alone.minhash.dtype
        assert (read.minhash == alone.minhash).all() and pack(read) == pack(alone)


def test_the_plan_returns_signatures_only_for_entries_it_had_to_sign() -> None:
    first, second = entry("Bão số 13 vào bờ", n=1), entry("Giá xăng giảm", n=2)
    stored = {1: pack(sign(first))}
    plan = plan_clusters(
        [first, second], [], threshold=0.22, window=timedelta(hours=72), signatures=stored
    )
    assert set(plan.signatures) == {2}
    assert isinstance(plan.signatures[2], EntrySignature)


def test_the_same_article_in_two_feeds_is_one_story_whatever_its_text() -> None:
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


def test_the_outlets_own_name_in_its_copy_is_not_a_name() -> None:
    # Every story of a wire carries its dateline; two of them must not share a "name" by it.
    wire = dataclasses.replace(
        entry("Gold prices tumble", "HANOI, Nov 5 (Mekong Wire) - Gold fell."),
        feed_title="Mekong Wire",
    )
    other = dataclasses.replace(wire, feed_title="Asia Brief")
    kept, dropped = sign(other), sign(wire)
    assert kept.kind("runs") - dropped.kind("runs")  # "mekongwire" only where it is not ours
    assert dropped.kind("names") < kept.kind("names")  # "mekong", "wire" go with it
    assert dropped.kind("names")  # "hanoi", "gold" stay


def key(text: str) -> int:
    """The hashed set member a signature keeps for ``text`` (see signature._hash)."""
    return zlib.crc32(text.encode("utf-8"))


def test_a_title_before_a_name_does_not_glue_into_its_run() -> None:
    titled = sign(entry("Prime Minister Pham Duc Hoa arrives"))
    bare = sign(entry("Phạm Đức Hòa đến nơi", n=2))
    assert key("phamduchoa") in titled.kind("runs") & bare.kind("runs")
    assert key("primeministerphamduchoa") not in titled.kind("runs")


def test_the_gazetteer_names_a_body_alike_in_both_languages_and_a_place_only_weakly() -> None:
    vi = sign(entry("Thủ tướng đến Mỹ, hội đàm tại Nhà Trắng"))
    en = sign(entry("Vietnam PM arrives in the U.S. for White House talks", n=2))
    # A body is a run in both: it can tie two reports together on its own.
    assert key("whitehouse") in vi.kind("runs") & en.kind("runs")
    # A country is a name in both ("Mỹ", "U.S."), never a run.
    assert key("unitedstates") in vi.kind("names") & en.kind("names")
    assert key("unitedstates") not in vi.kind("runs") | en.kind("runs")
    # Nha Trang the city is not the White House: diacritics decide before folding.
    city = sign(entry("Du lịch Nha Trang đông khách", n=3))
    assert key("whitehouse") not in city.kind("runs") | city.kind("names")


def test_a_one_word_country_inside_a_longer_name_is_not_the_country() -> None:
    woman = sign(entry("Chị Nguyễn Thị Nga nhận giải"))
    country = sign(entry("Nga tuyên bố ngừng bắn", n=2))
    assert key("russia") in country.kind("names")
    assert key("russia") not in woman.kind("names")


def test_codes_are_runs_and_whole_numbers_keep_their_zeros() -> None:
    signed = sign(entry("Sao Mai thu hồi 12.000 xe SM5", "Doanh số tăng 40%."))
    assert key("sm5") in signed.kind("runs")
    # One letter with digits names a series many stories share: a name, not a run.
    series = sign(entry("Đội U23 và mạng 5G", n=2))
    assert key("u23") in series.kind("names") and key("u23") not in series.kind("runs")
    assert key("40") in signed.kind("numbers") and key("4") not in signed.kind("numbers")
    # With a separator, zeros still go: "12.000" meets "12,000" and "12.0".
    assert key("12") in signed.kind("numbers")


def test_a_date_that_bounds_a_period_is_not_the_event_day() -> None:
    # "From the start of the year to 1/11" is a cut-off for the figures: a report of them
    # published on 3/11 is about 3/11, not an event of 1/11 two days earlier.
    published = datetime(2026, 11, 3, 9, tzinfo=UTC)
    tally = sign(
        entry("Số ca sốt xuất huyết tăng", "Từ đầu năm đến ngày 1/11, 21.560 ca.", when=published)
    )
    headline = sign(entry("Hơn 21.500 ca sốt xuất huyết", n=2, when=published))
    dated = sign(entry("Sốt xuất huyết: họp khẩn", "Chiều 1/11, Sở Y tế họp.", n=3, when=published))
    assert tally.kind("dates") == dated.kind("dates")  # still a date both texts give
    assert not conflict(tally, headline)
    assert conflict(dated, headline)


def test_a_vietnamese_syllable_spelled_like_an_english_stopword_stays_in_its_name() -> None:
    law = dataclasses.replace(entry("Luật An toàn thực phẩm được thông qua"), language="vi")
    english = dataclasses.replace(entry("An Assembly vote passes the law", n=2), language="en")
    assert key("luatan") in sign(law).kind("runs")
    assert key("an") not in sign(english).kind("names")


def test_amounts_with_a_scale_word_meet_across_languages_and_round_counts_meet() -> None:
    vi = dataclasses.replace(
        entry("Giá vàng giảm 5 triệu đồng", "Hơn 21.500 người mua lỗ."), language="vi"
    )
    en = dataclasses.replace(
        entry("Gold falls 5 million dong", "Some 21,560 buyers lost.", n=2), language="en"
    )
    shared = sign(vi).kind("numbers") & sign(en).kind("numbers")
    # A lone "5" is too common to count; "5 million" is an amount.
    assert key("5m") in shared and key("5") not in shared
    # Counts rounded differently by two outlets meet at two significant digits.
    assert key("21~3") in shared
    # A round figure matches as written and gets no rounded key; a date is no count.
    plain = sign(dataclasses.replace(entry("12.000 xe", "ngày 1/11"), language="vi"))
    assert not any(key(f"12~{n}") in plain.kind("numbers") for n in range(1, 5))


@pytest.mark.parametrize("enabled", [True, False])
def test_planning_leaves_the_garbage_collector_as_it_found_it(enabled: bool) -> None:
    # A plan pauses cyclic collection while it runs (see cluster.collector_paused).
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        plan_clusters([entry("Bão số 13 vào bờ")], [], threshold=THRESHOLD, window=WINDOW)
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_words_of_ascii_text_are_those_of_the_word_pattern() -> None:
    """The ASCII fast path of signing splits text into the words ``\\w+`` finds."""
    chars = [chr(c) for c in range(128)]
    rng = random.Random(5)
    for _ in range(5000):
        text = "".join(rng.choice(chars) for _ in range(rng.randrange(0, 30)))
        assert _words(text) == re.findall(r"\w+", text), repr(text)
    assert _words("hà nội, 12,5%") == ["hà", "nội", "12", "5"]  # not ASCII: the pattern


def _names_one_by_one(text: str, outlet: str, vietnamese: bool) -> set[str]:
    """The names of ``text`` the plain way, word by word, nothing cached: each stretch of
    name forms in a run of capitalised words, its words, and the gazetteer's names."""
    text = re.sub(
        signature._ABBREVIATION.pattern, lambda m: m[0].replace(".", ""), text
    )  # "U.S." -> "US"
    found: set[str] = set()
    for match in signature._CAPITALISED_RUN.findall(text):
        stretch: list[tuple[str, str]] = []  # (name form, as written)
        for word in [*match.split(), ""]:
            form = signature._new_name_form(vietnamese, word) if word else ""
            if form:
                stretch.append((form, word.casefold()))
                continue
            joined = " ".join(form for form, _ in stretch)
            if stretch and joined != outlet:
                names = {joined, *joined.split()}
                spelled = [spelled for _, spelled in stretch]
                for name in canonical_names(spelled, capitalised=True):
                    names |= {name, *name.split()}
                found |= names
            stretch = []
    return found


TRICKY_NAMES = [
    "Thủ tướng Phạm Đức Hòa gặp Tổng thống Mỹ tại Nhà Trắng",
    "Prime Minister Pham Duc Hoa met the U.S. President At The White House",
    "HANOI, Nov 9 (Mekong Wire) - Mekong Wire said The Ministry Of Finance",
    "Ha\u0300 No\u0323i và TP.HCM; An Giang, To Lam, Luật An toàn thực phẩm",
    "Nguyễn Thị Nga và Nga, Hồ Chí Minh; Thành Phố Hồ Chí Minh; SM5, VN-A321, U23 và G20",
    "ĐÀ NẴNG, Đà Nẵng. Liên Hợp Quốc; Ngân Hàng Nhà Nước Việt Nam; Hàn Quốc",
]


@pytest.mark.parametrize("text", TRICKY_NAMES)
@pytest.mark.parametrize("vietnamese", [True, False])
def test_names_from_the_cached_runs_are_those_found_word_by_word(
    text: str, vietnamese: bool
) -> None:
    """Runs are cached with their names already hashed (see signature._names): the hashes,
    first with empty memos then from them, are those of the names found word by word."""
    text = unicodedata.normalize("NFC", text)
    for outlet in ("", "mekong wire"):
        expected = signature._hashed_names(_names_one_by_one(text, outlet, vietnamese))
        signature.forget_memos()
        assert signature._names(text, outlet, vietnamese=vietnamese) == expected
        assert signature._names(text, outlet, vietnamese=vietnamese) == expected  # cached


def test_words_of_any_text_are_those_of_the_word_pattern() -> None:
    """Whatever the text (Vietnamese letters, news punctuation, other spaces, marks,
    digits of other scripts), signing's words are those ``\\w+`` finds."""
    chars = [
        *"aZ09_ .,;:!?'\"()-/%\n\t",
        *"đĐàáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹ",
        *"\u201c\u201d\u2018\u2019\u2013\u2014\u2026\u00a0\u2009\u3000\u200b\u0300\u0323",
        *"ßİﬁ²½٣𝟙𝐀Ωǅ€©·«»",
    ]
    rng = random.Random(11)
    for _ in range(5000):
        text = "".join(rng.choice(chars) for _ in range(rng.randrange(0, 30)))
        assert _words(text) == re.findall(r"\w+", text), repr(text)
    assert _words("“hà nội” – 12,5%…") == ["hà", "nội", "12", "5"]


def test_the_index_keys_of_a_batch_are_those_of_each_signature_alone() -> None:
    """cluster._index_keys, made for a batch at once in numpy: for each signature, its
    members of the weighted kinds with the kind in the high bits (the specific kinds
    first), how many are specific, and the weight of all its members."""
    texts = [*TRICKY_NAMES, "", "12.000 xe ngày 1/11", "Bão số 9 đổ bộ năm 2024"]
    signatures = sign_many([entry(t, t[::-1], n=i) for i, t in enumerate(texts, start=1)])
    keys, specific, total = cluster._index_keys(signatures)
    order = [*sorted(cluster.SPECIFIC), 0, 1]
    for sig, its_keys, its_specific, its_total in zip(
        signatures, keys, specific, total, strict=True
    ):
        by_kind = [[k << 32 | m for m in sig.sets[k]] for k in order]
        assert list(its_keys) == [key for kind in by_kind for key in kind]
        assert its_specific == sum(len(sig.sets[k]) for k in cluster.SPECIFIC)
        assert its_total == sum(w * len(s) for w, s in zip(cluster.WEIGHTS, sig.sets, strict=True))
    assert cluster._index_keys([]) == ([], [], [])
