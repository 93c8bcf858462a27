"""Digest emails: structure, headers, and nothing from a feed reaching a header."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy

from lxml import html as lxml_html

from aggregator.config import DigestSettings, PublishSettings
from aggregator.model import DigestIssue
from aggregator.publish.email import (
    UNSUBSCRIBE_PLACEHOLDER,
    Unsubscribe,
    build_confirmation,
    build_message,
    format_created,
    inline_css,
    message_id,
    render_issue,
)
from tests.issues import sample_issue

UNSUBSCRIBE = Unsubscribe(
    url="https://agg.example/unsubscribe?token=7.0.AbCdEfGhIjKlMnOpQrStUv",
    mailto="mailto:digest@agg.example?subject=unsubscribe%207.0.AbCdEfGhIjKlMnOpQrStUv",
)

NOW = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def issue(headline: str = "Bão Nakri <b>mạnh</b>\r\nBcc: victim@x.example") -> DigestIssue:
    return sample_issue(headline, second_outlet="Sài Gòn <i>Nhật</i> Báo")


def build(recipient: str = "reader@x.example", title: str | None = None):  # type: ignore[no-untyped-def]
    rendered = render_issue(
        issue() if title is None else replace(issue(), title=title),
        digest=DigestSettings(name="daily"),
        publish=PublishSettings(base_url="https://agg.example"),
    )
    msg = build_message(
        rendered,
        recipient=recipient,
        sender="Agg <digest@agg.example>",
        created=format_created(issue()),
        site_url="https://agg.example",
        unsubscribe=UNSUBSCRIBE,
    )
    return message_from_bytes(msg.as_bytes(), policy=policy.default)


def test_message_is_multipart_alternative_text_then_html() -> None:
    msg = build()
    assert msg.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in msg.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in msg.iter_parts())


def test_headers_are_complete_and_subject_is_rfc2047() -> None:
    msg = build()
    raw = msg.as_bytes()
    assert b"=?utf-8?" in raw.split(b"\n\n", 1)[0]  # the non-ASCII subject is encoded
    assert msg["Subject"] == "Bản tin – 2026-11-23"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["List-Id"] == "<daily.agg.example>"
    assert msg["Date"] and msg["Message-ID"].endswith("@agg.example>")


def test_message_id_is_deterministic_per_issue_and_recipient() -> None:
    assert build("a@x.example")["Message-ID"] == build("A@X.example")["Message-ID"]
    assert build("a@x.example")["Message-ID"] != build("b@x.example")["Message-ID"]
    assert message_id(1, "a@x.example", "d@agg.example") != message_id(
        2, "a@x.example", "d@agg.example"
    )


def test_feed_text_cannot_inject_headers_or_markup() -> None:
    msg = build()
    assert msg["Bcc"] is None
    html = msg.get_body(("html",)).get_content()
    assert "<b>mạnh</b>" not in html and "&lt;b&gt;mạnh&lt;/b&gt;" in html
    assert "<i>Nhật</i>" not in html
    text = msg.get_body(("plain",)).get_content()
    assert "Also reported by: Sài Gòn <i>Nhật</i> Báo" in text  # plain text shows it as text


def test_a_follow_up_says_how_many_sources_joined_and_since_when() -> None:
    plain = issue("Bão Nakri")
    story = replace(plain.stories[0], follow_up_since=datetime(2026, 11, 21, tzinfo=UTC))
    rendered = render_issue(
        replace(plain, stories=(story,)),
        digest=DigestSettings(name="daily"),
        publish=PublishSettings(base_url="https://agg.example"),
    )
    assert "\n   Follow-up: 2 more sources since Nov 21, 2026\n   Sơ tán" in rendered.text
    assert "2 more sources since Nov 21, 2026" in rendered.html
    first = render_issue(
        plain, digest=DigestSettings(name="daily"), publish=PublishSettings(base_url="https://a")
    )
    assert "Follow-up" not in first.text and "Follow-up" not in first.html


def test_every_message_carries_one_click_unsubscribe_headers_and_links() -> None:
    msg = build()
    assert msg["List-Unsubscribe"] == f"<{UNSUBSCRIBE.url}>, <{UNSUBSCRIBE.mailto}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    raw_headers = msg.as_bytes().split(b"\n\n", 1)[0]
    assert UNSUBSCRIBE.url.encode() in raw_headers  # a URL, never RFC 2047 encoded words
    assert f'href="{UNSUBSCRIBE.url}"' in msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.endswith(
        f"\nYou receive this because you subscribed to daily.\nUnsubscribe: {UNSUBSCRIBE.url}\n"
    )


def test_cr_lf_in_a_title_cannot_add_a_header() -> None:
    msg = build(title="Daily\r\nBcc: victim@x.example\nX-Evil: 1")
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert msg["Subject"] == "Daily Bcc: victim@x.example X-Evil: 1"  # one line of text
    assert msg.get_content_type() == "multipart/alternative"


def test_the_confirmation_email_holds_the_signed_link_and_nothing_else() -> None:
    link = "https://agg.example/confirm?token=7.1795000000.AbCdEfGhIjKlMnOpQrStUv"
    msg = build_confirmation(
        digest="daily",
        digest_title="Bản tin",
        recipient="new@x.example",
        sender="Agg <digest@agg.example>",
        confirm_url=link,
        site_url="https://agg.example",
        site_title="Agg",
        valid_days=7,
        now=NOW,
    )
    parsed = message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert parsed["Subject"] == "Confirm your subscription: Bản tin"
    assert parsed["To"] == "new@x.example" and parsed["Auto-Submitted"] == "auto-generated"
    text = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("Please confirm your subscription to Bản tin.\n\nOpen this link")
    assert f"\n{link}\n" in text
    assert f'href="{link}"' in parsed.get_body(("html",)).get_content()


def long_issue(stories: int) -> DigestIssue:
    base = issue("Bão Nakri")
    story = base.stories[0]
    many = tuple(
        replace(story, story_id=n, headline=f"Tin {n}", summary="Sơ tán dân. " * 60)
        for n in range(stories)
    )
    return replace(base, stories=many)


def test_a_long_issue_keeps_the_html_under_budget_and_links_to_the_full_issue() -> None:
    big = long_issue(200)
    publish = PublishSettings(base_url="https://agg.example")
    rendered = render_issue(big, digest=DigestSettings(name="daily"), publish=publish)
    size = len(rendered.html.encode("utf-8"))
    assert 90_000 < size <= 100_000 - 512
    shown = rendered.html.count('class="headline"')
    assert 0 < shown < 200
    assert f"{200 - shown} more stories in the full issue on the web" in rendered.html
    assert 'href="https://agg.example/issues/42"' in rendered.html
    assert rendered.text.count("Sơ tán dân.") == 200 * 60  # the text part keeps everything
    small = render_issue(issue(), digest=DigestSettings(name="daily"), publish=publish)
    assert "in the full issue" not in small.html


def style_rules(document: str) -> list[str]:
    """The text of every <style> element, split into its top-level rules."""
    tree = lxml_html.fromstring(document)
    rules: list[str] = []
    for style in tree.iter("style"):
        depth, start = 0, 0
        css = style.text_content()
        for index, char in enumerate(css):
            depth += {"{": 1, "}": -1}.get(char, 0)
            if char == "}" and depth == 0:
                rules.append(css[start : index + 1].strip())
                start = index + 1
    return rules


def test_the_css_is_inlined_once_per_issue_and_only_media_queries_stay_in_a_style() -> None:
    publish, spec = PublishSettings(base_url="https://agg.example"), DigestSettings(name="daily")
    plain = render_issue(issue(), digest=spec, publish=publish, inline=False)
    rendered = render_issue(issue(), digest=spec, publish=publish)
    assert any(rule.startswith(".headline") for rule in style_rules(plain.html))
    rules = style_rules(rendered.html)
    assert rules and all(rule.startswith("@media") for rule in rules)
    assert any("prefers-color-scheme: dark" in rule for rule in rules)
    assert any("max-width: 480px" in rule for rule in rules)
    tree = lxml_html.fromstring(rendered.html)
    assert 'content="light dark"' in rendered.html and "supported-color-schemes" in rendered.html
    for element in tree.xpath("//body | //table | //td | //a | //p"):
        assert element.get("style"), f"<{element.tag} class={element.get('class')}> has no style"
    headline = tree.xpath("//a[@class='headline']")[0]
    assert re.search(r"font-size: ?17px", headline.get("style"))
    # The placeholder passes through inlining, once, where the reader's link goes.
    assert rendered.html.count(f'href="{UNSUBSCRIBE_PLACEHOLDER}"') == 1


def test_personalizing_the_inlined_issue_equals_inlining_each_reader_s_copy() -> None:
    """The issue's figure: inlining once and substituting the link gives the bytes that
    inlining every reader's own render would, so once per issue loses nothing."""
    publish, spec = PublishSettings(base_url="https://agg.example"), DigestSettings(name="daily")
    rendered = render_issue(issue(), digest=spec, publish=publish)
    plain = render_issue(issue(), digest=spec, publish=publish, inline=False)
    for url in (UNSUBSCRIBE.url, "https://agg.example/unsubscribe?token=9.0.x&lang=vi"):
        once = rendered.personalized(url)[1]
        each = inline_css(plain.personalized(url)[1])
        assert once == each
    msg = build()
    body = msg.get_body(("html",)).get_content()
    assert f'href="{UNSUBSCRIBE.url}"' in body and UNSUBSCRIBE_PLACEHOLDER not in body


