"""Entry signatures for clustering: computed once per entry, stored, compared cheaply.

Role in stage 5 (cluster): :func:`sign_many` turns entries into :class:`Signature` s, which
the store keeps (packed by :func:`pack`) so a later batch compares new entries with old ones
without reading or tokenizing their text again. A signature holds:

* ``minhash``: a MinHash of the entry's word bigrams (title and summary), for near-duplicate
  detection (syndicated or lightly edited copies) through LSH banding;
* ``words``: hashes of the title's content words, for title similarity in one language;
* ``names``: hashes of diacritic-folded capitalised words and runs of them ("Hà Nội" gives
  "ha", "noi" and "hanoi", as does "Hanoi"), of numbers (amounts also with their scale
  word, "5 triệu" and "5 million" as "5m"; counts of thousands also to two significant
  digits, as outlets round them) and of dates, the signal that survives translation
  between Vietnamese and English;
* ``years``, ``marks`` and ``dated``: the facts that veto a merge when they conflict (years
  and numbers in the title, the first date the text gives that does not bound a period:
  "đến ngày 1/11", "as of Nov 1" are cut-offs for figures, not the event's day).

Text is NFC-normalized and case-folded first, and tokens are Unicode word runs, so a
Vietnamese syllable with its marks ("đường") is one token, whatever the source's normal form.
Set members are CRC-32 hashes (stable across processes and Python versions, unlike
``hash``); MinHashes come from rensa (Rust), a chunk of entries per call (see
:func:`minhashes` for the measurement behind the choice).
"""

from __future__ import annotations

import functools
import itertools
import re
import sys
import unicodedata
import zlib
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import filterfalse
from typing import Protocol

import numpy as np
import numpy.typing as npt
from rensa import RMinHash

from aggregator.cluster.gazetteer import FIRST_WORDS as _FIRST_WORDS
from aggregator.cluster.gazetteer import PHRASES, canonical_names
from aggregator.model import Entry, EntrySignature

__all__ = [
    "KINDS",
    "NUM_PERM",
    "VERSION",
    "Signable",
    "Signature",
    "fold",
    "pack",
    "shingles",
    "sign",
    "sign_many",
    "tokenize",
    "unpack",
    "unpack_many",
]

# Bumped whenever the features change: a stored signature of another version is recomputed.
# rensa numbers its hashing scheme; a new scheme makes the stored MinHashes incomparable.
FORMAT = 3  # 2: titles out of runs, gazetteer, codes; 3: bound dates, scaled and rounded amounts
VERSION = FORMAT * 1000 + int(RMinHash.ALGORITHM_VERSION)
NUM_PERM = 64
U32 = npt.NDArray[np.uint32]

