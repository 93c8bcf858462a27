"""Canonical URLs: the same article under tracking parameters, case and fragments is one URL."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.normalize import urls
from aggregator.normalize.urls import canonical_url, is_safe_url, is_tracking_param
from tests.bundled import (
    BUNDLED_FEEDS,
    FEEDS,
    entries_of,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "https://a.example/p?utm_source=rss&utm_medium=feed&utm_campaign=x",
            "https://a.example/p",
            id="utm-only",
        ),
        pytest.param(
            "https://a.example/p?id=3&utm_source=rss&b=2&UTM_Medium=feed",
            "https://a.example/p?id=3&b=2",
            id="utm-any-case-others-kept-in-order",
        ),
        pytest.param(
            "https://a.example/p?utm_source=facebook&fbclid=IwAR0xq7",
            "https://a.example/p",
            id="fbclid",
        ),
        pytest.param(
            "https://a.example/p?gclid=Cj0K&z=1&a=2", "https://a.example/p?z=1&a=2", id="gc"
        ),
        pytest.param("https://a.example/p?b=2&a=1", "https://a.example/p?b=2&a=1", id="order-kept"),
        pytest.param("https://a.example/p?q=", "https://a.example/p?q=", id="blank-value-kept"),
        pytest.param(
            "https://A.Example.COM/Path/X", "https://a.example.com/Path/X", id="host-case"
        ),
        pytest.param("HTTPS://a.example/p", "https://a.example/p", id="scheme-case"),
        pytest.param("https://a.example./p", "https://a.example/p", id="trailing-dot"),
        pytest.param("https://a.example/p#comments", "https://a.example/p", id="fragment"),
        pytest.param("http://a.example:80/p", "http://a.example/p", id="http-default-port"),
        pytest.param("https://a.example:443/p", "https://a.example/p", id="https-default-port"),
        pytest.param("https://a.example:8443/p", "https://a.example:8443/p", id="other-port-kept"),
        pytest.param("http://a.example:443/p", "http://a.example:443/p", id="port-per-scheme"),
        pytest.param("https://a.example", "https://a.example/", id="empty-path"),
        pytest.param(
            "http://[2001:db8::1]:8080/p", "http://[2001:db8::1]:8080/p", id="ipv6-literal"
        ),
        pytest.param("  https://a.example/p  ", "https://a.example/p", id="whitespace"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize("url", ["//[", "//[]", "//[::1", "http://[/p"])
def test_malformed_ipv6_reference_is_no_link(url: str) -> None:
    # Found by hypothesis: urljoin raises on these instead of returning a URL.
    assert canonical_url(url, "https://feeds.example/x") == ""


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("../b?x=1", "https://a.example/a/c/d.html", "https://a.example/a/b?x=1"),
        ("/root", "https://a.example/a/c/d.html", "https://a.example/root"),
        ("sibling.html", "https://a.example/a/c/d.html", "https://a.example/a/c/sibling.html"),
        ("//cdn.example/x", "https://a.example/", "https://cdn.example/x"),
        ("?page=2", "https://a.example/list", "https://a.example/list?page=2"),
        ("https://b.example/x", "https://a.example/", "https://b.example/x"),
    ],
)
def test_relative_urls_resolve_against_the_base(url: str, base: str, expected: str) -> None:
    assert canonical_url(url, base) == expected


@pytest.mark.parametrize(
    "url",
    [
        "",
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "ftp://a.example/file",
        "https://a.example:99999/p",
    ],
)
def test_unsafe_or_unusable_urls_become_empty(url: str) -> None:
    assert canonical_url(url, "https://a.example/") == ""


def test_mailto_is_kept_as_it_is() -> None:
    assert canonical_url("mailto:desk@a.example") == "mailto:desk@a.example"


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://a.example/", True),
        ("http://a.example/", True),
        ("mailto:x@a.example", True),
        ("  HTTPS://a.example/", True),
        ("javascript:alert(1)", False),
        ("data:image/png;base64,AAAA", False),
        ("file:///etc/passwd", False),
        ("relative/path", False),
        ("//[", False),
    ],
)
def test_is_safe_url(url: str, safe: bool) -> None:
    assert is_safe_url(url) is safe


@pytest.mark.parametrize(
    ("name", "tracking"),
    [
        ("utm_source", True),
        ("UTM_CONTENT", True),
        ("fbclid", True),
        ("gclid", True),
        ("msclkid", True),
        ("id", False),
        ("page", False),
        ("utmost", False),
    ],
)
def test_is_tracking_param(name: str, tracking: bool) -> None:
    assert is_tracking_param(name) is tracking


# --- on the bundled feeds --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "url_part", "expected"),
    [
        (
            "tin-nhanh.xml",
            "gia-xang",
            "https://tin-nhanh.example.vn/kinh-te/gia-xang-ron-95-giam-412-dong-tn2611191.html",
        ),
        (
            "the-lantern.xml",
            "hai-au",
            "https://thelantern.example/business/2026/11/18/hai-au-bac-ninh-plant",
        ),
        (
            "the-lantern.xml",
            "phu-quoc",
            "https://thelantern.example/travel/2026/11/19/phu-quoc-first-cruise-ship",
        ),
        (
            "the-lantern.xml",
            "luang-prabang",
            "https://thelantern.example/travel/2026/11/20/luang-prabang-night-market-hours",
        ),
        (
            "saigon-times-daily.atom",
            "10231",
            "https://saigonnhatbao.example.vn/thoi-su/bao-nakri-ap-sat-mien-trung-so-tan-10231.html",
        ),
        (
            "harbor-tech.json",
            "interconnector",
            "https://harbortech.example.com/p/2026/laos-vietnam-500kv-interconnector",
        ),
    ],
)
def test_bundled_entry_urls_are_canonical(name: str, url_part: str, expected: str) -> None:
    (entry,) = [e for e in entries_of(FEEDS / name) if url_part in e.url]
    assert entry.url == expected


def test_no_bundled_entry_url_keeps_tracking_fragments_or_upper_case_hosts() -> None:
    for name in BUNDLED_FEEDS:
        for entry in entries_of(FEEDS / name):
            assert entry.url.startswith("https://")
            assert "utm_" not in entry.url and "fbclid" not in entry.url
            assert "#" not in entry.url
            host = entry.url.split("/")[2]
            assert host == host.lower()


_QUERY_NAMES = st.sampled_from(["utm_source", "UTM_Medium", "fbclid", "id", "p", "a.b", "x~y", "q"])
_QUERY_VALUES = st.sampled_from(["", "1", "rss", "a-b_c.d~e", "A", "%20", "a+b", "é"])


@given(
    st.sampled_from(["http", "https"]),
    st.sampled_from(["news.example", "a-b.c.example", "x9"]),
    st.sampled_from(["", "/", "/a/b.html", "/tin-tức", "/a b"]),
    st.lists(st.tuples(_QUERY_NAMES, _QUERY_VALUES), max_size=5),
    st.sampled_from(["", "&", "#frag"]),
)
@settings(max_examples=400, deadline=None)
def test_plain_query_shortcut_gives_what_the_full_parse_gives(
    scheme: str, host: str, path: str, pairs: list[tuple[str, str]], tail: str
) -> None:
    query = "&".join(f"{name}={value}" for name, value in pairs)
    url = f"{scheme}://{host}{path}?{query}{tail}"
    assert canonical_url(url) == urls._canonical_parts(url)
