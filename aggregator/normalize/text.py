"""Clean Unicode text: NFC, no zero-width characters, one space between words.

Vietnamese arrives both precomposed and decomposed (a vowel plus combining tone
marks); NFC makes the two spellings of one title compare equal.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser

import lxml.etree
import lxml.html

_SPACES = re.compile(r"\s+")
# Lone surrogates (JSON "\\ud800", broken decoders) cannot be stored or encoded.
_SURROGATES = re.compile("[\ud800-\udfff]")
# C0 controls XML forbids, and invisible characters (zero-width, BOM, soft hyphen).
# A compiled class, not str.translate with a dict: that looks every character up in Python.
_DROPPED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u200c\u200d\u2060\ufeff\u00ad]")
# Either of the two: one scan finds out whether there is anything to do (usually not).
# One character class, not an alternation of two: the scan runs over every entry's HTML.
_SCRUBBED = re.compile(f"[{_SURROGATES.pattern[1:-1]}{_DROPPED.pattern[1:-1]}]")
_SKIPPED = frozenset({"script", "style", "template"})
_BLOCKS = frozenset(
    "p div br li ul ol h1 h2 h3 h4 h5 h6 blockquote figure figcaption pre tr table section "
    "article header footer main hr dd dt td th caption".split()
)


def clean_text(value: str) -> str:
    """One line of text: NFC, invisible characters dropped, whitespace collapsed."""
    if not value:
        return value
    # What _SPACES.sub(" ", ...).strip() gives (str.split and the regex's \s take the
    # same white space, tests/normalize/test_normalize_text_and_dates.py), without a
    # regex match per space: titles, authors and tags are read for every entry.
    return " ".join(clean_html_text(value).split())


def clean_html_text(value: str) -> str:
    """NFC and no invisible characters, keeping the markup as it is."""
    return unicodedata.normalize("NFC", scrub_characters(value))


def scrub_characters(value: str) -> str:
    """No lone surrogates (U+FFFD instead) and no control characters XML forbids.

    What leaves normalize must be storable (PostgreSQL refuses NUL) and publishable
    (XML 1.0 forbids C0 controls but tab and newlines)."""
    if not _SCRUBBED.search(value):
        return value
    return _DROPPED.sub("", _SURROGATES.sub("\ufffd", value))


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Readable plain text of an HTML fragment; paragraphs separated by blank lines."""
    if "<" not in markup:
        return clean_text(html.unescape(markup))
    markup = scrub_characters(markup)
    parts = _text_parts_lxml(markup)
    if parts is None:  # markup lxml refuses: the slower, endlessly tolerant stdlib parser
        extractor = _TextExtractor()
        extractor.feed(markup)
        extractor.close()
        parts = extractor.parts
    # Clean once (entities were just decoded), then collapse spaces block by block.
    text = clean_html_text("".join(parts))
    blocks = (_SPACES.sub(" ", block).strip() for block in text.split("\n"))
    return "\n\n".join(block for block in blocks if block)


# In our sanitizer's output every "<" starts a tag and every ">" inside a tag is escaped.
_ANY_TAG = re.compile(r"<[^>]*>")
_BLOCK_TAG = re.compile(rf"</?(?:{'|'.join(sorted(_BLOCKS))})(?=[\s/>])[^>]*>")
_BLOCK_BREAK = "\x00"  # scrubbed from every text, so free to mark block boundaries
# Every character str.split() and str.isspace() take for white space, but the space
# (tests/normalize/test_normalize_text_and_dates.py checks the list against Python's).
OTHER_WHITE_SPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_OTHER_WHITE_SPACE = re.compile(f"[{OTHER_WHITE_SPACE}]")


def sanitized_html_to_text(markup: str) -> str:
    """:func:`html_to_text` for the sanitizer's own output, with regexes, not a parser.

    Only for ``sanitize_html`` output: there, no comment, script or stray "<" is left and
    attributes are quoted with ">" escaped, so a tag is exactly ``<[^>]*>``. About ten
    times cheaper than a parse; the hot path of normalization.
    """
    text = html.unescape(_ANY_TAG.sub("", _BLOCK_TAG.sub(_BLOCK_BREAK, markup)))
    blocks: Iterable[str]
    if "  " not in text and not _OTHER_WHITE_SPACE.search(text):
        # Single spaces only (most entries): a block's words are the block without the
        # spaces at its edges, all removed by a few passes in C; blank blocks end empty.
        text = text.strip(" ").replace(" \x00", _BLOCK_BREAK).replace("\x00 ", _BLOCK_BREAK)
        blocks = filter(None, text.split(_BLOCK_BREAK))
    else:
        # str.split() collapses white space in C, where a regex would match every
        # space. Most blocks are empty or blank (between "</p>" and "<p>"): skipped
        # before any splitting (isspace() and split() agree on what white space is).
        blocks = [
            " ".join(block.split())
            for block in text.split(_BLOCK_BREAK)
            if block and not block.isspace()
        ]
    return unicodedata.normalize("NFC", "\n\n".join(blocks))


def sanitized_html_blocks(markup: str) -> Iterator[str]:
    """The paragraphs of :func:`sanitized_html_to_text`, read only as far as they are asked.

    ``"\\n\\n".join(sanitized_html_blocks(m)) == sanitized_html_to_text(m)``, block by
    block: the same tags make the breaks, the same entities are decoded, the same white
    space collapsed, and composing (NFC) does not reach across the newlines between
    blocks. A summary reads the first paragraphs only, while the text of a whole head
    costs as much again as the rest of the entry. Should a tag straddle a block tag (a
    "<" in an attribute value), the rest is read as the whole-text function reads it.
    """
    start = 0
    for tag in _BLOCK_TAG.finditer(markup):
        chunk = markup[start : tag.start()]
        if chunk.rfind("<") > chunk.rfind(">"):
            break  # a tag left open: it would swallow this block tag
        if block := _block_text(chunk):
            yield block
        start = tag.end()
    else:
        chunk = markup[start:]
        if chunk.rfind("<") <= chunk.rfind(">"):
            if block := _block_text(chunk):
                yield block
            return
    if rest := sanitized_html_to_text(markup[start:]):
        yield from rest.split("\n\n")


def _block_text(chunk: str) -> str:
    """One block of :func:`sanitized_html_to_text`: no tags, entities decoded, white
    space collapsed, composed."""
    if "<" in chunk:
        chunk = _ANY_TAG.sub("", chunk)
    if "&" in chunk:
        chunk = html.unescape(chunk)
    return unicodedata.normalize("NFC", " ".join(chunk.split()))


def _text_parts_lxml(markup: str) -> list[str] | None:
    """Text runs of ``markup`` with a newline around every block element, or None."""
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return None
    parts: list[str] = []
    skipping = 0
    events = ("start", "end", "comment", "pi")
    for event, element in lxml.etree.iterwalk(root, events=events):
        if event in ("comment", "pi"):  # no text of its own, but the text after it counts
            if element.tail and not skipping:
                parts.append(element.tail)
            continue
        tag = element.tag
        if event == "start":
            if tag in _SKIPPED:
                skipping += 1
            elif tag in _BLOCKS:
                parts.append("\n")
            if not skipping and element.text:
                parts.append(element.text)
        else:
            if tag in _SKIPPED:
                skipping -= 1
            elif tag in _BLOCKS:
                parts.append("\n")
            if element is not root and element.tail and not skipping:
                parts.append(element.tail)
    return parts