_WORD = re.compile(r"\w+")
# Every upper-case letter of the Basic Multilingual Plane, for a pattern that finds
# capitalised words without a Python loop over every word (re has no \p{Lu}).
_UPPER = "".join(c for c in map(chr, range(0x10000)) if c.isupper() and c.isalpha())
# Capitals joined by dots, without spaces: "U.S.", "U.N.", "TP.HCM" (not "Hà Nội. HANOI").
_ABBREVIATION = re.compile(
    rf"(?<!\w)(?:[{re.escape(_UPPER)}]{{1,3}}\.)+[{re.escape(_UPPER)}]{{1,4}}\b\.?"
)
# What every abbreviation starts with: a cheap test before the pattern above.
_UPPER_DOT = re.compile(rf"[{re.escape(_UPPER)}]\.")
_CAPITALISED_RUN = re.compile(rf"[{re.escape(_UPPER)}]\w*(?:[^\S\n]+[{re.escape(_UPPER)}]\w*)*")
_ENGLISH_STOPWORDS = frozenset(
    "a an and are as at be by for from has have in into is it its of on or that the this to "
    "was were will with after over new says said".split()
)
_VIETNAMESE_STOPWORDS = frozenset(
    "và của là có được cho với các những một trong khi đã sẽ này đó theo tại về từ để "
    "ra vào thì mà như cũng không người năm ngày".split()
)
STOPWORDS = _ENGLISH_STOPWORDS | _VIETNAMESE_STOPWORDS
# Capitalised words that are not names: sentence starts, weekdays, honorifics, titles.
_NOT_NAMES = STOPWORDS | frozenset(
    "he she they we i his her their but when while as if there here what who how why "
    "monday tuesday wednesday thursday friday saturday sunday mr mrs ms dr "
    "ông bà anh chị sáng chiều tối trưa đêm hôm thứ chủ nhật theo tại".split()
    # Titles and offices, capitalised before a name ("Prime Minister Pham Duc Hoa", "Thủ
    # tướng Phạm Đức Hòa"): left in, they glue the name into a run the other outlet,
    # which writes "the premier" or no title at all, never repeats.
    + "prime minister president premier deputy vice foreign chairman chairwoman governor "
    "pm mayor secretary ceo director ambassador chief senator spokesman spokeswoman "
    "thủ tổng chủ phó bộ sở ngoại".split()
)
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_NOT_NAMES = _NOT_NAMES | frozenset(_MONTHS)
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# One pass over the case-folded text finds every date form: "9/11", "22/9/2024" (day first,
# as Vietnamese writes it); "Nov 9", "Sept. 22" (not "Nov 1,200"); "9 November"; "Monday".
_DATE = re.compile(
    r"(?<![\d/.,])(?P<d1>\d{1,2})/(?P<m1>\d{1,2})(?:/(?P<y1>\d{4}))?(?![\d/])"
    rf"|\b(?P<m2>{_MONTH_NAMES})\.?\s+(?P<d2>\d{{1,2}})\b(?!\s*[,.]?\d{{3}})"
    rf"|\b(?P<d3>\d{{1,2}})\s+(?P<m3>{_MONTH_NAMES})\b"
    rf"|\b(?P<wd>{'|'.join(_WEEKDAYS)})\b"
)
_DATE_WORDS = frozenset(_MONTHS) | frozenset(_WEEKDAYS)
EVENT_DAYS = 7
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Amounts written with a word for their scale, one class per scale in both languages: "5
# triệu đồng" and "5 million dong" share "5m", which a lone "5" (too common) could not.
_SCALES = {
    "nghìn": "k", "ngàn": "k", "thousand": "k",
    "triệu": "m", "million": "m", "millions": "m", "mn": "m", "m": "m",
    "tỷ": "b", "tỉ": "b", "billion": "b", "billions": "b", "bn": "b",
    "trillion": "t", "trillions": "t",
}  # fmt: skip
_SCALE_AFTER = re.compile(rf"\s*({'|'.join(sorted(_SCALES, key=len, reverse=True))})(?!\w)")
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")


@dataclass(frozen=True, slots=True)
class Signature:
    """What clustering needs of one entry; see the module docstring for each field.

    ``sets`` holds the hashed token sets by kind, in the order of :data:`KINDS`.
    """

    minhash: U32
    sets: tuple[frozenset[int], ...]
    dated: int  # the event's day (see _event_day) as an ordinal

    @property
    def empty(self) -> bool:
        """No words at all: its MinHash is the all-max row every empty entry shares."""
        return not self.sets[0] and not self.sets[1]

    def kind(self, name: str) -> frozenset[int]:
        return self.sets[KINDS.index(name)]


# words: title content words (folded); names: capitalised words (folded); runs: two or more
# capitalised words joined; numbers; dates ("@month-day"); years and marks: the years and
# the numbers of the title with the word before each, which veto a merge when they conflict.
KINDS = ("words", "names", "runs", "numbers", "dates", "years", "marks")


