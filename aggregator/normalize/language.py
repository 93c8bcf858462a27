"""The language of an entry: the feed's own declaration, else a cheap guess.

The guess only separates Vietnamese (letters such as ă, ơ, ư, đ and stacked tone
marks that no other Latin-script language uses together) from English; a proper
detector is later work.
"""

from __future__ import annotations

import re

_VIETNAMESE = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.IGNORECASE)
_LATIN = re.compile(r"[a-z]", re.IGNORECASE)


_SUBTAG = re.compile(r"[a-z]{2,8}")


def primary_subtag(tag: str) -> str:
    """``vi-VN`` -> ``vi``; ``en_US`` -> ``en``; "" for anything that is not a language tag."""
    subtag = tag.strip().replace("_", "-").split("-")[0].lower()
    return subtag if _SUBTAG.fullmatch(subtag) else ""


def detect_language(text: str, declared: str = "") -> str:
    if primary_subtag(declared):
        return primary_subtag(declared)
    sample = text[:2000]
    if len(_VIETNAMESE.findall(sample)) >= 3:
        return "vi"
    if len(_LATIN.findall(sample)) >= 20:
        return "en"
    return ""
