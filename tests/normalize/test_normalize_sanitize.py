"""The HTML sanitizer: hostile markup goes, safe markup stays with absolute URLs."""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.model import Entry
from aggregator.normalize import sanitize
from aggregator.normalize.sanitize import sanitize_html
from aggregator.normalize.text import scrub_characters
from tests.bundled import ARTICLES, FEEDS, by_url_part, entries_of

FIXTURES = Path(__file__).parent / "fixtures"
BASE = "https://news.example/2026/11/story.html"
# An on* attribute inside a tag: onclick=, onerror=, onload= ...
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=")
BUNDLED = [
    FEEDS / "tin-nhanh.xml",
    FEEDS / "saigon-times-daily.atom",
    FEEDS / "mekong-review.rdf",
    FEEDS / "harbor-tech.json",
    FEEDS / "the-lantern.xml",
    ARTICLES / "vi_article_page.html",
    ARTICLES / "vi_scraped_article.txt",
    ARTICLES / "en_plain_article.txt",
    ARTICLES / "windows1258_feed.xml",
    FIXTURES / "atom_xml_base_hostile.atom",
]


def one_entry(path: Path, url_part: str, url: str = "") -> Entry:
    return by_url_part(entries_of(path, url=url), url_part)


# --- handcrafted hostile HTML ----------------------------------------------------------


