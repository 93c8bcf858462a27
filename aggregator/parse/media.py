"""Enclosures as each format writes them: the files an entry carries (podcast audio,
video, pictures), read into :class:`Enclosure` values for ``normalize`` to check.

RSS 2.0 ``<enclosure url length type>`` and Atom ``<link rel="enclosure" href length
type>`` name a file whatever its type. Media RSS ``<media:content url type fileSize
medium>`` (alone or in a ``<media:group>``) is also used for players and embeds
(YouTube's feeds name a Flash player there): only pictures, audio and video count.
"""

from __future__ import annotations

from aggregator.model import Enclosure

MEDIA = "http://search.yahoo.com/mrss/"
_MEDIUMS = frozenset({"image", "audio", "video"})
# A length beyond any real file (and any database integer) is no length.
_MAX_LENGTH = 2**53


def enclosure(url: object, type_: object = "", length: object = "") -> Enclosure | None:
    """An enclosure from a format's raw values; None without a URL. A length that is
    not a positive whole number of bytes (often "0" or "" for unknown) is None."""
    if not isinstance(url, str) or not url.strip():
        return None
    return Enclosure(
        url=url.strip(),
        type=type_.strip() if isinstance(type_, str) else "",
        length=_length(length),
    )


def media_content(
    url: object, type_: object = "", size: object = "", medium: object = ""
) -> Enclosure | None:
    """A Media RSS ``media:content`` as an enclosure, when it is a picture, audio or video."""
    kind = type_.split("/", 1)[0].strip().lower() if isinstance(type_, str) else ""
    said = medium.strip().lower() if isinstance(medium, str) else ""
    if kind not in _MEDIUMS and said not in _MEDIUMS:
        return None
    return enclosure(url, type_, size)


def _length(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():  # JSON: 1.2e6 is a whole number
        number = int(value)
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    else:
        return None
    return number if 0 < number < _MAX_LENGTH else None
