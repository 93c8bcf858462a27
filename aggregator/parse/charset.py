"""Character encodings: what a document declares, and a guess when nothing (true) does.

Declarations come first (see README, "Character encoding"); this module only guesses
when there is none, or when the declared encoding cannot read the bytes (a feed
declared UTF-8 whose bytes are not UTF-8 is common: a CMS template says UTF-8 while the
database exports windows-1258). The guess, :func:`detect`, in order:

1. a byte-order mark;
2. UTF-16 without a BOM, seen from NUL bytes on one side of each byte pair (ASCII
   markup in UTF-16 is half zeros), as the XML spec's appendix F does for ``<?xml``;
3. UTF-8, when the sample is valid UTF-8 (legacy 8-bit text almost never is);
4. the legacy Vietnamese code pages windows-1258 and VISCII, each read and scored by
   how many of its non-ASCII words are Vietnamese syllables (onset, rhyme, at most one
   tone mark, one letter case) against the mojibake a wrong code page leaves (upper-
   case letters inside words, stray combining marks, control characters);
5. otherwise windows-1252, a superset of Latin-1 and what English legacy text is in.

Only a bounded sample is read (:data:`SAMPLE_BYTES` from the start, plus as much from
the first non-ASCII byte when the start is plain ASCII), and nothing here raises on
any bytes. TCVN3 (TCVN 5712 "VN3") is not guessed: it is a font encoding of the
.Vn desktop fonts with no registered charset name, which no browser decodes and no
feed can declare; its letters overlap windows-1252's, so guessing it would misread
Western text. Python has no VISCII codec, so its table is here (RFC 1456, checked
against glibc's iconv).
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from functools import lru_cache

SAMPLE_BYTES = 16 * 1024

# VISCII (RFC 1456): bytes 0x80-0xFF, then the six C0 positions it reassigns.
_VISCII_HIGH = (
    "ẠẮẰẶẤẦẨẬẼẸẾỀỂỄỆỐỒỔỖỘỢỚỜỞỊỎỌỈỦŨỤỲÕắằặấầẩậẽẹếềểễệốồổỗỠƠộờởịỰỨỪỬơớƯ"
    "ÀÁÂÃẢĂẳẵÈÉÊẺÌÍĨỳĐứÒÓÔạỷừửÙÚỹỵÝỡưàáâãảăữẫèéêẻìíĩỉđựòóôõỏọụùúũủýợỮ"
)
_VISCII_LOW = {0x02: "Ẳ", 0x05: "Ẵ", 0x06: "Ẫ", 0x14: "Ỷ", 0x19: "Ỹ", 0x1E: "Ỵ"}
_VISCII_TABLE = "".join(_VISCII_LOW.get(i, chr(i)) for i in range(128)) + _VISCII_HIGH
_VISCII_NAMES = {"viscii", "viscii1.1-1", "csviscii"}

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([\w.:-]+)[\"']")
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_NON_ASCII = re.compile(rb"[\x80-\xff]")

# Legacy candidates, the more common first: it wins a tie.
VIETNAMESE = ("windows-1258", "viscii")
WESTERN = "windows-1252"


def lookup(name: str) -> str | None:
    """The canonical name of an encoding we can decode, or None for an unknown one."""
    name = name.strip().strip("\"'").lower()
    if name in _VISCII_NAMES:
        return "viscii"
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


def decode(content: bytes, encoding: str, errors: str = "replace") -> str:
    """``content`` in ``encoding`` (a name :func:`lookup` accepted), including VISCII."""
    if encoding == "viscii":
        return codecs.charmap_decode(content, errors, _VISCII_TABLE)[0]
    return content.decode(encoding, errors)


def decodes(content: bytes, encoding: str) -> bool:
    """Whether every byte of ``content`` is valid in ``encoding``."""
    try:
        decode(content, encoding, "strict")
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def http_charset(content_type: str) -> str:
    found = _CHARSET.search(content_type)
    return found.group(1) if found else ""


def bom_encoding(content: bytes) -> str:
    return next((name for bom, name in _BOMS if content.startswith(bom)), "")


def xml_declared_encoding(content: bytes) -> str:
    found = _XML_ENCODING.match(content[:512])
    return found.group(1).decode("ascii") if found else ""


def meta_charset(content: bytes) -> str:
    """An HTML page's own ``<meta charset>`` (or http-equiv), in its first 4 KB."""
    found = _META_CHARSET.search(content[:4096])
    return found.group(1).decode("ascii") if found else ""