@pytest.mark.parametrize(
    ("markup", "forbidden", "kept"),
    [
        pytest.param(
            "<p>a<script>alert(1)</script>b</p>", ["<script", "alert"], "<p>ab</p>", id="script"
        ),
        pytest.param(
            '<a href="https://x.example/" onclick="evil()">x</a>',
            ["onclick", "evil"],
            'href="https://x.example/"',
            id="onclick",
        ),
        pytest.param(
            '<p onmouseover="alert(1)">t</p>', ["onmouseover", "alert"], "<p>t</p>", id="on-handler"
        ),
        pytest.param(
            '<a href="javascript:alert(1)">x</a>',
            ["javascript", "alert", "href"],
            ">x</a>",
            id="javascript-href",
        ),
        pytest.param(
            '<a href="&#106;avascript:alert(1)">x</a>',
            ["avascript", "alert", "href"],
            ">x</a>",
            id="entity-obfuscated-javascript",
        ),
        pytest.param(
            '<a href="&#x6A;ava&#x73;cript&#x3A;alert(1)">x</a>',
            ["cript", "href"],
            ">x</a>",
            id="hex-entity-javascript",
        ),
        pytest.param(
            '<a href="&#0000106avascript:alert(1)">x</a>',
            ["avascript", "href"],
            ">x</a>",
            id="padded-entity-no-semicolon",
        ),
        pytest.param(
            '<a href="java&#x09;script:alert(1)">x</a>',
            ["script", "href"],
            ">x</a>",
            id="tab-inside-scheme",
        ),
        pytest.param(
            '<a href=" JaVaScRiPt:alert(1)">x</a>',
            ["cript", "href"],
            ">x</a>",
            id="mixed-case-javascript",
        ),
        pytest.param(
            '<a href="vbscript:msgbox(1)">x</a>', ["vbscript", "href"], ">x</a>", id="vbscript"
        ),
        pytest.param(
            '<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>',
            ["data:", "href"],
            ">x</a>",
            id="data-href",
        ),
        pytest.param(
            '<img src="data:image/svg+xml;base64,PHN2Zz4=" alt="d">',
            ["data:", "src="],
            'alt="d"',
            id="data-img",
        ),
        pytest.param(
            '<iframe src="https://ads.example/"></iframe><p>t</p>',
            ["iframe", "ads."],
            "<p>t</p>",
            id="iframe",
        ),
        pytest.param(
            '<img src="https://i.example/a.jpg" onerror="alert(1)">',
            ["onerror", "alert"],
            'src="https://i.example/a.jpg"',
            id="img-onerror",
        ),
        pytest.param(
            '<p style="width: expression(alert(1)); color: red">t</p>',
            ["style", "expression"],
            "<p>t</p>",
            id="style-expression",
        ),
        pytest.param(
            "<style>p { color: red }</style><p>t</p>",
            ["<style", "color"],
            "<p>t</p>",
            id="style-element",
        ),
        pytest.param(
            '<svg onload="alert(1)"><circle r="1"/></svg><p>t</p>',
            ["svg", "onload", "circle"],
            "<p>t</p>",
            id="svg",
        ),
        pytest.param(
            '<math><mi xlink:href="javascript:alert(1)">m</mi></math><p>t</p>',
            ["math", "javascript"],
            "<p>t</p>",
            id="mathml",
        ),
        pytest.param(
            '<form action="https://evil.example/"><input name="pw"><button>Go</button></form>',
            ["<form", "<input", "<button", "evil."],
            "Go",
            id="form",
        ),
        pytest.param(
            '<object data="https://e.example/x.swf"></object><embed src="x.swf"><p>t</p>',
            ["object", "embed", "swf"],
            "<p>t</p>",
            id="object-embed",
        ),
        pytest.param(
            '<meta http-equiv="refresh" content="0;url=https://evil.example/"><p>t</p>',
            ["meta", "refresh"],
            "<p>t</p>",
            id="meta-refresh",
        ),
        pytest.param(
            '<base href="https://evil.example/"><a href="x">x</a>',
            ["evil.", "<base"],
            'href="https://news.example/2026/11/x"',
            id="base-ignored",
        ),
        pytest.param(
            '<blockquote cite="javascript:alert(1)">q</blockquote>',
            ["javascript"],
            "<blockquote>q</blockquote>",
            id="cite-javascript",
        ),
        pytest.param(
            "<p>a<!-- <script>alert(1)</script> -->b</p>",
            ["<!--", "script"],
            "<p>ab</p>",
            id="comment",
        ),
    ],
)
def test_hostile_markup_is_removed(markup: str, forbidden: list[str], kept: str) -> None:
    clean = sanitize_html(markup, BASE)
    for bad in forbidden:
        assert bad not in clean
    assert kept in clean


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        pytest.param(
            '<img src="images/a.jpg" alt="A">',
            '<img src="https://news.example/2026/11/images/a.jpg" alt="A">',
            id="relative-img",
        ),
        pytest.param(
            '<a href="/topics/x">t</a>',
            '<a href="https://news.example/topics/x" rel="noopener noreferrer nofollow">t</a>',
            id="root-relative-link",
        ),
        pytest.param(
            '<a href="//cdn.example/a">c</a>',
            '<a href="https://cdn.example/a" rel="noopener noreferrer nofollow">c</a>',
            id="protocol-relative",
        ),
        pytest.param(
            '<a href="mailto:desk@news.example">m</a>',
            '<a href="mailto:desk@news.example" rel="noopener noreferrer nofollow">m</a>',
            id="mailto",
        ),
        pytest.param(
            '<a href="https://o.example/p?q=1&amp;r=2" target="_blank">o</a>',
            '<a href="https://o.example/p?q=1&amp;r=2" rel="noopener noreferrer nofollow">o</a>',
            id="absolute-link-target-dropped",
        ),
        pytest.param(
            "<figure><img src='x.png' alt=''><figcaption>Cap</figcaption></figure>",
            '<figure><img src="https://news.example/2026/11/x.png" alt="">'
            "<figcaption>Cap</figcaption></figure>",
            id="figure",
        ),
        pytest.param(
            "<p><strong>b</strong> <em>i</em></p><ul><li>x</li></ul>",
            "<p><strong>b</strong> <em>i</em></p><ul><li>x</li></ul>",
            id="plain-formatting",
        ),
    ],
)
def test_safe_markup_is_kept_with_absolute_urls(markup: str, expected: str) -> None:
    assert sanitize_html(markup, BASE) == expected


def test_empty_markup_stays_empty() -> None:
    assert sanitize_html("", BASE) == ""


# --- the hostile entries bundled in the sample feeds (feeds/STORIES.md) ----------------


