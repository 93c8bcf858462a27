"""A short extractive summary: the first sentences of the text, cut at a word."""

from __future__ import annotations

import re

# A sentence ends at . ! ? or … followed by a space and an upper-case letter or digit,
# which keeps "TP.HCM" and "3.5" inside their sentence. A closing quote or bracket after
# the stop stays with its sentence: only the spaces are the separator.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"”»)]))\s+(?=[\"“«(]?[0-9A-ZÀ-Ỹ])")


def summarize(text: str, *, sentences: int = 2, max_chars: int = 320) -> str:
    first_paragraph_text = " ".join(text.split("\n\n")[:3])
    # Only the first sentences are kept: no need to split the rest.
    parts = _SENTENCE_END.split(first_paragraph_text.strip(), maxsplit=sentences)
    summary = " ".join(parts[:sentences]).strip()
    if len(summary) <= max_chars:
        return summary
    cut = summary[: max_chars - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"