def _hash(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def tokenize(text: str) -> list[str]:
    """NFC, case-folded Unicode words, stopwords and single digits left out."""
    return _content(_WORD.findall(unicodedata.normalize("NFC", text).casefold()))


# Stopwords and the single digits of the Basic Multilingual Plane: what _content drops.
_DROPPED = STOPWORDS | frozenset(c for c in map(chr, range(0x10000)) if c.isdigit())


def _content(words: list[str]) -> list[str]:
    kept = list(filterfalse(_DROPPED.__contains__, words))
    # A word starting beyond the BMP may be a single digit _DROPPED does not list (rare).
    if kept and max(kept) >= "\U00010000":
        kept = [t for t in kept if len(t) > 1 or not t.isdigit()]
    return kept


def fold(text: str) -> str:
    """Without diacritics: "Đà Nẵng" -> "Da Nang", so Vietnamese names meet their English form."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# English function words that are also Vietnamese syllables of names ("Luật An toàn thực
# phẩm", "An Giang", "To Lam"): capitalised in Vietnamese text, they are names.
_SYLLABLES = frozenset({"a", "an", "to", "in", "has", "the", "be"}) - _VIETNAMESE_STOPWORDS


def _name_form(word: str, vietnamese: bool = False) -> str:
    """The folded, case-folded form of a capitalised word that may be a name, else ""."""
    form = _NAME_FORMS[vietnamese].get(word)
    if form is None:  # the compute functions are made once: a partial per call cost more
        form = _cached(_NAME_FORMS[vietnamese], _NEW_NAME_FORMS[vietnamese], word)
    return form


def _new_name_form(vietnamese: bool, word: str) -> str:
    if not word[:1].isupper():
        return ""
    lowered = word.casefold()
    if lowered not in _NOT_NAMES or (vietnamese and lowered in _SYLLABLES):
        return fold(word).casefold()
    return ""


# Signing looks the same words up again and again (names, title words, the outlet): plain
# dicts, cleared when full, cost less per lookup than functools.lru_cache's bookkeeping.
_CACHE_SIZE = 1 << 16


def _cached(cache: dict[str, str], compute: Callable[[str], str], key: str) -> str:
    value = cache.get(key)
    if value is None:
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        value = cache[key] = compute(key)
    return value


_FOLDED: dict[str, str] = {}
_NAME_FORMS: tuple[dict[str, str], dict[str, str]] = ({}, {})  # not Vietnamese, Vietnamese
_NEW_NAME_FORMS = (
    functools.partial(_new_name_form, False),
    functools.partial(_new_name_form, True),
)


def _fold_word(word: str) -> str:
    """:func:`fold` for one word, cached: words repeat, and folding is per character."""
    return _cached(_FOLDED, fold, word)


_OUTLETS: dict[str, str] = {}


class _Memo(dict[str, int]):
    """``compute`` of each key, kept (cleared when full), so that the members of a set
    are hashed by ``map(memo.__getitem__, members)`` in C, with a Python call only for
    a key not seen yet."""

    def __init__(self, compute: Callable[[str], int]) -> None:
        super().__init__()
        self.compute = compute

    def __missing__(self, key: str) -> int:
        if len(self) >= _CACHE_SIZE:
            self.clear()
        value = self[key] = self.compute(key)
        return value


_NOT_OF_KIND = -1  # what a memo below gives a member that is not of its kind (a CRC is >= 0)
_HASHES = _Memo(_hash)
_TITLE_WORDS = _Memo(lambda word: _hash(_fold_word(word)))
# One-word names. A run is not also one: its words already are, and counting it twice let
# chance runs of capitalised words join unrelated stories (places written as one word in
# English, "Hanoi", get the run's form from the gazetteer).
_ONE_WORD_NAMES = _Memo(lambda name: _NOT_OF_KIND if " " in name else _hash(name))
# Runs, and codes that mix letters and digits ("SM5", "VN-A321"): as telling.
_RUN_NAMES = _Memo(
    lambda name: (
        _hash(name.replace(" ", ""))
        if " " in name or (not name.isalpha() and _is_code(name))
        else _NOT_OF_KIND
    )
)


def _outlet(feed_title: str) -> str:
    """The feed title as a run of name forms, the way :func:`_names` joins a run."""
    return _cached(
        _OUTLETS,
        lambda title: " ".join(_name_form(w) or w.casefold() for w in title.split()),
        feed_title,
    )


# One run of capitalised words as it reads (and whether the text is Vietnamese) -> each
# stretch of name forms in it, as written joined by spaces, with the names it gives
# hashed, as one-word names and as runs (see _hashed_names).
_Stretch = tuple[str, frozenset[int], frozenset[int]]
_Run = tuple[_Stretch, ...]
_RUNS: tuple[dict[str, _Run], dict[str, _Run]] = ({}, {})
_MAX_RUNS = 1 << 14  # a run's entry is a few hundred bytes


def forget_memos() -> None:
    """Empty the memos of signing, for a process that signs batch after batch (the
    daemon, every minute). Filled a few entries at a time in the middle of every
    batch, between its short-lived objects, they scatter small blocks that live on over
    pymalloc's arenas, and an arena holding one is never given back: kept until full,
    they made the daemon's memory creep up pass after pass (bench/soak.py)."""
    for memo in (_FOLDED, _OUTLETS, *_NAME_FORMS, *_RUNS):
        memo.clear()


def _run_names(match: str, vietnamese: bool) -> _Run:
    words = match.split()
    forms = [_name_form(word, vietnamese) for word in words]
    if all(forms):  # the usual case: the whole run is one stretch of names
        return (_stretch(forms, words),)
    stretches: list[_Stretch] = []
    start = 0
    for end, form in enumerate([*forms, ""]):
        if not form:
            if end > start:
                stretches.append(_stretch(forms[start:end], words[start:end]))
            start = end + 1
    return tuple(stretches)


def _stretch(forms: list[str], words: list[str]) -> _Stretch:
    """A stretch of name forms as written, joined by spaces, with the names it gives
    (hashed, see :func:`_hashed_names`): the joined run and each of its words, and the
    gazetteer's names for the run as written (``words``, capitalised)."""
    joined = " ".join(forms)
    names = {joined, *forms} if len(forms) > 1 else {joined}
    if len(words) == 1:  # canonical_names of one capitalised word, without the call
        found = PHRASES.get((words[0].casefold(),))
        if found is not None:
            _add_name(names, found)
    else:
        spelled = [word.casefold() for word in words]
        if not _FIRST_WORDS.isdisjoint(spelled):  # where a phrase of the gazetteer may start
            for name in canonical_names(spelled, capitalised=True):
                _add_name(names, name)
    return (joined, *_hashed_names(names))


def _hashed_names(names: set[str]) -> tuple[frozenset[int], frozenset[int]]:
    """The hashes of ``names`` as one-word names and as runs (see ``KINDS``)."""
    return (
        frozenset(map(_ONE_WORD_NAMES.__getitem__, names)) - _NONE,
        frozenset(map(_RUN_NAMES.__getitem__, names)) - _NONE,
    )


def _names(text: str, outlet: str = "", *, vietnamese: bool = False) -> tuple[set[int], set[int]]:
    """Folded capitalised words, and each run of them ("Phạm Đức Hòa" -> "pham duc hoa"),
    in NFC ``text``, hashed: those of one word, and the runs (see :func:`_hashed_names`).

    A run that is the ``outlet``'s own name (its folded feed title, as in a dateline
    "HANOI, Nov 9 (Mekong Wire)") is left out: every story of that outlet carries it.
    Runs are cached with their names hashed: a run seen before costs two set unions.
    """
    ones: set[int] = set()
    runs: set[int] = set()
    if "." in text and _UPPER_DOT.search(text):  # "U.S." is the name US, "TP.HCM" TPHCM
        text = _ABBREVIATION.sub(lambda m: m[0].replace(".", ""), text)
    cache = _RUNS[vietnamese]
    # A run is capitalised words separated by spaces only: "Hà Nội. HANOI" is two names.
    for match in _CAPITALISED_RUN.findall(text):
        stretches = cache.get(match)
        if stretches is None:
            if len(cache) >= _MAX_RUNS:
                cache.clear()
            stretches = cache[match] = _run_names(match, vietnamese)
        for joined, one_word, run in stretches:
            if joined != outlet:
                ones |= one_word
                runs |= run
    return ones, runs


def _is_code(name: str) -> bool:
    """Letters and digits mixed, at least two letters: a model or a flight ("SM5",
    "VN-A321"). One letter and digits ("U23", "G20", "F1", "5G") names a series or a
    class that many unrelated stories share."""
    letters = sum(c.isalpha() for c in name)
    return letters >= 2 and letters < len(name.replace("-", ""))


def _add_name(found: set[str], name: str) -> None:
    """A name and, when it has several words, each of them (the caller joins the runs)."""
    found.add(name)
    if " " in name:
        found.update(name.split())


def _number_key(number: str) -> str:
    """Digits only, trailing zeros dropped: "9.240", "9,24" and "9.24" all give "924"
    (Vietnamese writes "." for thousands and "," for decimals, English the reverse)."""
    if "." not in number and "," not in number:
        return number  # "40%" stays 40, not 4: zeros only go where a separator may stand
    return number.replace(".", "").replace(",", "").rstrip("0") or "0"


# A date after one of these words bounds a period ("từ đầu năm đến ngày 1/11", "as of
# Nov 1", "since Monday"): a cut-off for figures, not the day the reported event happened.
_BOUND = re.compile(r"(?:\b(?:đến|tới|until|till|through|since|as of)\s+(?:ngày\s+)?)$")


def _rounded(number: str, vietnamese: bool) -> str:
    """A count of thousands or more to two significant digits, for figures that outlets
    round differently ("hơn 21.500 ca" and "21.560 ca", "about 21,500"): "21~3"; else ""."""
    thousands, decimal = (".", ",") if vietnamese else (",", ".")
    whole = number.split(decimal, 1)[0]
    if thousands not in whole:
        return ""
    groups = whole.split(thousands)
    if any(len(g) != 3 for g in groups[1:]) or not groups[0].isdigit():
        return ""  # not a thousands-grouped number: a date, a decimal, a score
    digits = "".join(groups).lstrip("0")
    if len(digits) < 4 or digits[2:].strip("0") == "":
        return ""  # under a thousand, or already round (it matches as written)
    return f"{digits[:2]}~{len(digits) - 2}"


def _dates(text: str, published: datetime) -> list[tuple[date, bool]]:
    """Dates the (case-folded) text gives, in order of appearance, in the year of
    ``published`` unless it says another; an English weekday is the last such day on or
    before ``published``. Each with whether it bounds a period (see ``_BOUND``)."""
    found: list[tuple[date, bool]] = []
    today = published.date()
    for m in _DATE.finditer(text):
        bound = _BOUND.search(text, max(0, m.start() - 16), m.start()) is not None
        if m["wd"]:
            weekday = _WEEKDAYS.index(m["wd"])
            found.append((today - timedelta(days=(today.weekday() - weekday) % 7), bound))
            continue
        if m["d1"]:
            day, month, year = int(m["d1"]), int(m["m1"]), int(m["y1"] or today.year)
        elif m["m2"]:
            day, month, year = int(m["d2"]), _MONTHS[m["m2"]], today.year
        else:
            day, month, year = int(m["d3"]), _MONTHS[m["m3"]], today.year
        try:
            found.append((date(year, month, day), bound))
        except ValueError:  # "31/2", or a fraction that only looks like a date
            pass
    return found


def _event_day(dates: Sequence[tuple[date, bool]], published: datetime) -> int:
    """The first date near publication (the week before it, or the next day), as an
    ordinal: the event's day in news copy (dates far off are background or plans). Without
    one, the publication day: news is filed the day of the event or the day after, so a
    headline published on Thursday is not Monday's meeting."""
    today = published.date()
    for day, bound in dates:
        if not bound and -EVENT_DAYS <= (day - today).days <= 1:
            return day.toordinal()
    return today.toordinal()


_TITLE_TOKEN = re.compile(r"\d+(?:[.,]\d+)*(?:-\d+)?|\w+")


def marked_numbers(marks: frozenset[int]) -> dict[int, set[int]]:
    """Mark codes by the word before the numbers: see :func:`_marks`."""
    by_word: dict[int, set[int]] = {}
    for code in marks:
        by_word.setdefault(code >> 16, set()).add(code & 0xFFFF)
    return by_word


def _marks(title: str) -> set[int]:
    """The title's numbers with the word before each, as 16+16-bit codes.

    "bão số 8" and "bão số 9", "magnitude 4.2" and "magnitude 3.9" give the same word with
    another number: a conflict. "15%" in one title and "2027" in another do not.
    """
    tokens = _TITLE_TOKEN.findall(title.casefold())
    return {
        (_hash(_fold_word(word)) & 0xFFFF) << 16 | (_hash(_number_key(number)) & 0xFFFF)
        for word, number in zip(tokens, tokens[1:], strict=False)
        if number[0].isdigit() and not word[0].isdigit()
    }


def _bigrams(words: list[str]) -> list[str]:
    return list(map(" ".join, itertools.pairwise(words))) or words


def shingles(entry: Entry) -> list[str]:
    """The word bigrams of title and summary that :func:`minhashes` works on."""
    return _bigrams(tokenize(entry.title) + tokenize(entry.summary))


# In ASCII text a word (\w) character is a letter, a digit or "_": every other character
# made a space, str.split gives the words of _WORD.findall, in C and about twice as fast.
_ASCII_SPACES = str.maketrans({chr(c): " " for c in range(128) if not _WORD.match(chr(c))})


def _words(lowered: str) -> list[str]:
    """``_WORD.findall(lowered)``."""
    if lowered.isascii():
        return lowered.translate(_ASCII_SPACES).split()
    return _WORD.findall(lowered)


class Signable(Protocol):
    """What signing reads of an entry: an :class:`~aggregator.model.Entry`, or the same
    fields alone (a signing worker gets nothing more, see ``cluster.parallel``)."""

    @property
    def title(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def published(self) -> datetime: ...  # only its date is read (a worker gets no more)
    @property
    def language(self) -> str: ...
    @property
    def feed_title(self) -> str: ...


def _features(entry: Signable) -> tuple[list[str], tuple[frozenset[int], ...], int]:
    """The entry's bigram shingles (for its MinHash), its hashed sets and its first date."""
    title = unicodedata.normalize("NFC", entry.title)
    summary = unicodedata.normalize("NFC", entry.summary)
    text = f"{title}\n{summary}"
    # Case-folding and splitting the parts apart gives the same words as the whole text:
    # no word runs across the "\n".
    title_lowered, summary_lowered = title.casefold(), summary.casefold()
    lowered = f"{title_lowered}\n{summary_lowered}"
    title_every = _words(title_lowered)
    summary_every = _words(summary_lowered)
    every = title_every + summary_every
    title_words = _content(title_every)
    shingles = _bigrams(title_words + _content(summary_every))
    # The words that call for a closer look (dates, the gazetteer's phrases), in one pass
    # over the words: most texts have none or one or two.
    marked = _MARKED.intersection(every)
    # The date pattern is the slowest part of signing: only text that may hold a date.
    maybe_dated = "/" in text or not marked.isdisjoint(_DATE_WORDS)
    dates = _dates(lowered, entry.published) if maybe_dated else []
    vietnamese = entry.language.startswith("vi")
    ones, runs = _names(text, _outlet(entry.feed_title), vietnamese=vietnamese)
    if marked and not marked.isdisjoint(_FIRST_WORDS):
        names: set[str] = set()
        for name in canonical_names(every, capitalised=False):
            _add_name(names, name)
        more_ones, more_runs = _hashed_names(names)
        ones |= more_ones
        runs |= more_runs
    # Numbers, years and marks need a digit, and a word with a digit is not all letters.
    numbers: set[str] = set()
    digited = list(filterfalse(str.isalpha, every))
    if digited:
        # Every digit is in one of these words, and the first (last) one's first (last)
        # occurrence in the text is that word itself: a copy of it inside an earlier
        # (later) word would make that word one of them. So numbers lie between the two,
        # and the number pattern scans only there, not the whole text.
        start = lowered.find(digited[0])
        end = lowered.rfind(digited[-1]) + len(digited[-1])
        _numbers(lowered, vietnamese, numbers, start, end)
    titled = not all(map(str.isalpha, title_every))
    # The members hashed (_hash) through memos: each one once per process, not per entry.
    hashed = (
        frozenset(map(_TITLE_WORDS.__getitem__, title_words)),
        frozenset(ones),
        frozenset(runs),
        frozenset(map(_HASHES.__getitem__, [n for n in numbers if len(n) > 1])),
        frozenset(map(_HASHES.__getitem__, [f"{d.month}-{d.day}" for d, _ in dates])),
        frozenset(map(_HASHES.__getitem__, _YEAR.findall(title))) if titled else frozenset(),
        frozenset(_marks(title)) if titled else frozenset(),
    )
    return shingles, hashed, _event_day(dates, entry.published)


_NONE = frozenset({_NOT_OF_KIND})
_MARKED = _DATE_WORDS | _FIRST_WORDS


def _numbers(
    lowered: str, vietnamese: bool, numbers: set[str], start: int = 0, end: int = sys.maxsize
) -> None:
    """Add the numbers of the case-folded text (those within ``start:end``) to
    ``numbers``: as written (see :func:`_number_key`), with their scale word, and rounded
    (see :func:`_rounded`).

    One pass: case-folding changes no digit, dot or comma, and a number has a scale word
    only as a whole (its digits before a word are all its digits), so checking the scale
    after each number finds every scaled amount."""
    thousands = "." if vietnamese else ","
    for match in _NUMBER.finditer(lowered, start, end):
        number = match[0]
        key = _number_key(number)
        numbers.add(key)
        scaled = _SCALE_AFTER.match(lowered, match.end())
        if scaled:
            numbers.add(key + _SCALES[scaled[1]])
        if thousands in number:
            rounded = _rounded(number, vietnamese)
            if rounded:
                numbers.add(rounded)


# pack() writes uint32s through array("I"), which is 4 bytes on every platform we run on.
assert array("I").itemsize == 4

# Entries signed at a time, and per rensa call: bounds the shingles held at once and the
# Python lists rensa's digest matrix is read back through.
_CHUNK = 256
SEED = 20261203


def minhashes(shingle_sets: Sequence[Sequence[str]]) -> npt.NDArray[np.uint32]:
    """One MinHash row (NUM_PERM columns) per shingle list, by rensa's RMinHash.

    Chosen by measurement (2 cores, 60-word documents): rensa's batch call takes about
    4 us a document, a numpy multiply-shift MinHash of our own 49 us (15 of them in
    hashing the shingles), datasketch's ``update_batch`` 290 us at 128 permutations.
    """
    out = np.empty((len(shingle_sets), NUM_PERM), dtype=np.uint32)
    for start in range(0, len(shingle_sets), _CHUNK):
        chunk = shingle_sets[start : start + _CHUNK]
        matrix = RMinHash.digest_matrix_from_token_sets(chunk, num_perm=NUM_PERM, seed=SEED)
        # Read back through array("I") (in C), not numpy's walk of nested lists.
        rows = array("I", itertools.chain.from_iterable(matrix.to_rows()))
        out[start : start + len(chunk)] = np.frombuffer(rows, dtype=np.uint32).reshape(-1, NUM_PERM)
    return out


def sign_many(entries: Sequence[Signable]) -> list[Signature]:
    """Signatures of ``entries``, their MinHashes computed a chunk of entries at a time:
    the shingles of a whole batch (a pass hands over 20,000 entries) would be a hundred
    MB or so at once, and nothing needs them once the chunk's MinHashes are made."""
    signatures: list[Signature] = []
    for start in range(0, len(entries), _CHUNK):
        parts = [_features(entry) for entry in entries[start : start + _CHUNK]]
        matrix = minhashes([shingles for shingles, _, _ in parts])
        signatures.extend(
            Signature(row, sets, dated) for row, (_, sets, dated) in zip(matrix, parts, strict=True)
        )
    return signatures


def sign(entry: Entry) -> Signature:
    return sign_many([entry])[0]


# -- storage: one compact blob per entry ----------------------------------------------


def pack(signature: Signature) -> EntrySignature:
    """Little-endian uint32s: the permutation count, the set sizes and the first date, then
    the MinHash, then each set's members."""
    sets = signature.sets
    head = array("I", [len(signature.minhash), *map(len, sets), signature.dated])
    members = array("I", itertools.chain.from_iterable(map(sorted, sets)))
    if sys.byteorder != "little":
        head.byteswap()
        members.byteswap()
    # The MinHash goes over as numpy's bytes, not as a list of Python ints.
    minhash = signature.minhash.astype("<u4", copy=False).tobytes()
    return EntrySignature(version=VERSION, data=b"".join((head, minhash, members)))


def unpack(stored: EntrySignature) -> Signature | None:
    """The stored signature, or None when another version wrote it (recompute it then)."""
    return unpack_many([stored])[0]


_EMPTY: frozenset[int] = frozenset()


def unpack_many(stored: Sequence[EntrySignature]) -> list[Signature | None]:
    """:func:`unpack` of each, read in one pass: the blobs joined, the MinHashes taken
    out as one array (a row each) and the rest turned into ints at once (a worker's
    answer is 512 of them, and a blob at a time cost a dozen numpy calls each)."""
    found: list[Signature | None] = [None] * len(stored)
    mine = [i for i, packed in enumerate(stored) if packed.version == VERSION]
    if not mine:
        return found
    joined = np.frombuffer(b"".join(stored[i].data for i in mine), dtype="<u4")
    joined = joined.astype(np.uint32, copy=False)  # no copy on a little-endian machine
    sizes = np.fromiter((len(stored[i].data) // 4 for i in mine), dtype=np.int64, count=len(mine))
    starts = np.cumsum(sizes) - sizes
    head = 2 + len(KINDS)
    usable = joined[starts] == NUM_PERM  # a signature made with another permutation count
    at = (starts[usable] + head)[:, None] + np.arange(NUM_PERM)
    minhashes = joined[at]
    rest = np.ones(len(joined), dtype=np.bool_)
    rest[at.ravel()] = False
    values = joined[rest].tolist()  # each blob without its MinHash, one after the other
    rows = iter(minhashes)
    position = 0
    for i, size, whole in zip(mine, sizes.tolist(), usable.tolist(), strict=True):
        if not whole:
            position += size
            continue
        start = position + head
        sets: list[frozenset[int]] = []
        for count in values[position + 1 : start - 1]:
            sets.append(frozenset(values[start : start + count]) if count else _EMPTY)
            start += count
        found[i] = Signature(next(rows), tuple(sets), values[position + head - 1])
        position += size - NUM_PERM
    return found