def test_saigon_da_lat_entry_loses_script_handler_and_javascript_link() -> None:
    entry = one_entry(FEEDS / "saigon-times-daily.atom", "da-lat-mua-da-quy")
    html = entry.content_html
    for bad in ("<script", "alert(", "onclick", "trackClick", "javascript:"):
        assert bad not in html
    assert '<a href="https://saigonnhatbao.example.vn/du-lich/cam-nang-da-lat-10190.html"' in html
    assert "Nhận ưu đãi phòng ngay" in html  # the link text stays, without its href
    assert 'src="https://saigonnhatbao.example.vn/images/2026/11/da-quy-deo-mimosa.jpg"' in html


def test_harbor_data_centre_entry_loses_iframe_onerror_and_css_expression() -> None:
    entry = one_entry(FEEDS / "harbor-tech.json", "data-centre")
    html = entry.content_html
    for bad in ("<iframe", "ads.example", "onerror", "alert(", "expression(", "style="):
        assert bad not in html
    assert 'src="https://harbortech.example.com/img/2026/11/da-nang-dc-render.jpg"' in html
    assert "seawater-assisted cooling loop" in html


def test_article_page_share_box_loses_its_onclick_handlers() -> None:
    (entry,) = entries_of(ARTICLES / "vi_article_page.html")
    assert "onclick" not in entry.content_html
    assert "share(" not in entry.content_html
    assert "<script" not in entry.content_html


def test_article_page_relative_image_resolves_against_the_page_url() -> None:
    page_url = (
        "https://saigonnhatbao.example.vn/kinh-te/gia-xang-giam-lan-thu-ba-lien-tiep-10240.html"
    )
    (entry,) = entries_of(ARTICLES / "vi_article_page.html", url=page_url)
    assert 'src="https://saigonnhatbao.example.vn/images/2026/11/cay-xang-tphcm.jpg"' in (
        entry.content_html
    )


def test_atom_entry_relative_links_resolve_against_xml_base() -> None:
    entry = one_entry(FEEDS / "saigon-times-daily.atom", "10231")
    html = entry.content_html
    assert (
        'src="https://saigonnhatbao.example.vn/images/2026/11/bao-nakri-anh-may-ve-tinh.jpg"'
        in html
    )
    assert 'href="https://saigonnhatbao.example.vn/ban-do/bao-nakri"' in html


def test_json_feed_relative_links_resolve_against_the_item_url() -> None:
    entry = one_entry(FEEDS / "harbor-tech.json", "hai-au")
    assert 'href="https://harbortech.example.com/topics/semiconductors"' in entry.content_html
    assert 'src="https://harbortech.example.com/img/2026/11/hai-au-cleanroom.jpg"' in (
        entry.content_html
    )


def test_rss_root_relative_links_resolve_against_the_feed_url() -> None:
    entry = one_entry(
        FEEDS / "mekong-review.rdf", "kratie", url="https://mekongreview.example.com/feed.rdf"
    )
    assert 'src="https://mekongreview.example.com/media/2026/11/kratie-gauge.jpg"' in (
        entry.content_html
    )


def test_handcrafted_hostile_atom_entry_is_sanitized_and_resolved() -> None:
    (entry,) = entries_of(FIXTURES / "atom_xml_base_hostile.atom")
    html = entry.content_html
    for bad in (
        "onmouseover",
        "avascript",
        "<script",
        "document.",
        "<iframe",
        "onerror",
        "<svg",
        "onload",
        "<form",
        "password",
        "style=",
        "expression(",
    ):
        assert bad not in html
    assert 'src="https://hostile.example/tin/anh/cau.jpg"' in html
    assert 'href="https://hostile.example/tin/lien-quan.html"' in html
    assert 'href="mailto:toasoan@hostile.example"' in html
    assert "Kết bài." in html
    assert entry.url == "https://hostile.example/tin/bai-1.html?ref=home"


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_no_bundled_entry_content_contains_script_or_javascript(path: Path) -> None:
    entries = entries_of(path)
    assert entries
    for entry in entries:
        lowered = entry.content_html.lower()
        assert "<script" not in lowered
        assert "javascript:" not in lowered
        assert not EVENT_HANDLER.search(lowered)


