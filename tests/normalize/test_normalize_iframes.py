"""Embedded frames: removed by default; kept only from the hosts ``[parse] iframe_hosts``
names, with an https address on that host, sandboxed, empty, in one fixed form."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.config import Settings
from aggregator.errors import ConfigError
from aggregator.normalize.sanitize import FRAME_ATTRIBUTES, embeddable, sanitize_html
from aggregator.publish.site import Site
from aggregator.store import open_store
from tests.site_data import feed_body

BASE = "https://blog.example/2026/12/post.html"
TUBE = frozenset({"www.youtube-nocookie.com"})
EMBED = "https://www.youtube-nocookie.com/embed/abc123"


def kept(src: str, extra: str = "") -> str:
    return f'<iframe src="{src}"{extra}{FRAME_ATTRIBUTES}></iframe>'


def test_without_allowed_hosts_every_frame_goes_with_its_content() -> None:
    markup = f'<p>Watch:</p><iframe src="{EMBED}">fallback <b>text</b></iframe><p>End</p>'
    assert sanitize_html(markup, BASE) == "<p>Watch:</p><p>End</p>"


def test_a_frame_of_an_allowed_host_stays_sandboxed_and_empty() -> None:
    markup = (
        f'<p>Watch:</p><iframe width="560" height="315px" src="{EMBED}" style="border:0"'
        ' onload="steal()" sandbox="allow-top-navigation" allow="camera">'
        "<script>alert(1)</script><img src=x onerror=alert(1)></iframe><p>End</p>"
    )
    # The feed's sandbox is replaced by ours; a size that is not digits, the style, the
    # handler and the permissions go; the frame's content goes (raw text that a reader
    # without frames would show as HTML).
    frame = kept(EMBED, ' width="560"')
    assert sanitize_html(markup, BASE, TUBE) == f"<p>Watch:</p>{frame}<p>End</p>"


def test_the_same_markup_always_gives_the_same_frame() -> None:
    # nh3 writes forced attributes in a varying order; an entry whose HTML changed from
    # one poll to the next would be marked updated every time.
    markup = f'<iframe src="{EMBED}" title="Clip" lang="vi" height="9" width="16"></iframe>'
    outputs = {sanitize_html(markup, BASE, TUBE) for _ in range(30)}
    assert outputs == {kept(EMBED, ' width="16" height="9" title="Clip" lang="vi"')}


@pytest.mark.parametrize(
    "src",
    [
        "https://evil.example/embed",  # another host
        "https://www.youtube-nocookie.com.evil.example/embed",  # a suffix
        "https://evil.example/?u=https://www.youtube-nocookie.com/",  # in the query
        "https://evil.example\\@www.youtube-nocookie.com/embed",  # browsers: host evil
        "https://user@www.youtube-nocookie.com/embed",  # user info
        "https://www.youtube-nocookie.com\t.evil.example/",  # white space browsers drop
        "http://www.youtube-nocookie.com/embed/abc123",  # not https
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "embed/abc123",  # relative: resolved by nh3 after the check, never accepted
        "https://www.youtube-nocookie.com%2eevil.example/",
        # Character references are decoded before the check, so they hide nothing.
        "https://evil.example&#92;@www.youtube-nocookie.com/embed",
        "https://www.youtube-nocookie.com&#9;.evil.example/",
        "https://evil.example&#x2F;&#x2F;www.youtube-nocookie.com/",
    ],
)
def test_a_frame_elsewhere_goes(src: str) -> None:
    markup = f'<p>a</p><iframe src="{src}">x</iframe><p>b</p>'
    assert sanitize_html(markup, BASE, TUBE) == "<p>a</p><p>b</p>"
    assert embeddable(src, TUBE) is None


def test_a_protocol_relative_or_capitalized_address_is_read_as_https() -> None:
    assert embeddable("//www.youtube-nocookie.com/embed/x", TUBE) == (
        "https://www.youtube-nocookie.com/embed/x"
    )
    upper = "HTTPS://WWW.YOUTUBE-NOCOOKIE.COM/embed/x"
    assert sanitize_html(f'<iframe src="{upper}"></iframe>', BASE, TUBE) == kept(upper)


def test_frames_among_plain_paragraphs_and_other_markup() -> None:
    plain = "".join(f"<p>Đoạn văn số {n} của bài.</p>" for n in range(40))
    markup = f'<h2>Video</h2><iframe src="{EMBED}"></iframe>{plain}<a href="/more">More</a>'
    assert sanitize_html(markup, BASE, TUBE) == (
        f"<h2>Video</h2>{kept(EMBED)}{plain}"
        '<a href="https://blog.example/more" rel="noopener noreferrer nofollow">More</a>'
    )


def test_iframe_hosts_must_be_host_names(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings('[parse]\niframe_hosts = ["Player.Vimeo.com"]\n')
    assert settings.parse.frame_hosts == {"player.vimeo.com"}
    with pytest.raises(ConfigError, match=r"iframe_hosts\[0\].*not a host name"):
        make_settings('[parse]\niframe_hosts = ["https://player.vimeo.com/"]\n')


def test_an_allowed_embed_reaches_the_published_feed(
    make_settings: Callable[..., Settings], now: datetime, tmp_path: Path
) -> None:
    from aggregator import pipeline

    feed = tmp_path / "blog.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Blog</title>'
        "<link>https://blog.example/</link><item><title>Clip</title>"
        "<link>https://blog.example/clip</link><description>"
        f'&lt;p&gt;Look&lt;/p&gt;&lt;iframe src="{EMBED}"&gt;&lt;/iframe&gt;'
        "</description></item></channel></rss>",
        encoding="utf-8",
    )
    for allowed, expected in ((True, 1), (False, 0)):
        extra = '[parse]\niframe_hosts = ["www.youtube-nocookie.com"]\n' if allowed else ""
        settings = make_settings(
            extra + '[publish]\nbase_url = "https://agg.example"\n',
            database_url=f"sqlite:///{tmp_path / f'{allowed}.db'}",
        )
        store = open_store(settings.storage.url)
        try:
            pipeline.ingest_paths(store, settings, [feed], now=now)
            (entry,) = store.list_entries()
            assert entry.content_html.count("<iframe") == expected
            atom = feed_body(Site(store, settings, recheck=0), "/feeds/all.atom")
            assert atom.count(b"&lt;iframe src=") == expected
        finally:
            store.close()


PIECES = st.sampled_from(
    [
        f'<iframe src="{EMBED}">',
        '<iframe src="https://evil.example/">',
        "<iframe src='//www.youtube-nocookie.com/embed/z' width=1>",
        "<iframe>",
        "</iframe>",
        "<IFRAME SRC=https://www.youtube-nocookie.com/embed/q>",
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "<p>",
        "</p>",
        "<p>Plain paragraph.</p>",
        "<table><td>",
        "<!--",
        "-->",
        '"',
        "'",
        ">",
        "<",
        "&lt;iframe&gt;",
        "<svg><iframe src=https://evil.example/></svg>",
        "<noscript><iframe src=https://evil.example/></noscript>",
        "<textarea><iframe src=https://evil.example/></textarea>",
        '<a href="javascript:x">',
        "text",
    ]
)
SETTLED = re.compile(
    r'<iframe src="https://www\.youtube-nocookie\.com/[^"<>]*"(?: [a-z]+="[0-9a-z]*")*'
    + re.escape(FRAME_ATTRIBUTES)
    + "></iframe>",
    re.IGNORECASE,
)


@settings(max_examples=600, deadline=None)
@given(st.lists(PIECES, max_size=12))
def test_whatever_surrounds_them_only_settled_frames_of_allowed_hosts_come_out(
    pieces: list[str],
) -> None:
    out = sanitize_html("".join(pieces), BASE, TUBE)
    assert "<iframe" not in SETTLED.sub("", out).lower(), out
    assert "<script" not in out.lower() and "onerror" not in out.lower(), out
    for frame in SETTLED.findall(out):
        assert "evil.example" not in frame
