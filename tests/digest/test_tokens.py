"""Signed tokens: genuine ones read back, anything altered, expired or misused is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aggregator.digest.tokens import SECRET_ENV, Signer, resolve_secret
from aggregator.errors import ConfigError, TokenError
from aggregator.store import Store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def signer(secret: bytes = b"s" * 32) -> Signer:
    return Signer(secret)


def test_unsubscribe_token_reads_back_and_never_expires() -> None:
    token = signer().unsubscribe_token(41)
    assert signer().unsubscribe_token(41) == token  # a re-sent message carries the same link
    assert signer().read_unsubscribe(token, now=NOW + timedelta(days=3650)) == 41


def test_a_token_is_not_derived_from_the_address_and_depends_on_the_secret() -> None:
    token = signer().unsubscribe_token(41)
    assert "@" not in token and "reader" not in token
    with pytest.raises(TokenError, match="not valid"):
        signer(b"another secret of some length").read_unsubscribe(token, now=NOW)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: "42" + t[2:],  # another subscriber's id
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # one character of the MAC
        lambda t: t.rsplit(".", 1)[0],  # no MAC at all
        lambda t: "",
        lambda t: "x.y.z",
    ],
)
def test_any_change_to_a_token_is_refused(tamper) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TokenError):
        signer().read_unsubscribe(tamper(signer().unsubscribe_token(41)), now=NOW)


def test_confirm_token_expires_and_is_not_an_unsubscribe_token() -> None:
    token = signer().confirm_token(7, now=NOW)
    assert signer().read_confirm(token, now=NOW + WEEK, max_age=WEEK) == (7, NOW)
    with pytest.raises(TokenError, match="expired"):
        signer().read_confirm(token, now=NOW + WEEK + timedelta(seconds=1), max_age=WEEK)
    with pytest.raises(TokenError):
        signer().read_unsubscribe(token, now=NOW)  # the purpose is signed too
    with pytest.raises(TokenError):
        signer().read_confirm(signer().unsubscribe_token(7), now=NOW, max_age=WEEK)


def test_csrf_token_is_bound_to_its_cookie() -> None:
    token = signer().csrf_token("nonce1", now=NOW)
    signer().check_csrf(token, "nonce1", now=NOW, max_age=WEEK)
    with pytest.raises(TokenError):
        signer().check_csrf(token, "nonce2", now=NOW, max_age=WEEK)


def test_the_secret_comes_from_the_environment_else_from_the_store(store: Store) -> None:
    assert resolve_secret({SECRET_ENV: "x" * 20}, lambda: "unused") == b"x" * 20
    with pytest.raises(ConfigError, match="at least 16"):
        resolve_secret({SECRET_ENV: "short"}, lambda: "unused")
    first = resolve_secret({}, lambda: store.app_secret("tokens", now=NOW))
    again = resolve_secret({}, lambda: store.app_secret("tokens", now=NOW))
    assert first == again and len(first) >= 32  # generated once, kept
    assert store.app_secret("other", now=NOW).encode() != first