# --- the shortcuts must give what the sanitizer gives -----------------------------------


def _through_nh3(markup: str, base: str) -> str:
    """What ``sanitize_html`` returned before its shortcut: always through nh3."""
    cleaned = sanitize._cleaner(base).clean(markup)
    return unicodedata.normalize("NFC", scrub_characters(cleaned)).strip()


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",))))
@settings(max_examples=500, deadline=None)
def test_plain_text_comes_out_as_the_sanitizer_gives_it(text: str) -> None:
    assert sanitize_html(text, BASE) == _through_nh3(text, BASE)


@pytest.mark.parametrize(
    "text",
    ["\ufeffBOM first", "tab\tand\x0cform feed", "zero\u200bwidth", "Vie\u0323\u0302t", "  pad  "],
)
def test_plain_text_edge_cases(text: str) -> None:
    assert sanitize_html(text, BASE) == _through_nh3(text, BASE)


# Paragraph markup the shortcut may take, and its near misses: characters the parser or
# the serializer rewrites, entities, attributes, nesting, unclosed and stray tags.
_PARAGRAPH_PIECES = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<p>",
        "</p>",
        "word",
        " ",
        "  ",
        "\n",
        "\t",
        "Việt",
        "e\u0301",
        "\u0301",
        "“q” 'q' \"q\"",
        "&amp;",
        "&lt;",
        "&gt;",
        "&amp;lt;",
        "&",
        "&nbsp;",
        "&ndash;",
        "&#233;",
        "&AMP;",
        "<",
        ">",
        "\r",
        "\r\n",
        "\x00",
        "\x0c",
        "\x1f",
        "\x85",
        "\xa0",
        "\xad",
        "\u200b",
        "\ufeff",
        "<P>",
        "<p >",
        '<p class="x">',
        "</P>",
        "<br>",
        "<b>",
        "</b>",
        "<script>",
        "<!-- c -->",
    ]
)


@given(st.lists(_PARAGRAPH_PIECES, max_size=24).map("".join))
@settings(max_examples=1500, deadline=None)
def test_paragraph_markup_comes_out_as_the_sanitizer_gives_it(markup: str) -> None:
    assert sanitize_html(markup, BASE) == _through_nh3(markup, BASE)


@pytest.mark.parametrize(
    "markup",
    [
        "<p>one</p><p>two</p>",
        "lead <p>a &amp; b &lt;c&gt;</p> tail",
        "<p></p>",
        "<p>un<p>closed</p>",
        "<p>x</p></p>",
        "</p>",
        "<p>Vie\u0323\u0302t</p>",
        "<p>a\r\nb</p>",
        "<p>zero\u200bwidth</p>",
    ],
)
def test_paragraph_markup_edge_cases(markup: str) -> None:
    assert sanitize_html(markup, BASE) == _through_nh3(markup, BASE)


# Markup that is not plain (what nh3 must read) around a run of plain paragraphs (what it
# may skip): the start leaves every kind of state behind, closed or open, so the sentinel
# check has to tell the ones a plain paragraph is read in as it is from the others; the
# end is read after the run.
_START_PIECES = st.sampled_from(
    [
        '<p class="lead">',
        "</p>",
        "<p>",
        "<strong>",
        "</strong>",
        "<b>",
        "</b>",
        '<a href="/x">',
        '<a href="javascript:alert(1)">',
        "</a>",
        '<img src="/i.jpg" alt="a > b" width="640">',
        '<img src="x" alt="',
        "<br>",
        "<div>",
        "</div>",
        "<ul><li>",
        "</li></ul>",
        "<table><tr><td>",
        "</td></tr></table>",
        "<script>",
        "</script>",
        "<style>",
        "<textarea>",
        "<title>",
        "<svg>",
        "<math>",
        "<template>",
        "<!--",
        "-->",
        "<!-- c -->",
        "<",
        "&",
        "&amp",
        "&nbsp;",
        "&#x1;",
        "\x00",
        "\u0301",
        "text",
        " ",
        "\n",
        "Việt",
    ]
)
_RUN_PARAGRAPHS = st.lists(
    st.sampled_from(
        [
            "<p>Một đoạn văn bình thường của bài báo, đủ dài để đáng bỏ qua nh3.</p>",
            "<p>a &amp; b &lt;c&gt; &amp;lt;</p>",
            "<p>Vie\u0323\u0302t</p>\n",
            "<p></p>",
            " <p>“quoted” 'text'</p> between ",
            "\n",
        ]
    ),
    min_size=1,
    max_size=12,
).map(lambda parts: "<p>" + "x" * 40 + "</p>" + "".join(parts))


