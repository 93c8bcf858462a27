"""Scraped-page leftovers in entry HTML: player clocks, comment-box labels, photo-credit
lines, and teaser lists of other articles (a "Tin liên quan:" heading and the list after
it). The rules are the text articles' (``aggregator.parse.text``), applied to HTML blocks.

Runs before the sanitizer, like every step that rewrites HTML. It parses the markup,
so normalization calls it only for entries whose text shows a noise line.
"""

from __future__ import annotations

import lxml.etree
import lxml.html

from aggregator.parse.text import TEASER_HEADING, is_noise_line

_BLOCKS = ("p", "div", "li", "span", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b")
_LISTS = ("ul", "ol")


def strip_page_noise(markup: str) -> str:
    if not markup:
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
