"""The byte template says what build_message says: both parsed with the default policy,
headers and decoded bodies compared, for English and Vietnamese issues, hostile titles,
awkward addresses and links that need quoted-printable's escapes and wrapping."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from aggregator.config import DigestSettings, PublishSettings
from aggregator.model import DigestIssue, IssueSource, IssueStory
from aggregator.publish.email import (
    RenderedIssue,
    Unsubscribe,
    build_message,
    format_created,
    render_issue,
)
from aggregator.publish.prepared import prepare_issue
from tests.issues import sample_issue

SENDER = "Bản tin Sáng <digest@agg.example>"
SITE = "https://agg.example"
HOSTILE = "Bão Nakri <b>mạnh</b>\r\nBcc: victim@x.example\r\n\r\nbody?"


def links(token: str) -> Unsubscribe:
    return Unsubscribe(
        url=f"{SITE}/unsubscribe?token={token}&a=1",
        mailto=f"mailto:leave@agg.example?subject=unsubscribe%20{token}",
    )


def many_stories(count: int) -> DigestIssue:
    base = sample_issue()
    stories = tuple(
        IssueStory(
            story_id=n,
            headline=f"Tin số {n}: giá xăng tăng = {n} đồng & hơn thế nữa " * 2,
            url=f"https://news.example/{n}?x={n}",
            summary="Tóm tắt dài dòng, " * 30,
            published=base.created_at - timedelta(hours=n),
            sources=(IssueSource(feed_title="Tin Nhanh", title="t", url="https://n.example"),),
        )
        for n in range(count)
    )
    return replace(base, stories=stories)


def render(issue: DigestIssue, locale: str) -> RenderedIssue:
    return render_issue(
        issue,
        digest=DigestSettings(name="daily", title="Hằng ngày", locale=locale),
        publish=PublishSettings(base_url=SITE, title="Agg"),
    )


def both(rendered: RenderedIssue, recipient: str, unsubscribe: Unsubscribe) -> tuple[bytes, bytes]:
    common = {"sender": SENDER, "created": format_created(sample_issue()), "site_url": SITE}
    slow = build_message(rendered, recipient=recipient, unsubscribe=unsubscribe, **common)
    fast = prepare_issue(rendered, **common).personalize(recipient, unsubscribe)
    return slow.as_bytes(), fast


def parsed(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def assert_same_message(slow_raw: bytes, fast_raw: bytes) -> None:
    slow, fast = parsed(slow_raw), parsed(fast_raw)
    assert fast.defects == [] and all(part.defects == [] for part in fast.walk())

    def headers(message: EmailMessage) -> list[tuple[str, str]]:
        return [(k, str(v)) for k, v in message.items() if k != "Content-Type"]

    assert headers(fast) == headers(slow)
    assert fast.get_content_type() == slow.get_content_type() == "multipart/alternative"
    slow_parts, fast_parts = list(slow.iter_parts()), list(fast.iter_parts())
    assert [p.get_content_type() for p in fast_parts] == ["text/plain", "text/html"]
    for ours, reference in zip(fast_parts, slow_parts, strict=True):
        assert ours.get_content_charset() == "utf-8"
        assert ours.get_content() == reference.get_content()  # type: ignore[attr-defined]


def assert_safe_for_smtp(raw: bytes) -> None:
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert raw.split(b"\r\n\r\n", 1)[0].isascii() and body.isascii()
    assert max(len(line) for line in body.split(b"\r\n")) <= 76


@pytest.mark.parametrize("locale", ["en", "vi"])
@pytest.mark.parametrize(
    "issue",
    [sample_issue(), sample_issue(HOSTILE), replace(sample_issue(), title=HOSTILE)],
    ids=["plain", "hostile-headline", "hostile-subject"],
)
def test_the_byte_template_parses_to_what_build_message_sends(
    issue: DigestIssue, locale: str
) -> None:
    slow, fast = both(render(issue, locale), "reader@x.example", links("7.0.AbCd"))
    assert_same_message(slow, fast)
    assert_safe_for_smtp(fast)
    assert b"\r\nBcc:" not in fast.split(b"\r\n\r\n", 1)[0]  # no header from a title
    subject = parsed(fast)["Subject"]
    assert "\n" not in subject and "\r" not in subject


@pytest.mark.parametrize(
    "recipient",
    ["reader@x.example", "First.Last+news@Sub.X.example", "a..b@x.example", "Tên <t@x.example>"],
)
def test_every_kind_of_address_gets_the_same_headers(recipient: str) -> None:
    slow, fast = both(render(sample_issue(), "vi"), recipient, links("9.1.Zz"))
    assert_same_message(slow, fast)


def test_a_long_link_full_of_escapes_is_wrapped_and_decodes_whole() -> None:
    token = "x=y&z=" * 40  # past any line, and "=" must become =3D
    slow, fast = both(render(sample_issue(), "en"), "r@x.example", links(token))
    assert_same_message(slow, fast)
    assert_safe_for_smtp(fast)
    text, page = (p.get_content() for p in parsed(fast).iter_parts())  # type: ignore[attr-defined]
    assert f"{SITE}/unsubscribe?token={token}&a=1" in text
    assert f"{SITE}/unsubscribe?token={token.replace('&', '&amp;')}&amp;a=1" in page


def test_a_large_issue_with_long_lines_stays_the_same_message() -> None:
    rendered = render(many_stories(120), "vi")
    assert len(rendered.html.encode()) > 50_000
    slow, fast = both(rendered, "r@x.example", links("3.3.Qq"))
    assert_same_message(slow, fast)
    assert_safe_for_smtp(fast)


def test_each_reader_gets_their_own_links_and_message_id_from_one_template() -> None:
    rendered = render(sample_issue(), "en")
    prepared = prepare_issue(
        rendered, sender=SENDER, created=format_created(sample_issue()), site_url=SITE
    )
    first = parsed(prepared.personalize("a@x.example", links("1.1.Aa")))
    second = parsed(prepared.personalize("b@x.example", links("2.2.Bb")))
    assert (first["To"], second["To"]) == ("a@x.example", "b@x.example")
    assert first["Message-ID"] != second["Message-ID"]
    assert "token=1.1.Aa" in first["List-Unsubscribe"]
    assert "token=2.2.Bb" in second["List-Unsubscribe"]
    bodies = [p.get_content() for p in second.iter_parts()]  # type: ignore[attr-defined]
    assert all("2.2.Bb" in body and "1.1.Aa" not in body for body in bodies)
    assert first["Date"] == second["Date"] == format_created(sample_issue())
