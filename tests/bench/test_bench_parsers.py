"""Behavioural tests of ``bench/parsers.py``'s inputs (mutations, headers, comparison).

Nothing here is timed, downloads anything or needs fastfeedparser.
"""

from __future__ import annotations

import lxml.etree as etree

from bench import parsers
from bench.parsers import (
    KEEPS_TITLES,
    MUTATIONS,
    clean,
    header_content_type,
    mutated_documents,
    mutation_bases,
)

WELL_FORMED_MUTATIONS = {"raw HTML in description", "CDATA mixed with text", "missing channel"}


def test_bases_are_one_vietnamese_and_one_english_feed_per_xml_format() -> None:
    assert sorted(mutation_bases()) == [
        "atom-en",
        "atom-vi",
        "rss1-en",
        "rss1-vi",
        "rss2-en",
        "rss2-vi",
    ]


def test_mutations_are_deterministic_and_change_every_base() -> None:
    first, second = mutated_documents(), mutated_documents()
    assert [d.content for d in first.docs] == [d.content for d in second.docs]
    bases = mutation_bases()
    assert len(first.docs) == len(bases) * len(MUTATIONS)
    for kind, base in bases.items():
        for name, mutate in MUTATIONS.items():
            if name == "UTF-8 declared, windows-1258 bytes" and base.isascii():
                assert mutate(base) == base  # the English feeds are ASCII: nothing to re-encode
                continue
            assert mutate(base) != base, (kind, name)


def test_ill_formed_mutations_are_refused_by_strict_lxml() -> None:
    """What the mutations are for: the fast path's strict parser refuses them (fallback)."""
    refused_somewhere = set()
    for base in mutation_bases().values():
        for name, mutate in MUTATIONS.items():
            try:
                etree.fromstring(mutate(base), parser=parsers.fast._parser())
            except etree.XMLSyntaxError:
                refused_somewhere.add(name)
    expected = (
        set(MUTATIONS)
        - WELL_FORMED_MUTATIONS
        - {
            "uppercase root",
            "foreign root namespace",
            "latin-1 declared, UTF-8 bytes",
            "UTF-8 declared, windows-1258 bytes",
        }
    )
    assert expected <= refused_somewhere


def test_source_titles_are_known_only_for_mutations_that_keep_them() -> None:
    mutated = mutated_documents()
    for doc in mutated.docs:
        keeps = mutated.mutation[doc.url] in KEEPS_TITLES
        assert (doc.url in mutated.source_titles) == keeps
        if keeps:
            assert len(mutated.source_titles[doc.url]) == 5


def test_header_content_type_reads_feedparser_test_headers() -> None:
    content = b"<!--\nHeader:   Content-type: application/xml; charset=koi8-r\n-->\n<rss/>"
    assert header_content_type(content) == "application/xml; charset=koi8-r"
    assert header_content_type(b"<rss/>") == ""


def test_titles_compare_after_nfc_and_whitespace_collapse() -> None:
    assert clean("  Vie\u0323\u0302t\n Nam ") == clean("Việt Nam")
    assert clean(None) == ""
