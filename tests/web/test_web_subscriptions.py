"""Subscribe, confirm and unsubscribe through the web app, with real mail in a Maildir."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from aggregator import pipeline
from aggregator.config import ServerSettings, Settings
from aggregator.store import Store, open_store
from aggregator.web import create_app
from aggregator.web.server import WebServer
from tests.issues import queue_issue

DIGEST = '[[digests]]\nname = "daily"\ntitle = "Daily news"\n'
Scenario = Callable[[httpx.AsyncClient], Awaitable[Any]]


class Site:
    """The app over ASGI with one cookie jar per ``visit``, and a clock tests can move."""

    def __init__(self, store: Store, settings: Settings, now: datetime) -> None:
        self.store, self.settings, self.now = store, settings, now
        self.app = create_app(store, settings, clock=lambda: self.now)

    def visit(self, scenario: Scenario, *, scheme: str = "https") -> Any:
        """``scheme``: how the visitor reaches us; a cookie marked Secure comes back only
        over https, as in a browser."""

        async def go() -> Any:
            transport = httpx.ASGITransport(app=self.app)
            base_url = f"{scheme}://testserver"
            async with httpx.AsyncClient(transport=transport, base_url=base_url) as c:
                return await scenario(c)

        return asyncio.run(go())

    def mailbox(self) -> list[EmailMessage]:
        folder = Path(self.settings.mail.maildir) / "new"
        if not folder.is_dir():
            return []
        return [
            message_from_bytes(p.read_bytes(), policy=policy.default)  # type: ignore[misc]
            for p in sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime_ns)
        ]


@pytest.fixture
def site(make_settings: Callable[..., Settings], now: datetime) -> Site:
    settings = make_settings('[publish]\nbase_url = "https://agg.example"\n' + DIGEST)
    store = open_store(settings.storage.url)
    yield Site(store, settings, now)  # type: ignore[misc]
    store.close()


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def link_in(message: EmailMessage, path: str) -> str:
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(rf"https://agg\.example({path}\?token=\S+)", text)
    assert found, text
    return found.group(1)


def test_double_opt_in_sends_nothing_but_the_confirmation_until_confirmed(site: Site) -> None:
    async def sign_up(c: httpx.AsyncClient) -> httpx.Response:
        form = await c.get("/subscribe")
        assert form.status_code == 200 and "Daily news" in form.text
        assert form.headers["x-frame-options"] == "DENY"
        data = {"email": "new@x.example", "digest": "daily", "csrf": csrf_of(form)}
        return await c.post("/subscribe", data=data)

    answer = site.visit(sign_up)
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    (confirmation,) = site.mailbox()
    assert confirmation["To"] == "new@x.example"
    assert "Confirm your subscription" in confirmation["Subject"]
    assert site.store.list_subscribers("daily") == []
    queue_issue(site.store, site.now)
    assert pipeline.deliver_pending(site.store, site.settings, now=site.now).sent == 0
    assert len(site.mailbox()) == 1  # the unconfirmed address got no digest

    confirmed = site.visit(lambda c: c.get(link_in(confirmation, "/confirm")))
    assert (
        confirmed.status_code == 200 and "new@x.example now receives Daily news" in confirmed.text
    )
    assert [s.email for s in site.store.list_subscribers("daily")] == ["new@x.example"]
    site.now += timedelta(days=1)
    queue_issue(site.store, site.now)
    assert pipeline.deliver_pending(site.store, site.settings, now=site.now).sent == 1
    assert site.mailbox()[-1]["Subject"] == "Daily news"


def test_signing_up_again_soon_sends_no_second_email_and_says_the_same(site: Site) -> None:
    async def twice(c: httpx.AsyncClient) -> list[httpx.Response]:
        csrf = csrf_of(await c.get("/subscribe"))
        data = {"email": "new@x.example", "digest": "daily", "csrf": csrf}
        return [await c.post("/subscribe", data=data) for _ in range(2)]

    first, second = site.visit(twice)
    assert first.text == second.text and second.status_code == 200
    assert len(site.mailbox()) == 1


def test_the_subscribe_form_refuses_posts_without_its_csrf_token(site: Site) -> None:
    async def forged(c: httpx.AsyncClient) -> list[httpx.Response]:
        bare = await c.post("/subscribe", data={"email": "a@x.example", "digest": "daily"})
        csrf = csrf_of(await c.get("/subscribe"))
        c.cookies.set("aggregator_csrf", "another-visitor")
        stolen = await c.post(
            "/subscribe", data={"email": "a@x.example", "digest": "daily", "csrf": csrf}
        )
        return [bare, stolen]

    assert [r.status_code for r in site.visit(forged)] == [400, 400]
    assert site.mailbox() == []


def test_a_bad_address_shows_the_form_again_with_the_reason(site: Site) -> None:
    async def typo(c: httpx.AsyncClient) -> httpx.Response:
        csrf = csrf_of(await c.get("/subscribe"))
        return await c.post(
            "/subscribe", data={"email": "not an address", "digest": "daily", "csrf": csrf}
        )

    page = site.visit(typo)
    assert page.status_code == 400 and "is not a valid email address" in page.text
    assert 'name="csrf"' in page.text and site.mailbox() == []


def test_confirmation_links_expire_and_cannot_be_forged(site: Site) -> None:
    async def sign_up(c: httpx.AsyncClient) -> None:
        csrf = csrf_of(await c.get("/subscribe"))
        await c.post("/subscribe", data={"email": "new@x.example", "digest": "daily", "csrf": csrf})

    site.visit(sign_up)
    link = link_in(site.mailbox()[0], "/confirm")
    forged = site.visit(lambda c: c.get(link[:-2] + "xx"))
    assert forged.status_code == 400 and "not valid" in forged.text
    site.now += timedelta(days=site.settings.mail.confirm_days, seconds=1)
    late = site.visit(lambda c: c.get(link))
    assert late.status_code == 400 and "expired" in late.text
    assert site.store.list_subscribers("daily") == []


def delivered_digest(site: Site, email: str) -> EmailMessage:
    site.store.add_subscriber("daily", email, now=site.now)
    queue_issue(site.store, site.now)
    pipeline.deliver_pending(site.store, site.settings, now=site.now)
    return site.mailbox()[-1]


def test_the_unsubscribe_link_asks_then_acts_at_once(site: Site) -> None:
    digest = delivered_digest(site, "reader@x.example")
    link = link_in(digest, "/unsubscribe")

    async def leave(c: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        asked = await c.get(link)
        assert asked.headers["referrer-policy"] == "no-referrer"  # the token stays here
        assert site.store.list_subscribers("daily") != []  # a GET (link scanners) does nothing
        token = re.search(r'name="token" value="([^"]+)"', asked.text)
        assert token
        done = await c.post("/unsubscribe", data={"token": token.group(1), "csrf": csrf_of(asked)})
        return asked, done

    asked, done = site.visit(leave)
    assert "Stop sending Daily news to reader@x.example?" in asked.text
    assert done.status_code == 200 and "receives nothing more" in done.text
    assert site.store.list_subscribers("daily") == []
    queue_issue(site.store, site.now + timedelta(days=1))
    assert site.store.due_deliveries(site.now + timedelta(days=1)) == []


def test_the_unsubscribe_form_needs_its_csrf_token(site: Site) -> None:
    digest = delivered_digest(site, "reader@x.example")
    token = link_in(digest, "/unsubscribe").split("token=", 1)[1]
    refused = site.visit(lambda c: c.post("/unsubscribe", data={"token": token}))
    assert refused.status_code == 400
    assert [s.email for s in site.store.list_subscribers("daily")] == ["reader@x.example"]


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_unsubscribe_from_the_header_rfc_8058(site: Site, encoding: str) -> None:
    digest = delivered_digest(site, "reader@x.example")
    https = re.search(r"<(https://[^>]+)>", str(digest["List-Unsubscribe"]))
    assert https and digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = https.group(1).removeprefix("https://agg.example")
    if encoding == "urlencoded":
        post = {"data": {"List-Unsubscribe": "One-Click"}}
    else:
        post = {"files": {"List-Unsubscribe": (None, "One-Click")}}
    answer = site.visit(lambda c: c.post(path, **post))  # no cookie, no CSRF: a mail client
    assert answer.status_code == 200
    assert site.store.list_subscribers("daily") == []
    again = site.visit(lambda c: c.post(path, **post))
    assert again.status_code == 200  # clients may post twice


def test_a_forged_one_click_changes_nothing(site: Site) -> None:
    site.store.add_subscriber("daily", "reader@x.example", now=site.now)
    (subscriber,) = site.store.list_subscribers("daily")
    answer = site.visit(
        lambda c: c.post(
            f"/unsubscribe?token={subscriber.id}.0.AAAAAAAAAAAAAAAAAAAAAA",
            data={"List-Unsubscribe": "One-Click"},
        )
    )
    assert answer.status_code == 400
    assert site.store.list_subscribers("daily") == [subscriber]


def test_the_web_archive_shows_an_issue_whole_without_a_reader_s_link(site: Site) -> None:
    issue_id = queue_issue(site.store, site.now)
    page = site.visit(lambda c: c.get(f"/issues/{issue_id}"))
    assert page.status_code == 200 and "Bão" in page.text
    assert "Unsubscribe" not in page.text and "@@" not in page.text
    assert site.visit(lambda c: c.get("/issues/999")).status_code == 404


# -- the form's cookie and its rate limits ------------------------------------------


def csrf_cookie(response: httpx.Response) -> set[str]:
    """The attributes of the CSRF cookie the response sets, in lower case."""
    (cookie,) = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    assert cookie.startswith("aggregator_csrf=")
    return {part.strip().lower() for part in cookie.split(";")[1:]}


def test_the_csrf_cookie_is_secure_when_the_site_is_public_over_https(
    site: Site, make_settings: Callable[..., Settings]
) -> None:
    # base_url is https: Secure, even for a request a proxy forwarded over plain http.
    assert "secure" in csrf_cookie(site.visit(lambda c: c.get("/subscribe"), scheme="http"))
    plain = Site(site.store, make_settings(DIGEST), site.now)  # base_url http://127.0.0.1
    assert "secure" not in csrf_cookie(plain.visit(lambda c: c.get("/subscribe"), scheme="http"))
    assert "secure" in csrf_cookie(plain.visit(lambda c: c.get("/subscribe"), scheme="https"))


@contextmanager
def served(app: Any, settings: ServerSettings) -> Iterator[str]:
    """The app under our uvicorn WebServer on a loopback port, in a thread of its own."""
    server = WebServer(app, settings)
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),))
    thread.start()
    try:
        # The socket listens already: a request waits in its backlog until uvicorn is up.
        yield f"http://127.0.0.1:{server.socket.getsockname()[1]}"
    finally:
        server.stop()
        thread.join()


@pytest.mark.parametrize("trusted", [(), ("127.0.0.1",)])
def test_x_forwarded_proto_counts_only_from_a_trusted_proxy(
    make_settings: Callable[..., Settings], now: datetime, trusted: tuple[str, ...]
) -> None:
    settings = make_settings(DIGEST)  # public base_url is http: the request decides
    store = open_store(settings.storage.url)
    app = create_app(store, settings, clock=lambda: now)
    listen = ServerSettings(host="127.0.0.1", port=0, trusted_proxies=trusted)
    try:
        with served(app, listen) as base:
            forwarded = httpx.get(f"{base}/subscribe", headers={"X-Forwarded-Proto": "https"})
    finally:
        store.close()
    assert forwarded.status_code == 200
    assert ("secure" in csrf_cookie(forwarded)) == bool(trusted)


def sign_ups(site: Site, emails: list[str], *, step: timedelta) -> list[httpx.Response]:
    """One visitor posting the form for each address, the clock moving ``step`` each time."""

    async def go(c: httpx.AsyncClient) -> list[httpx.Response]:
        answers = []
        for email in emails:
            csrf = csrf_of(await c.get("/subscribe"))
            data = {"email": email, "digest": "daily", "csrf": csrf}
            answers.append(await c.post("/subscribe", data=data))
            site.now += step
        return answers

    return site.visit(go)


@contextmanager
def limited_site(
    make_settings: Callable[..., Settings], now: datetime, limits: str
) -> Iterator[Site]:
    settings = make_settings(limits + '[publish]\nbase_url = "https://agg.example"\n' + DIGEST)
    store = open_store(settings.storage.url)
    yield Site(store, settings, now)
    store.close()


def test_one_address_gets_a_bounded_number_of_confirmations_a_day(
    make_settings: Callable[..., Settings], now: datetime
) -> None:
    with limited_site(make_settings, now, "confirmations_per_address_day = 2\n") as site:
        # Past the store's ten minutes each time, and in capitals once: the same address.
        emails = ["victim@x.example", "Victim@X.example", "victim@x.example"]
        answers = sign_ups(site, emails, step=timedelta(minutes=11))
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert "sent enough confirmation emails for today" in answers[2].text
        assert int(answers[2].headers["retry-after"]) > 23 * 3600
        assert len(site.mailbox()) == 2
        site.now += timedelta(days=1)
        (tomorrow,) = sign_ups(site, ["victim@x.example"], step=timedelta(0))
        assert tomorrow.status_code == 200 and len(site.mailbox()) == 3


def test_an_address_already_subscribed_uses_none_of_its_allowance(
    make_settings: Callable[..., Settings], now: datetime
) -> None:
    with limited_site(make_settings, now, "confirmations_per_address_day = 1\n") as site:
        site.store.add_subscriber("daily", "reader@x.example", now=now)
        answers = sign_ups(site, ["reader@x.example"] * 3, step=timedelta(minutes=11))
        assert [a.status_code for a in answers] == [200, 200, 200]  # the same answer, no email
        assert site.mailbox() == []


def test_confirmations_to_everyone_are_bounded_per_hour(
    make_settings: Callable[..., Settings], now: datetime
) -> None:
    with limited_site(make_settings, now, "confirmations_per_hour = 3\n") as site:
        emails = [f"bot{n}@x.example" for n in range(4)]
        answers = sign_ups(site, emails, step=timedelta(minutes=1))
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert "too many confirmation emails just now" in answers[3].text
        assert len(site.mailbox()) == 3
        site.now += timedelta(hours=1)
        (later,) = sign_ups(site, ["late@x.example"], step=timedelta(0))
        assert later.status_code == 200 and len(site.mailbox()) == 4


def test_one_client_posts_a_bounded_number_of_times_an_hour(
    make_settings: Callable[..., Settings], now: datetime
) -> None:
    with limited_site(make_settings, now, "[server]\nsubscribe_per_client_hour = 2\n") as site:
        answers = sign_ups(site, ["a@x.example", "b@x.example", "c@x.example"], step=timedelta(0))
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert "Too many sign-ups came from your network" in answers[2].text
        assert len(site.mailbox()) == 2


def test_a_proxy_the_config_does_not_trust_is_logged_once(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    async def through_proxy(c: httpx.AsyncClient) -> None:
        for n in range(2):
            csrf = csrf_of(await c.get("/subscribe"))
            data = {"email": f"r{n}@x.example", "digest": "daily", "csrf": csrf}
            await c.post("/subscribe", data=data, headers={"X-Forwarded-For": "203.0.113.9"})

    with caplog.at_level(logging.WARNING, logger="aggregator"):
        site.visit(through_proxy)
    warned = [r for r in caplog.records if "trusted_proxies" in r.getMessage()]
    assert len(warned) == 1
