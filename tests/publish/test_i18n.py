"""Our own words in Vietnamese: every message has a translation, and emails and pages use it."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from aggregator.config import DigestSettings, PublishSettings, loads
from aggregator.errors import ConfigError
from aggregator.model import DigestIssue
from aggregator.publish.email import build_confirmation, render_issue
from aggregator.publish.html import render_page
from aggregator.publish.i18n import LOCALES, SOURCE_LOCALE, catalog_path
from tests.issues import sample_issue

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 23, tzinfo=UTC)
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def extracted() -> dict[str, str | tuple[str, ...]]:
    """Every message of the code and the templates, as pybabel extract finds them."""
    methods = [
        ("templates/**.html", "jinja2"),
        ("templates/**.txt", "jinja2"),
        ("aggregator/**.py", "python"),
    ]
    options = {"templates/**": {"extensions": "jinja2.ext.i18n"}}
    found: dict[str, str | tuple[str, ...]] = {}
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT, method_map=methods, options_map=options
    ):
        key = message if isinstance(message, str) else message[0]
        found[key] = message
    return found


@pytest.mark.parametrize("locale", [loc for loc in LOCALES if loc != SOURCE_LOCALE])
def test_every_message_has_a_translation_with_the_same_placeholders(locale: str) -> None:
    with catalog_path(locale).open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    messages = extracted()
    assert len(messages) > 30
    for key, message in messages.items():
        entry = catalog.get(key)
        assert entry is not None and entry.string, f"{locale}: no translation of {key!r}"
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        assert all(strings), f"{locale}: an empty plural form for {key!r}"
        wanted = set(PLACEHOLDER.findall(key if isinstance(message, str) else message[-1]))
        for text in strings:
            assert set(PLACEHOLDER.findall(text)) == wanted, f"{locale}: {key!r} -> {text!r}"


def issue() -> DigestIssue:
    return sample_issue(follow_up_since=datetime(2026, 11, 21, tzinfo=UTC))


def test_a_vietnamese_digest_speaks_vietnamese_with_its_dates() -> None:
    spec = DigestSettings(name="daily", title="Bản tin", locale="vi")
    rendered = render_issue(issue(), digest=spec, publish=PublishSettings())
    text, html = rendered.personalized("https://agg.example/unsubscribe?token=t")
    assert "Tin tiếp diễn: thêm 2 nguồn từ 21 thg 11, 2026" in text
    assert "Cùng đưa tin: Sài Gòn Nhật Báo" in text
    assert "Hủy đăng ký: https://agg.example/unsubscribe?token=t" in text
    assert '<html lang="vi">' in html and "1 tin" in html and ">Hủy đăng ký</a>" in html
    english = render_issue(issue(), digest=replace(spec, locale="en"), publish=PublishSettings())
    assert "Also reported by: Sài Gòn Nhật Báo" in english.text and "Hủy" not in english.text


def test_the_web_pages_use_the_same_catalogs() -> None:
    page = render_page(
        "subscribe.html",
        settings=PublishSettings(locale="vi"),
        csrf="x",
        digests=[DigestSettings(name="daily")],
        email="",
        selected="",
        error="",
    )
    assert '<html lang="vi">' in page and "Đăng ký nhận bản tin" in page


def test_an_unknown_locale_is_a_config_error(tmp_path: Path) -> None:
    text = '[[digests]]\nname = "d"\nlocale = "fr"\n'
    with pytest.raises(ConfigError, match=r"digests\[0\].locale must be one of en, vi"):
        loads(text, source="config.toml", base_dir=tmp_path, environ={})


def test_the_confirmation_email_follows_the_digest_s_locale() -> None:
    message = build_confirmation(
        digest="daily",
        digest_title="Bản tin",
        recipient="new@x.example",
        sender="digest@agg.example",
        confirm_url="https://agg.example/confirm?token=t",
        site_url="https://agg.example",
        site_title="Agg",
        valid_days=7,
        now=NOW,
        locale="vi",
    )
    assert message["Subject"] == "Xác nhận đăng ký: Bản tin"
    body = message.get_body(("plain",))
    assert body is not None and "Liên kết có hiệu lực trong 7 ngày" in body.get_content()
