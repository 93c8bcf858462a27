"""A plain-text article (as scraped from a news page) into a one-entry document.

Layout of such files: the title on the first line, then the body, with dates inside
the text (``date 2026-02-21``, ``21/02/2026 11:04``) and leftover page noise: video
player remnants (``0:00 / 0:00``), the title repeated, comment-box labels. The
noise rules live in ``_NOISE_RULES``, one pattern per quirk.
"""

from __future__ import annotations

import html
import re
import unicodedata

from aggregator.model import ParsedDocument, ParsedEntry, RawDocument
from aggregator.parse import charset

_NOISE_RULES = (
    r"\d{1,2}:\d{2}(\s*/\s*\d{1,2}:\d{2})?",  # video player clock
    # comment-box labels, with or without a count: "Bình luận (0)", "Bình luận bài viết (3)"
    r"(bình luận( bài viết)?|gửi bình luận|ý kiến của bạn|chia sẻ|comments?)\s*(\(\d+\))?\s*:?",
    # a photo credit on a line of its own: "Ảnh: Trà My", "Photo: Reuters"
    r"(ảnh|nguồn ảnh|photo|photos|image)\s*:\s*\S.{0,60}",
)
# The heading of a list of other articles; the short headline lines after it go too.
_TEASER_RULE = (
    r"(tin liên quan|tin cùng chuyên mục|bài liên quan|xem thêm|đọc thêm|related"
    r"( stories| articles)?|more stories|read more)\s*:?"
)
TEASER_HEADING = re.compile(f"^{_TEASER_RULE}$", re.I)
_ANY_NOISE = "|".join(f"(?:{rule})" for rule in (*_NOISE_RULES, _TEASER_RULE))
NOISE_LINE = re.compile(f"^(?:{_ANY_NOISE})$", re.I)
# No rule matches a longer line: longer lines skip the regex.
_NOISE_MAX_CHARS = 100
# A noise block inside markup: the whole text between two tags is one rule's match. The
# literal ">" start lets the regex engine jump from tag end to tag end, and the lookahead
# (every rule's possible first characters) rejects most tag ends before the alternation
# is tried: over feed bodies that halves the cost of the check. Keep it in step with the
# rules (tests/parse/test_parse_pages.py checks a line of each rule in markup).
_NOISE_FIRST_CHARS = r"[\dbgýcảnpitxđrm]"
_NOISE_IN_MARKUP = re.compile(rf">(?=\s*{_NOISE_FIRST_CHARS})\s*(?:{_ANY_NOISE})\s*<", re.I)
HEADLINE_LENGTH = 120
DATE_LINE = re.compile(r"^date\s+(\S+)$", re.I)
# First date-like run inside the text: 21/02/2026 11:04, 21-2-2026, 2026-02-21T11:04.
# A day-first date keeps its zone when the page states one ("10:45 (GMT+7)"): without
# it the time would be read as UTC, seven hours off for Vietnamese pages.
DATE_IN_TEXT = re.compile(
    r"\b(\d{1,2}[/-]\d{1,2}[/-]\d{4}(?:,?\s+(?:lúc\s+)?\d{1,2}[:h]\d{2})?"
    r"(?:\s*\(?(?:GMT|UTC)\s*[+-]\d{1,2}(?::?\d{2})?\)?)?"
    r"|\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?)?)(?!\w)"
)


def decode_text(content: bytes) -> str:
    """The text of a file, composed to NFC; see :func:`decode_text_as`."""
    return decode_text_as(content)[0]


