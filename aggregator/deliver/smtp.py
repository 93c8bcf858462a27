"""Deliver over SMTP: one connection for a whole batch, STARTTLS or implicit TLS, AUTH,
and at most ``max_per_second`` messages a second when the provider limits the rate.

A 5xx reply for a recipient is permanent (recorded, never retried); anything else
(connection refused, 4xx, timeouts) is temporary and retried later by the ledger. A
server that cannot be reached, refuses the login or refuses our sender address is
``unreachable``: the ledger defers the whole batch instead of trying every message.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from email.message import EmailMessage

from aggregator.config import SmtpSettings
from aggregator.errors import DeliveryError


class SmtpTransport:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._client: smtplib.SMTP | None = None
        self._next_send = 0.0  # time.monotonic() before which the rate limit waits

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._client is not None:
            try:
                self._client.quit()
            except (smtplib.SMTPException, OSError):
                self._client.close()
            self._client = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        where = f"{s.host}:{s.port}"
        client: smtplib.SMTP | None = None
        try:
            if s.ssl:
                context = ssl.create_default_context()
                client = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            else:
                client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
                if s.starttls:
                    client.starttls(context=ssl.create_default_context())
            if s.username:
                client.login(s.username, s.password)
            return client
        except (smtplib.SMTPException, OSError) as exc:
            if client is not None:
                client.close()
            # Even a refused login is no reader's fault: every message waits for the fix.
            raise DeliveryError(where, _connect_problem(exc), unreachable=True) from None

    def _pace(self) -> None:
        if self.settings.max_per_second <= 0:
            return
        wait = self._next_send - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._next_send = max(self._next_send, time.monotonic()) + 1 / self.settings.max_per_second

    def send(self, message: EmailMessage, *, key: str) -> None:
        recipient = str(message["To"])
        self._pace()
        if self._client is None:
            self._client = self._connect()
        try:
            self._client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise DeliveryError(
                recipient,
                f"refused with {code} {reply.decode(errors='replace')}",
                permanent=500 <= code < 600,
            ) from None
        except smtplib.SMTPSenderRefused as exc:
            # Our From refused: no reader's fault, and every other message would fail alike.
            self._drop()
            raise DeliveryError(
                recipient,
                f"the server refused our sender address ({_reply(exc)})",
                unreachable=True,
            ) from None
        except smtplib.SMTPResponseException as exc:
            self._drop()
            raise DeliveryError(
                recipient, _reply(exc), permanent=500 <= exc.smtp_code < 600
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise DeliveryError(recipient, f"SMTP connection failed ({exc})") from None

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _connect_problem(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"SMTP login refused ({_reply(exc)})"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return (
            "the server does not offer STARTTLS "
            "(set [mail.smtp] starttls = false only on a trusted network)"
        )
    return f"cannot connect to the SMTP server ({exc})"


def _reply(exc: smtplib.SMTPResponseException) -> str:
    message = (
        exc.smtp_error.decode(errors="replace")
        if isinstance(exc.smtp_error, bytes)
        else str(exc.smtp_error)
    )
    return f"{exc.smtp_code} {message}"
