"""Web routes for subscribing and unsubscribing: double opt-in and RFC 8058 one-click.

* ``GET /subscribe`` shows the form; ``POST /subscribe`` sends a confirmation email
  with a signed link (the visitor sees the same answer whether or not the address
  was already subscribed); ``GET /confirm?token=`` activates the subscription.
* ``GET /unsubscribe?token=`` shows a confirmation form; its ``POST /unsubscribe``
  acts at once. A ``POST /unsubscribe?token=`` whose body is
  ``List-Unsubscribe=One-Click`` is a mail client's one-click unsubscribe (RFC 8058):
  it carries no CSRF token, since the signed link itself is the proof.

Forms are CSRF-protected without server sessions: a random cookie (SameSite=Strict)
and a form field signed over it; a page of another site can neither read the cookie
nor make the field. The cookie is ``Secure`` when the site is public over https (its
``[publish] base_url``) or the request came over https (through a proxy only when
``[server] trusted_proxies`` names it). Pages that carry a token in their URL send no
Referer. Sign-ups are rate limited (``limits.py``); a refused one gets a 429 page that
says which limit and when to try again.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from aggregator import pipeline
from aggregator.config import Settings
from aggregator.digest.addresses import check_email
from aggregator.errors import (
    AggregatorError,
    DeliveryError,
    InvalidEmailError,
    NotFoundError,
    TokenError,
)
from aggregator.publish.html import render_page
from aggregator.publish.i18n import translations
from aggregator.store import Store
from aggregator.web.limits import Limited, Refusal, SubscribeLimits

log = logging.getLogger("aggregator")

Clock = Callable[[], datetime]
CSRF_COOKIE = "aggregator_csrf"
CSRF_MAX_AGE = timedelta(hours=12)
MAX_FORM_BYTES = 16_384
ONE_CLICK = ("List-Unsubscribe", "One-Click")
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
}


class FormTooLarge(Exception):
    """The request body is larger than any of our forms can be."""


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a urlencoded or multipart form (mail clients post either)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLarge
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        return _multipart_fields(bytes(body), content_type)
    text = body.decode("utf-8", errors="replace")
    return dict(parse_qsl(text, keep_blank_values=True))


def _multipart_fields(body: bytes, content_type: str) -> dict[str, str]:
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    if found is None:
        return {}
    fields: dict[str, str] = {}
    for part in body.split(b"--" + found.group(1).encode("latin-1")):
        head, separator, value = part.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]*)"', head)
        if separator and name:
            fields[name.group(1).decode("utf-8", "replace")] = value.removesuffix(b"\r\n").decode(
                "utf-8", "replace"
            )
    return fields


def subscription_routes(store: Store, settings: Settings, clock: Clock) -> list[Route]:
    _ = translations(settings.publish.locale).gettext
    limits = SubscribeLimits(
        per_client_hour=settings.server.subscribe_per_client_hour,
        per_address_day=settings.mail.confirmations_per_address_day,
        per_hour=settings.mail.confirmations_per_hour,
        clock=clock,
    )
    public_https = settings.publish.base_url.lower().startswith("https://")
    untrusted_proxy_seen = False

    def client_of(request: Request) -> str:
        """The address the per-client limit counts; says once when a proxy seems to be
        in front that the config does not trust (then all its clients count as one)."""
        nonlocal untrusted_proxy_seen
        if (
            not settings.server.trusted_proxies
            and "x-forwarded-for" in request.headers
            and not untrusted_proxy_seen
        ):
            untrusted_proxy_seen = True
            log.warning(
                "A subscribe request came through a proxy (X-Forwarded-For) that "
                "[server] trusted_proxies does not name: its clients count as one client"
            )
        return request.client.host if request.client else ""

    def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
        body = render_page(template, settings=settings.publish, **context)
        return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)

    def message(heading: str, text: str, status: int = 200) -> HTMLResponse:
        return page("message.html", status, heading=heading, message=text)

    def failure(exc: AggregatorError) -> HTMLResponse:
        # Our error sentences are catalog entries too; one not in it reads in English.
        if isinstance(exc, TokenError | InvalidEmailError):
            return message(_("That did not work"), _(str(exc)), 400)
        if isinstance(exc, NotFoundError):
            return message(_("Not found"), _(str(exc)), 404)
        log.warning("Subscription request failed: %s", exc)
        return message(_("Please try again later"), _("We could not send the email just now."), 503)

    def too_large() -> HTMLResponse:
        return message(_("Too large"), _("That form is larger than ours."), 413)

    def limited(refusal: Refusal, email: str) -> HTMLResponse:
        texts = {
            Limited.CLIENT: _(
                "Too many sign-ups came from your network in the last hour. Please try again later."
            ),
            Limited.ADDRESS: _(
                "%(email)s has been sent enough confirmation emails for today. "
                "Please open the last one, or try again tomorrow."
            )
            % {"email": email},
            Limited.EVERYONE: _(
                "We are sending too many confirmation emails just now. Please try again in an hour."
            ),
        }
        response = message(_("Too many requests"), texts[refusal.limit], 429)
        seconds = max(1, int(refusal.retry_after.total_seconds()))
        response.headers["Retry-After"] = str(seconds)
        return response

    def unsubscribed(email: str) -> HTMLResponse:
        return message(_("Unsubscribed"), _("%(email)s receives nothing more.") % {"email": email})

    async def with_csrf(request: Request, template: str, **context: Any) -> Response:
        nonce = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(18)
        signer = await run_in_threadpool(pipeline.token_signer, store, now=clock())
        response = page(template, csrf=signer.csrf_token(nonce, now=clock()), **context)
        response.set_cookie(
            CSRF_COOKIE,
            nonce,
            max_age=int(CSRF_MAX_AGE.total_seconds()),
            httponly=True,
            samesite="strict",
            secure=public_https or request.url.scheme == "https",
        )
        return response

    async def check_csrf(request: Request, form: dict[str, str]) -> None:
        signer = await run_in_threadpool(pipeline.token_signer, store, now=clock())
        nonce = request.cookies.get(CSRF_COOKIE, "")
        if not nonce:
            raise TokenError("this form needs cookies; reload the page and try again")
        signer.check_csrf(form.get("csrf", ""), nonce, now=clock(), max_age=CSRF_MAX_AGE)

    async def subscribe_form(
        request: Request, *, email: str = "", selected: str = "", error: str = ""
    ) -> Response:
        return await with_csrf(
            request,
            "subscribe.html",
            digests=settings.digests,
            email=email,
            selected=selected or request.query_params.get("digest", ""),
            error=error,
        )

    async def subscribe(request: Request) -> Response:
        if not settings.digests:
            return message(_("No digests"), _("This site sends no digests."), 404)
        if request.method == "GET":
            return await subscribe_form(request)
        try:
            form = await read_form(request)
        except FormTooLarge:
            return too_large()
        email, digest = form.get("email", ""), form.get("digest", "")
        refusal = limits.note_post(client_of(request))
        if refusal is not None:
            return limited(refusal, email.strip())
        try:
            await check_csrf(request, form)
            address = check_email(email)
            refusal = limits.reserve_confirmation(address)
            if refusal is not None:
                return limited(refusal, address)
            sent = False
            try:
                sent = await run_in_threadpool(
                    pipeline.request_subscription,
                    store,
                    settings,
                    digest_name=digest,
                    email=address,
                    now=clock(),
                )
            finally:
                if not sent:  # already subscribed, asked moments ago, or it failed
                    limits.release(address)
        except InvalidEmailError as exc:
            response: Response = await subscribe_form(
                request, email=email, selected=digest, error=str(exc)
            )
            response.status_code = 400
            return response
        except (TokenError, NotFoundError, DeliveryError) as exc:
            return failure(exc)
        return message(
            _("Check your inbox"),
            _(
                "If %(email)s is not subscribed yet, an email with a confirmation link is on "
                "its way. Nothing else is sent before you open it."
            )
            % {"email": email.strip()},
        )

    async def confirm(request: Request) -> Response:
        token = request.query_params.get("token", "")
        try:
            subscriber = await run_in_threadpool(
                pipeline.confirm_subscription, store, settings, token, now=clock()
            )
        except (TokenError, NotFoundError) as exc:
            return failure(exc)
        spec = settings.digest(subscriber.digest)
        title = (spec.title if spec else "") or subscriber.digest
        return message(
            _("Subscribed"),
            _("%(email)s now receives %(title)s.") % {"email": subscriber.email, "title": title},
        )

    async def unsubscribe(request: Request) -> Response:
        query_token = request.query_params.get("token", "")
        if request.method == "GET":
            try:
                subscriber = await run_in_threadpool(
                    pipeline.subscriber_for_unsubscribe, store, query_token, now=clock()
                )
            except (TokenError, NotFoundError) as exc:
                return failure(exc)
            if not subscriber.active:
                return unsubscribed(subscriber.email)
            spec = settings.digest(subscriber.digest)
            return await with_csrf(
                request,
                "unsubscribe.html",
                token=query_token,
                email=subscriber.email,
                digest_title=(spec.title if spec else "") or subscriber.digest,
            )
        try:
            form = await read_form(request)
        except FormTooLarge:
            return too_large()
        one_click = form.get(ONE_CLICK[0]) == ONE_CLICK[1]
        try:
            if not one_click:
                await check_csrf(request, form)
            token = form.get("token") or query_token
            subscriber = await run_in_threadpool(pipeline.unsubscribe, store, token, now=clock())
        except (TokenError, NotFoundError) as exc:
            if one_click:
                return PlainTextResponse(str(exc), status_code=400)
            return failure(exc)
        if one_click:
            return PlainTextResponse(f"unsubscribed {subscriber.email}\n", headers=PAGE_HEADERS)
        return unsubscribed(subscriber.email)

    return [
        Route("/subscribe", subscribe, methods=["GET", "POST"]),
        Route("/confirm", confirm, methods=["GET"]),
        Route("/unsubscribe", unsubscribe, methods=["GET", "POST"]),
    ]
