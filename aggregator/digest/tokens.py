"""Signed tokens for the links in emails and the web forms: unsubscribe, confirm, CSRF.

A token is ``<subject>.<issued>.<mac>``: the subject (a subscriber id, or a CSRF
nonce), the Unix time it was issued, and an HMAC-SHA256 over the purpose and both,
keyed with the site secret. Nothing in it is derived from the email address, so
knowing an address gives no token; changing any character breaks the MAC. The
purpose is part of the MAC, so a confirmation link cannot be replayed as an
unsubscribe link or the other way round.

Unsubscribe tokens carry ``issued = 0`` and never expire: the same subscriber always
gets the same link, which keeps a re-sent message byte-identical to the first.
Confirmation and CSRF tokens carry their time and expire (``max_age``).

The secret comes from ``AGGREGATOR_SECRET`` or, when that is unset, from the store,
which generates one on first use (:func:`resolve_secret`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from aggregator.errors import ConfigError, TokenError

SECRET_ENV = "AGGREGATOR_SECRET"
MIN_SECRET_LENGTH = 16
# 128 bits of MAC: far beyond guessing over HTTP, and the links stay short.
MAC_BYTES = 16

UNSUBSCRIBE = "unsubscribe"
CONFIRM = "confirm"
CSRF = "csrf"


def resolve_secret(environ: Mapping[str, str], stored: Callable[[], str]) -> bytes:
    """The secret from the environment, else the one the store keeps (made once)."""
    value = environ.get(SECRET_ENV, "")
    if value:
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"{SECRET_ENV} must be at least {MIN_SECRET_LENGTH} characters long "
                "(or unset, to let the store generate one)"
            )
        return value.encode("utf-8")
    return stored().encode("utf-8")


class Signer:
    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("empty token secret")
        self._secret = secret

    def _mac(self, purpose: str, subject: str, issued: int) -> str:
        message = f"{purpose}\n{subject}\n{issued}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()[:MAC_BYTES]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def sign(self, purpose: str, subject: str, *, issued: datetime | None = None) -> str:
        if "." in subject or not subject:
            raise ValueError(f"token subject {subject!r} must be non-empty and without dots")
        stamp = int(issued.timestamp()) if issued is not None else 0
        return f"{subject}.{stamp}.{self._mac(purpose, subject, stamp)}"

    def verify(
        self, token: str, purpose: str, *, now: datetime, max_age: timedelta | None = None
    ) -> tuple[str, datetime | None]:
        """The subject and issue time of a genuine, unexpired token; else TokenError."""
        subject, _, rest = token.strip().partition(".")
        stamp_text, _, mac = rest.partition(".")
        if not subject or not stamp_text.isdigit() or not mac:
            raise TokenError("this link is incomplete; copy the whole link from the email")
        stamp = int(stamp_text)
        if not hmac.compare_digest(mac, self._mac(purpose, subject, stamp)):
            raise TokenError("this link is not valid; copy the whole link from the email")
        issued = datetime.fromtimestamp(stamp, UTC) if stamp else None
        if max_age is not None:
            if issued is None or now - issued > max_age:
                raise TokenError("this link has expired; please ask for a new one")
        return subject, issued

    # -- the three uses ----------------------------------------------------------

    def unsubscribe_token(self, subscriber_id: int) -> str:
        return self.sign(UNSUBSCRIBE, str(subscriber_id))

    def read_unsubscribe(self, token: str, *, now: datetime) -> int:
        subject, _ = self.verify(token, UNSUBSCRIBE, now=now)
        return _as_id(subject)

    def confirm_token(self, subscriber_id: int, *, now: datetime) -> str:
        return self.sign(CONFIRM, str(subscriber_id), issued=now)

    def read_confirm(
        self, token: str, *, now: datetime, max_age: timedelta
    ) -> tuple[int, datetime]:
        subject, issued = self.verify(token, CONFIRM, now=now, max_age=max_age)
        assert issued is not None  # verify() refuses a timeless token when max_age is set
        return _as_id(subject), issued

    def csrf_token(self, nonce: str, *, now: datetime) -> str:
        """A form token bound to ``nonce``, the value of the visitor's CSRF cookie."""
        return self.sign(CSRF, nonce, issued=now)

    def check_csrf(self, token: str, nonce: str, *, now: datetime, max_age: timedelta) -> None:
        subject, _ = self.verify(token, CSRF, now=now, max_age=max_age)
        if not hmac.compare_digest(subject, nonce):
            raise TokenError("this form has expired; reload the page and try again")


def _as_id(subject: str) -> int:
    if not subject.isdigit():
        raise TokenError("this link is not valid; copy the whole link from the email")
    return int(subject)