def test_the_confirmation_email_is_inlined_too() -> None:
    msg = build_confirmation(
        digest="daily",
        digest_title="Bản tin",
        recipient="new@x.example",
        sender="Agg <digest@agg.example>",
        confirm_url="https://agg.example/confirm?token=7.1.A",
        site_url="https://agg.example",
        site_title="Agg",
        valid_days=7,
        now=NOW,
    )
    body = message_from_bytes(msg.as_bytes(), policy=policy.default).get_body(("html",))
    document = body.get_content()
    assert all(rule.startswith("@media") for rule in style_rules(document))
    button = lxml_html.fromstring(document).xpath("//a[@class='button']")[0]
    assert "background: #0b57d0" in button.get("style")


def test_the_budget_counts_the_inlined_html() -> None:
    """Inlining makes the HTML larger; the trimmed issue still fits once inlined, and would
    not have been trimmed enough had the budget been measured before inlining."""
    big = long_issue(200)
    publish = PublishSettings(base_url="https://agg.example")
    spec = DigestSettings(name="daily")
    rendered = render_issue(big, digest=spec, publish=publish)
    assert len(rendered.html.encode("utf-8")) <= 100_000 - 512
    shown = rendered.html.count('class="headline"')
    not_inlined = render_issue(big, digest=spec, publish=publish, inline=False)
    assert not_inlined.html.count('class="headline"') > shown
    personalized = rendered.personalized(UNSUBSCRIBE.url)[1]
    assert len(personalized.encode("utf-8")) <= 100_000
