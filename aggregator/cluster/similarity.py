"""Text similarity for clustering: TF-IDF cosine over words and word pairs.

Tokens are taken after NFC and case folding with a Unicode word pattern, so a
Vietnamese syllable with its tone marks stays one token ("đường", not "đ"+"ư"...).
Vietnamese words are often two syllables ("Hà Nội", "quốc hội"), so adjacent
pairs are features too; they also make paraphrases that merely share common
words score low, which keeps precision up.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

from aggregator.model import Entry

_WORD = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset(
    # English
    "a an and are as at be by for from has have in into is it its of on or that the this to "
    "was were will with after over new says said".split()
    # Vietnamese function words
    + "và của là có được cho với các những một trong khi đã sẽ này đó theo tại về từ để "
    "ra vào thì mà như cũng không người năm ngày".split()
)
Vector = dict[str, float]


def tokenize(text: str) -> list[str]:
    text = unicodedata.normalize("NFC", text).casefold()
    # Stopwords go; numbers stay unless a single digit ("2027" and "500kv" carry meaning).
    return [
        t for t in _WORD.findall(text) if t not in STOPWORDS and (not t.isdigit() or len(t) > 1)
    ]


def features(entry: Entry) -> Counter[str]:
    """Bag of words and adjacent word pairs; the title counts twice."""
    bag: Counter[str] = Counter()
    for text, weight in ((entry.title, 2), (entry.summary, 1)):
        words = [w for w in tokenize(text) if w not in STOPWORDS]
        for word in words:
            bag[word] += weight
        for first, second in zip(words, words[1:], strict=False):
            bag[f"{first} {second}"] += weight
    return bag


def idf_table(bags: Iterable[Counter[str]]) -> dict[str, float]:
    documents = list(bags)
    frequency: Counter[str] = Counter()
    for bag in documents:
        frequency.update(bag.keys())
    total = len(documents)
    return {term: math.log((1 + total) / (1 + count)) + 1.0 for term, count in frequency.items()}


def tfidf_vector(bag: Counter[str], idf: dict[str, float]) -> Vector:
    vector = {term: (1 + math.log(count)) * idf.get(term, 1.0) for term, count in bag.items()}
    norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
    return {term: value / norm for term, value in vector.items()}


def cosine(a: Vector, b: Vector) -> float:
    """The similarity of two entries; ``plan_clusters`` sums the same products per shared term."""
    if len(a) > len(b):
        a, b = b, a
    return sum(value * b.get(term, 0.0) for term, value in a.items())