def decode_text_as(content: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8 (with or without BOM), else the encoding
    :func:`aggregator.parse.charset.detect` guesses (windows-1258, VISCII, windows-1252,
    UTF-16). Composed to NFC: windows-1258 spells most tones as combining marks, and the
    noise rules and the title comparison below are written in precomposed letters."""
    try:
        # ASCII in UTF-16 is valid UTF-8 with NULs in between: rule that out first.
        if charset.utf16_without_bom(content):
            raise UnicodeDecodeError("utf-8", content, 0, 1, "UTF-16 without a BOM")
        decoded, encoding = content.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        decoded, encoding = charset.detect_and_decode(content)
    return unicodedata.normalize("NFC", decoded), encoding


def is_noise_line(line: str) -> bool:
    line = line.strip()
    return len(line) <= _NOISE_MAX_CHARS and NOISE_LINE.match(line) is not None


def has_noise_block(markup: str) -> bool:
    """Whether some element of ``markup`` may hold nothing but page noise.

    A quick test on serialized HTML (one regex, no parse): the text between a ">" and
    the next "<" that matches a rule. It may say yes to a block the parse-based
    removal then keeps, never no to one it would remove, bar words spelled with
    entities (``Bình&nbsp;luận``).
    """
    return _NOISE_IN_MARKUP.search(markup) is not None


# A news lead's dateline: the outlet in brackets, then a dash ("(Ngày Nay) - ...",
# "(Reuters) – ...").
DATELINE = re.compile(r"^\([^()]{2,40}\)\s*[-–—]\s*\S")
# The longest line a teaser item has before its lead: a headline, or a picture's caption.
_TEASER_LINE = 250


def without_teaser_tail(body: list[str]) -> list[str]:
    """``body`` without the list of other articles a scraped page ends with when the
    list has no heading: after the article's own dateline lead, items of one or two
    short lines (a headline, often repeated as the picture's caption) each followed by
    a lead with a dateline, to the end of the text. At least two such items, and nothing
    else after them: a dateline paragraph inside an article keeps its place."""
    datelines = [i for i, line in enumerate(body) if DATELINE.match(line)]
    end, items = len(body), 0
    for k in range(len(datelines) - 1, 0, -1):
        lead = datelines[k]
        if lead != end - 1:
            break
        since = body[datelines[k - 1] + 1 : lead]  # the lines since the dateline before
        if k > 1 and 1 <= len(since) <= 2 and all(map(_teaser_line, since)):
            end = lead - len(since)  # an item between two others
        else:  # the first item: the article's last paragraph comes before its headline
            heading = _first_item_lines(since)
            if not heading:
                break
            end = lead - heading
        items += 1
    return body[:end] if items >= 2 else body


def _first_item_lines(since: list[str]) -> int:
    """How many of the lines before the first item's lead are its own: the headline,
    and the line before it when that repeats it or is a headline too (not a sentence,
    as the article's last paragraph is)."""
    if not since or not _teaser_line(since[-1]):
        return 0
    if len(since) >= 2 and _teaser_line(since[-2]):
        if since[-2] == since[-1] or is_headline_like(since[-2]):
            return 2
    return 1


def _teaser_line(line: str) -> bool:
    return len(line) <= _TEASER_LINE and not DATELINE.match(line)


def is_headline_like(line: str) -> bool:
    """A teaser: short, and not a sentence (no full stop at the end)."""
    line = line.strip()
    return 0 < len(line) <= HEADLINE_LENGTH and not line.endswith((".", "!", "?", "…", ":"))


def parse_text_article(raw: RawDocument) -> ParsedDocument:
    text, encoding = decode_text_as(raw.content)
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    title = lines[0] if lines else ""
    published = ""
    body: list[str] = []
    in_teasers = False
    for line in lines[1:]:
        stamp = DATE_LINE.match(line)
        if in_teasers and is_headline_like(line):
            continue  # a headline of the teaser list
        in_teasers = TEASER_HEADING.match(line) is not None
        if stamp and not published:
            published = stamp.group(1)
        elif line != title and not is_noise_line(line):
            body.append(line)
    body = without_teaser_tail(body)
    if not published:
        found = DATE_IN_TEXT.search("\n".join(body))
        published = found.group(1) if found else ""
    content = "".join(f"<p>{html.escape(line)}</p>" for line in body)
    entry = ParsedEntry(
        guid=raw.url,
        link=raw.url,
        title=title,
        content_html=content,
        published_text=published,
        base_url=raw.url,
    )
    # A text file declares nothing: anything but UTF-8 was a guess, and says so.
    warnings = () if encoding == "utf-8" else (charset.guessed(encoding),)
    return ParsedDocument(
        format="text", title=title, entries=(entry,), encoding=encoding, warnings=warnings
    )