def utf16_without_bom(content: bytes) -> str:
    """``utf-16-le`` or ``utf-16-be`` when the start is UTF-16 text without a BOM."""
    if b"\x00" not in content[:4]:
        return ""  # the cheap exit every ordinary document takes
    head = content[:4096]
    if len(head) < 8:
        return ""
    head = head[: len(head) // 2 * 2]
    pairs = len(head) // 2
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if odd >= 0.3 * pairs and even <= 0.02 * pairs:
        guess = "utf-16-le"
    elif even >= 0.3 * pairs and odd <= 0.02 * pairs:
        guess = "utf-16-be"
    else:
        return ""
    # A cut surrogate pair at the end of the sample is not an error.
    try:
        codecs.getincrementaldecoder(guess)("strict").decode(head, final=False)
    except UnicodeDecodeError:
        return ""
    return guess


def sample(content: bytes) -> bytes:
    """What detection reads: the start, plus the first non-ASCII stretch further on."""
    head = content[:SAMPLE_BYTES]
    if not head.isascii() or len(content) <= SAMPLE_BYTES:
        return head
    found = _NON_ASCII.search(content, SAMPLE_BYTES)
    if found is None:
        return head
    # The byte after an ASCII byte starts a character in any of our encodings.
    return head + content[found.start() : found.start() + SAMPLE_BYTES]


def _valid_utf8(data: bytes) -> bool:
    try:
        # final=False: the sample may end inside a multi-byte character.
        codecs.getincrementaldecoder("utf-8")("strict").decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True


def detect(content: bytes) -> str:
    """The most likely encoding of ``content``; never raises, reads a bounded sample."""
    found = bom_encoding(content) or utf16_without_bom(content)
    if found:
        return found
    data = sample(content)
    if _valid_utf8(data):
        return "utf-8"
    western_odd = score(decode(data, WESTERN))[2]
    qualified: list[tuple[int, str]] = []
    for candidate in VIETNAMESE:
        good, bad, odd = score(decode(data, candidate))
        # Enough Vietnamese words and clearly more of them than of misread ones ("à la"
        # or "é" in English text is not enough), or fewer signs of a misreading than
        # windows-1252 shows (so Western text, clean in 1252, never qualifies that way).
        if (good >= 2 and good >= 3 * bad) or odd < western_odd:
            qualified.append((good - bad, candidate))
    # max() keeps the first of equals: windows-1258, the more common, wins a tie.
    return max(qualified, key=lambda pair: pair[0])[1] if qualified else WESTERN


def guessed(encoding: str, declared: str = "") -> str:
    """The warning a document carries when its encoding was guessed."""
    if declared:
        return f"declared {declared}, but the bytes are not {declared}; read as {encoding}"
    return f"no character encoding declared; read as {encoding}"


def detect_and_decode(content: bytes) -> tuple[str, str]:
    """The text and the encoding :func:`detect` chose; composed to NFC."""
    encoding = detect(content)
    return unicodedata.normalize("NFC", decode(content, encoding)), encoding


# -- scoring ----------------------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_]+")
_ODD = re.compile("[\ufffd\x80-\x9f\u0300-\u036f]")
_TONES = frozenset("\u0300\u0301\u0303\u0309\u0323")
_ONSET = "(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdđghklmnprstvx])?"
# Rhymes by what may follow the vowels: anything or nothing, a final consonant only,
# nothing (the vowels end in a glide). Longest first, so the regex tries them first.
_FREE = "uyê|oa|oe|uê|uy|uơ|[aeêioôơuưy]"
_CLOSED = "uyê|iê|yê|uô|ươ|oă|uâ|oo|[ăâ]"
_OPEN = (
    "oai|oay|uây|iêu|yêu|ươi|ươu|uôi|uya|uyu|oeo|ai|ao|au|ay|âu|ây|eo|êu|ia|iu|oi|ôi|ơi"
    "|ua|ui|ưa|ưi|ưu"
)
_FINAL = "(?:ng|nh|ch|[cmnpt])"
_SYLLABLE = re.compile(f"{_ONSET}(?:(?:{_CLOSED}){_FINAL}|(?:{_FREE}){_FINAL}?|(?:{_OPEN}))")


@lru_cache(maxsize=8192)
def is_vietnamese_syllable(word: str) -> bool:
    """A syllable of Vietnamese as written: one letter case (or capitalized), a known
    onset and rhyme, at most one tone mark. Not a dictionary: "giaom" fails, "bòn" passes."""
    if not _one_case(word):
        return False
    letters = unicodedata.normalize("NFD", word.lower())
    if sum(ch in _TONES for ch in letters) > 1:
        return False
    base = unicodedata.normalize("NFC", "".join(ch for ch in letters if ch not in _TONES))
    return _SYLLABLE.fullmatch(base) is not None


def score(text: str) -> tuple[int, int, int]:
    """(Vietnamese words with a non-ASCII letter, other non-ASCII words plus signs of a
    misreading, signs of a misreading alone). The signs: replacement characters
    (undefined bytes), C1 controls, combining marks left over after composition (a tone
    byte after a consonant), a word whose letter case changes inside it ("giaÒm")."""
    text = unicodedata.normalize("NFC", text)
    good = bad = 0
    odd = len(_ODD.findall(text))
    for word in _WORD.findall(text):
        if word.isascii():
            continue
        if is_vietnamese_syllable(word):
            good += 1
        else:
            bad += 1
            odd += not _one_case(word)
    return good, bad + odd, odd


def _one_case(word: str) -> bool:
    return word.islower() or word.isupper() or word[1:].islower()
