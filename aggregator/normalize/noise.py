"""Scraped-page leftovers in entry HTML: player clocks, comment-box labels, photo-credit
lines, and teaser lists of other articles (a "Tin liên quan:" heading and the list after
it). The rules are the text articles' (``aggregator.parse.text``), applied to HTML blocks.

Runs before the sanitizer, like every step that rewrites HTML.
"""

from __future__ import annotations

import re

import lxml.etree
import lxml.html

from aggregator.parse.text import TEASER_HEADING, is_noise_line

_BLOCKS = ("p", "div", "li", "span", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b")
_LISTS = ("ul", "ol")
# Cheap test on the raw markup first: most entries carry no noise and are not re-serialized.
_HINTS = re.compile(
    r"\d:\d\d|bình luận|ý kiến|chia sẻ|comment|liên quan|chuyên mục|xem thêm|đọc thêm"
    r"|related|more stories|read more|ảnh\s*:|photo|image\s*:",
    re.IGNORECASE,
)


def strip_page_noise(markup: str) -> str:
    if not markup or not _HINTS.search(markup):
        return markup
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return markup
    changed = False
    for element in list(root.iter(*_BLOCKS)):
        if element.getparent() is None or len(element):  # removed already, or has children
            continue
        text = element.text_content().strip()
        if not is_noise_line(text):
            continue
        if TEASER_HEADING.match(text):
            following = element.getnext()
            if following is not None and following.tag in _LISTS:
                following.drop_tree()
        element.drop_tree()
        changed = True
    if not changed:
        return markup
    inner = (root.text or "") + "".join(
        lxml.html.tostring(child, encoding="unicode") for child in root
    )
    return inner.strip()
