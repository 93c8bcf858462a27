"""Every Atom document the site serves is valid by RFC 4287, checked offline by
``atom_validator`` (grammar + rules); and the validator catches each kind of error."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lxml import etree

from aggregator.config import Settings
from aggregator.publish.site import Site
from tests.publish.atom_validator import ATOM, problems
from tests.site_data import feed_body as served

BASE = "https://agg.example"


def test_every_atom_document_of_the_site_is_valid(site: Site) -> None:
    paths = [p for p in site.feed_paths() if p.endswith(".atom")]
    # The main feed and its pages, a tag feed, the stories feed and a digest feed at least.
    assert {"/feeds/all.atom", "/feeds/stories.atom", "/digests/daily.atom"} <= set(paths)
    assert any(p.startswith("/feeds/tag/") for p in paths)
    assert any("/page/" in p for p in paths)
    for path in paths:
        assert problems(served(site, path), url=BASE + path) == [], path


def test_an_empty_site_serves_valid_atom(make_settings: Callable[..., Settings]) -> None:
    from aggregator.store import open_store

    settings = make_settings('[publish]\nbase_url = "https://agg.example"\n')
    empty = Site(open_store(settings.storage.url), settings, recheck=0)
    for path in ("/feeds/all.atom", "/feeds/stories.atom"):
        assert problems(served(empty, path), url=BASE + path) == [], path


def mutated(document: bytes, change: Callable[[etree._Element], None]) -> bytes:
    root = etree.fromstring(document)
    change(root)
    return etree.tostring(root)


def first_entry(root: etree._Element) -> etree._Element:
    entry = root.find(ATOM + "entry")
    assert entry is not None
    return entry


def atom(name: str, text: str = "", **attributes: str) -> etree._Element:
    element = etree.Element(ATOM + name, attributes)
    element.text = text or None
    return element


def _drop(root: etree._Element, path: str) -> None:
    found = root.find(path)
    assert found is not None, path
    found.getparent().remove(found)  # type: ignore[union-attr]


def _set_text(path: str, value: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        found = root.find(path)
        assert found is not None, path
        found.text = value

    return change


def _duplicate_entry(root: etree._Element) -> None:
    root.append(etree.fromstring(etree.tostring(first_entry(root))))


def _no_authors(root: etree._Element) -> None:
    for author in list(root.iter(ATOM + "author")):
        author.getparent().remove(author)  # type: ignore[union-attr]


def _second_alternate(root: etree._Element) -> None:
    entry = first_entry(root)
    (alternate,) = [x for x in entry.findall(ATOM + "link") if x.get("rel") == "alternate"]
    copy = atom("link", href="https://x.example/2", rel="alternate")
    for name in ("type", "hreflang"):
        if alternate.get(name) is not None:
            copy.set(name, alternate.get(name, ""))
    entry.append(copy)


def _out_of_line_content(root: etree._Element) -> None:
    entry = first_entry(root)
    for old in entry.findall(ATOM + "content") + entry.findall(ATOM + "summary"):
        entry.remove(old)
    entry.append(atom("content", type="video/mp4", src="https://agg.example/v.mp4"))


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda r: _drop(r, ATOM + "id"), "id"),
        (_set_text(ATOM + "updated", "2026-11-23 10:00:00"), "RFC 3339"),
        (_set_text(f"{ATOM}entry/{ATOM}id", "not an iri"), "absolute IRI"),
        (_set_text(f"{ATOM}entry/{ATOM}id", "tag:agg.example:no-date"), "tag URI"),
        (_duplicate_entry, "appears 2 times"),
        (lambda r: first_entry(r).append(atom("link", href="/relative")), "relative"),
        (_second_alternate, "two alternate links"),
        (
            lambda r: first_entry(r).append(atom("summary", "<script>x()</script>", type="html")),
            "active markup",
        ),
        (
            lambda r: first_entry(r).set(
                "{http://www.w3.org/XML/1998/namespace}lang", "tiếng việt"
            ),
            "language tag",
        ),
        (_no_authors, "no author"),
        (_out_of_line_content, "needs atom:summary"),
        (lambda r: r.append(atom("colour", "blue")), "colour"),
        (lambda r: _drop(r, f"{ATOM}link[@rel='self']"), "self"),
    ],
    ids=[
        "no-feed-id",
        "bad-date",
        "relative-id",
        "malformed-tag-uri",
        "duplicate-ids",
        "relative-link",
        "two-alternates",
        "script-in-html",
        "bad-language",
        "no-author",
        "out-of-line-content",
        "unknown-atom-element",
        "no-self-link",
    ],
)
def test_the_validator_catches_each_kind_of_error(
    site: Site, change: Callable[[etree._Element], None], complaint: str
) -> None:
    document = served(site, "/feeds/all.atom")
    assert problems(document, url=BASE + "/feeds/all.atom") == []
    found = problems(mutated(document, change), url=BASE + "/feeds/all.atom")
    assert any(complaint in problem for problem in found), found


def test_a_self_link_elsewhere_than_the_feeds_address_is_reported(site: Site) -> None:
    found = problems(served(site, "/feeds/all.atom"), url=BASE + "/feeds/other.atom")
    assert found and "self link" in found[0]
