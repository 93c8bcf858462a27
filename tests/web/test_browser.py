"""A person's way through the site in real headless Chromium: home, the subscription form,
the confirmation link from the email in the Maildir, unsubscribing from a digest's link;
the database is checked at each step.

Needs Debian's chromium (``apt-get install chromium``) and Playwright for Python (the
``browser`` extra: ``pip install -e '.[test,browser]'``; its own browser download is not
used: ``executable_path`` points at Debian's). Skipped, saying which is missing, when
either is not there. The server is the real one, ``aggregator serve`` in its own process
on 127.0.0.1.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from aggregator.store import open_store
from aggregator.store.schema import subscribers
from tests.loopback import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
EMAIL = "reader@example.org"


def _playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser test skipped: Playwright is not installed (the browser extra)")
    if not Path(CHROMIUM).exists():
        pytest.skip("browser test skipped: Debian's chromium is not installed (apt-get)")
    return sync_playwright


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[storage]
url = "sqlite:///{tmp_path / "site.db"}"
[server]
host = "127.0.0.1"
port = {port}
[publish]
base_url = "http://127.0.0.1:{port}"
title = "Tin tổng hợp"
[mail]
transport = "maildir"
maildir = "{tmp_path / "mail"}"
from = "Digest <digest@agg.example>"
[[digests]]
name = "daily"
title = "Bản tin sáng"
schedule = "0 7 * * *"
timezone = "UTC"
send_empty = true
""",
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "--config", str(config), "serve"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base, config
    finally:
        process.terminate()
        process.wait(timeout=10)


def subscriber_row(config: Path) -> Any:
    url = re.search(r'url = "(.+)"', config.read_text()).group(1)  # type: ignore[union-attr]
    store = open_store(url)
    try:
        with store.db.read() as conn:
            return conn.execute(select(subscribers).where(subscribers.c.email == EMAIL)).first()
    finally:
        store.close()


def mails(config: Path) -> list[EmailMessage]:
    folder = config.parent / "mail" / "new"
    found = sorted(folder.iterdir()) if folder.is_dir() else []
    return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in found]  # type: ignore[misc]


def link_in(message: EmailMessage, path: str) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    match = re.search(rf"(http://127\.0\.0\.1:\d+{path}\?token=[\w.\-]+)", body.get_content())
    assert match, body.get_content()
    return match.group(1)


def test_subscribe_confirm_and_unsubscribe_in_chromium(server: tuple[str, Path]) -> None:
    sync_playwright = _playwright()
    base, config = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(java_script_enabled=False)  # the site needs none
            page.goto(base + "/")
            assert page.title() == "Tin tổng hợp"
            assert page.locator('link[rel="alternate"][href$="/feeds/all.atom"]').count() == 1

            page.click("text=Subscribe")
            assert page.url == base + "/subscribe"
            page.fill('input[name="email"]', EMAIL)
            page.click('button[type="submit"]')
            assert "confirm" in page.content().lower()
            row = subscriber_row(config)
            assert row is not None and not row.active and row.confirm_sent_at is not None
            (confirmation,) = mails(config)
            assert confirmation["To"] == EMAIL

            page.goto(link_in(confirmation, "/confirm"))
            assert "Bản tin sáng" in page.content()
            row = subscriber_row(config)
            assert row.active and row.confirmed_at is not None

            command = ["digest", "send", "daily"]
            sent = subprocess.run(
                [sys.executable, "-m", "aggregator", "--config", str(config), *command],
                cwd=config.parent,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert sent.returncode == 0, sent.stdout + sent.stderr
            digest = next(m for m in mails(config) if m["X-Aggregator-Issue"])
            page.goto(link_in(digest, "/unsubscribe"))
            assert page.locator("form button[type=submit]").count() == 1
            page.click("form button[type=submit]")
            assert EMAIL in page.content()
            row = subscriber_row(config)
            assert not row.active and row.unsubscribed_at is not None
        finally:
            browser.close()
