"""DKIM signing (RFC 6376) of outgoing messages, when ``[mail] dkim_*`` names a key.

The signature covers the headers a reader and a filter judge a list message by (From,
To, Subject, Date, Message-ID, List-Id, List-Unsubscribe, List-Unsubscribe-Post, the
MIME headers) and the body, with relaxed/relaxed canonicalization, so a relay that
re-folds a header or trims trailing space does not break it. What is signed is the
message's final bytes (:class:`~aggregator.deliver.message.Outgoing`), the very bytes
every transport sends or writes; the signature is put in front of them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from aggregator.config import MailSettings
from aggregator.deliver.message import Outgoing
from aggregator.errors import ConfigError
from aggregator.publish.email import POLICY

SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"list-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"mime-version",
    b"content-type",
)


class DkimSigner:
    def __init__(self, *, domain: str, selector: str, private_key: bytes) -> None:
        self.domain = domain.encode("ascii")
        self.selector = selector.encode("ascii")
        self._key = private_key

    def sign(self, message: Outgoing) -> Outgoing:
        """``message`` with a DKIM-Signature header in front."""
        import dkim  # on first use: most installs sign nothing, and it costs 50 ms to load

        head = message.data.split(b"\r\n\r\n", 1)[0]
        present = {
            line.split(b":", 1)[0].strip().lower()
            for line in head.split(b"\r\n")
            if line[:1] not in (b" ", b"\t")
        }
        header = dkim.sign(
            message.data,
            self.selector,
            self.domain,
            self._key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=[h for h in SIGNED_HEADERS if h in present],
        )
        name, _, value = header.decode("ascii").partition(":")
        # dkimpy folds its value its own way; ours folds between tags, like every header
        # we write (relaxed canonicalization reads both the same).
        folded = POLICY.fold_binary(name, " ".join(value.split()))
        return replace(message, data=folded + message.data)


def open_dkim(settings: MailSettings) -> DkimSigner | None:
    """The signer the config asks for, or None when DKIM is not configured."""
    if not settings.dkim_key_file:
        return None
    try:
        key = Path(settings.dkim_key_file).read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"mail.dkim_key_file: cannot read {settings.dkim_key_file} ({exc.strerror})"
        ) from None
    return DkimSigner(domain=settings.dkim_domain, selector=settings.dkim_selector, private_key=key)