_AROUND = st.lists(_START_PIECES, max_size=12).map("".join)


@given(_AROUND, _RUN_PARAGRAPHS, _AROUND)
@settings(max_examples=4000, deadline=None)
def test_markup_around_plain_paragraphs_comes_out_as_the_sanitizer_gives_it(
    start: str, run: str, end: str
) -> None:
    markup = start + run + end
    assert sanitize_html(markup, BASE) == _through_nh3(markup, BASE)


@pytest.mark.parametrize(
    "start",
    [
        '<p class="lead"><strong>HUẾ</strong> &ndash; lead.</p>\n<img src="/a.jpg" alt="t">\n',
        "<p>open",  # the tail's first <p> closes it, as in the whole document
        "<b>bold",  # carried into every later paragraph
        "<div>",
        "<table><tr><td>",
        "<textarea>",
        "<!--",
        '<img alt="',
        "&amp",
        "text\u0301",
    ],
)
@pytest.mark.parametrize("end", ["", '<p><a href="/more">More&hellip;</a></p>', "</b>", "-->"])
def test_plain_run_edge_cases(start: str, end: str) -> None:
    markup = start + "<p>" + "body text " * 20 + "</p><p>more</p>" + end
    assert sanitize_html(markup, BASE) == _through_nh3(markup, BASE)


def test_a_feed_cannot_forge_the_sentinel() -> None:
    """Our sentinel swallowed by an open comment, a guessed one in the markup: no splice."""
    forged = "<p>a</p>a"
    markup = f"{forged}<!--" + "<p>" + "hidden " * 30 + "</p>"
    assert sanitize_html(markup, BASE) == _through_nh3(markup, BASE) == forged


def test_a_lead_and_a_trailer_with_markup_send_only_themselves_to_nh3(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read: list[str] = []

    class Counting:
        def __init__(self, cleaner: object) -> None:
            self.cleaner = cleaner

        def clean(self, markup: str) -> str:
            read.append(markup)
            return self.cleaner.clean(markup)  # type: ignore[attr-defined]

    original = sanitize._cleaner
    monkeypatch.setattr(sanitize, "_cleaner", lambda base: Counting(original(base)))
    lead = '<p class="lead"><a href="/a">Lead</a> text.</p>\n'
    body = "".join(f"<p>Paragraph {n} of the body, plain.</p>" for n in range(20))
    trailer = '<p><a href="/more">More&hellip;</a></p>'
    link = 'rel="noopener noreferrer nofollow"'
    assert sanitize_html(lead + body + trailer, BASE) == (
        f'<p><a href="https://news.example/a" {link}>Lead</a> text.</p>\n'
        + body
        + f'<p><a href="https://news.example/more" {link}>More…</a></p>'
    )
    assert read == [lead + sanitize._SENTINEL + trailer]


def test_the_shortcut_admits_every_character_but_the_ones_it_leaves_out() -> None:
    """Its class is built from ranges; it must be this one, character for character."""
    left_out = "<>&\r\x00-\x08\x0b\x0c\x0e-\x1f\x7f\xa0\xad\u200b-\u200d\u2060\ufeff\ud800-\udfff"
    spec = re.compile(f"[^{left_out}]")
    built = re.compile(sanitize._KEPT.removesuffix("*"))
    differ = [
        hex(point)
        for point in range(sys.maxunicode + 1)
        if bool(spec.fullmatch(chr(point))) != bool(built.fullmatch(chr(point)))
    ]
    assert differ == []
