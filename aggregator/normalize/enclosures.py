"""An entry's enclosures made safe to publish: absolute http(s) URLs, MIME types, bounded.

The same rule as for entry links (:func:`canonical_url`): a ``javascript:``, ``data:``
or ``file:`` enclosure would reach readers' podcast clients and email as a link, so only
http and https stay (and not mailto, which names no file). A feed cannot make an entry
carry hundreds of them: the first ``MAX_ENCLOSURES`` distinct ones are kept.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

from aggregator.model import Enclosure
from aggregator.normalize.urls import canonical_url

MAX_ENCLOSURES = 10
# How many listings are read to find them: a feed repeating one file thousands of times
# costs no more than this.
_READ = 4 * MAX_ENCLOSURES
# type/subtype as RFC 6838 spells them (restricted names), lower-cased, without parameters.
_MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


def clean_enclosures(found: Iterable[Enclosure], base: str) -> tuple[Enclosure, ...]:
    """``found`` (as the format gave them) resolved against ``base`` and checked; those
    without a safe URL are dropped. A file listed twice (an enclosure and its Media RSS
    twin, or two spellings of one URL) is kept once, in its first place, with the type
    and length whichever listing gave them."""
    kept: dict[str, Enclosure] = {}
    for item in itertools.islice(found, _READ):
        url = canonical_url(item.url, base)
        if not url.startswith(("http://", "https://")):
            continue
        type_, length = mime_type(item.type), item.length
        first = kept.get(url)
        if first is not None:
            type_, length = first.type or type_, first.length or length
        elif len(kept) == MAX_ENCLOSURES:
            continue
        kept[url] = Enclosure(url=url, type=type_, length=length)
    return tuple(kept.values())


def mime_type(value: str) -> str:
    """``value``'s type/subtype in lower case, or "" when it is not one."""
    essence = value.split(";", 1)[0].strip().lower()
    return essence if _MIME.fullmatch(essence) else ""
