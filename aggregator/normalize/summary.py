"""A short extractive summary: the first sentences of the text, cut at a word."""

from __future__ import annotations

import itertools
import re

# A sentence ends at . ! ? or … followed by a space and an upper-case letter or digit,
# which keeps "TP.HCM" and "3.5" inside their sentence. A closing quote or bracket after
# the stop stays with its sentence: only the spaces (group 1) are the separator. The
# match starts at the stop, not at the spaces: the regex engine then skips ahead to the
# next stop instead of trying a look-behind at every character.
_SENTENCE_END = re.compile(r"[.!?…][\"”»)]?(\s+)(?=[\"“«(]?[0-9A-ZÀ-Ỹ])")


def summarize(text: str, *, sentences: int = 2, max_chars: int = 320) -> str:
    first_paragraph_text = " ".join(text.split("\n\n")[:3]).strip()
    summary = " ".join(_first_sentences(first_paragraph_text, sentences)).strip()
    if len(summary) <= max_chars:
        return summary
    cut = summary[: max_chars - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


def _first_sentences(text: str, count: int) -> list[str]:
    """The first ``count`` sentences (fewer when the text has fewer); only those are
    split off, not the rest."""
    parts, start = [], 0
    for end in itertools.islice(_SENTENCE_END.finditer(text), count):
        parts.append(text[start : end.start(1)])
        start = end.end(1)
    parts.append(text[start:])
    return parts[:count]
