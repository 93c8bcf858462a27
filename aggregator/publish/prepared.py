"""Stage 7, publish (fast path): a rendered issue compiled once into the bytes of its
message, personalized per subscriber by byte substitution.

``deliver_pending`` sends thousands of copies of one issue that differ only in a few
places: the To and Message-ID headers, the List-Unsubscribe header, and the reader's
unsubscribe link in the text and HTML bodies. Building an ``EmailMessage`` for each
costs about 5 ms (header objects, MIME encoding of 100 KB of HTML); here the issue is
encoded once and each copy is the static pieces joined around those few values, about
a hundredth of that.

What makes substitution safe is the body encoding: both parts are quoted-printable,
which keeps every line under 76 characters whatever is put in, and each varying value
sits on lines of its own between soft line breaks (``=`` at a line's end, which a
decoder removes). A link is encoded with the same codec on its way in, so an ``=`` in
it becomes ``=3D`` and a long link is wrapped: the decoded bodies are the very text
:func:`aggregator.publish.email.build_message` sends, which the tests check by parsing
both. Headers come from :func:`aggregator.publish.email.message_headers` folded by the
same policy; the per-reader ones are written directly when they are plain ASCII that
needs no folding, and by the policy otherwise.

There is no greeting in the templates, so no name is substituted. The CSS was inlined
once per issue by :func:`aggregator.publish.email.render_issue`, before the issue
reaches here: the placeholder passes through inlining unchanged, and a reader's copy
is the same bytes inlining that reader's own render would give (tested).
"""

from __future__ import annotations

import binascii
import html
import re
import secrets
from dataclasses import dataclass
from email.message import EmailMessage

from aggregator.publish.email import (
    POLICY,
    UNSUBSCRIBE_PLACEHOLDER,
    RenderedIssue,
    Unsubscribe,
    header_text,
    list_unsubscribe,
    message_headers,
    message_id,
)

# The slots between the static pieces, in the order a message holds them.
_TO, _MESSAGE_ID, _LIST_UNSUBSCRIBE, _TEXT_LINK, _HTML_LINK = range(5)
_SLOT_OF_HEADER = {"to": _TO, "message-id": _MESSAGE_ID, "list-unsubscribe": _LIST_UNSUBSCRIBE}
# Values that are their own folded form, which the address and message-id parsers
# write back unchanged: a dot-atom address, our own Message-ID.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_PLAIN = {
    "To": re.compile(rf"{_ATOM}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"),
    "Message-ID": re.compile(r"<[A-Za-z0-9.]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*>"),
}
_SOFT_BREAK = b"=\r\n"
_PLACEHOLDER = UNSUBSCRIBE_PLACEHOLDER.encode("ascii")


def _qp(data: bytes) -> bytes:
    """Quoted-printable with CRLF line ends; ``data`` has bare LF line ends."""
    return binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")


def _crlf_lines(text: str) -> bytes:
    """The body's bytes with LF line ends and a final newline, as ``set_content`` would
    make them (before the policy's CRLF)."""
    return b"\n".join(text.encode("utf-8").splitlines()) + b"\n"


_FOLD_AT = POLICY.max_line_length or 78


def _header(name: str, value: str) -> bytes:
    if len(name) + len(value) + 2 <= _FOLD_AT and _PLAIN[name].fullmatch(value):
        return f"{name}: {value}\r\n".encode("ascii")
    return POLICY.fold_binary(name, POLICY.header_store_parse(name, value)[1])


@dataclass(frozen=True, slots=True)
class PreparedIssue:
    """One issue's message as static byte pieces with a slot between each two."""

    issue_id: int
    sender: str
    pieces: tuple[bytes, ...]
    slots: tuple[int, ...]  # slots[i] goes between pieces[i] and pieces[i + 1]

    def personalize(self, recipient: str, unsubscribe: Unsubscribe) -> bytes:
        """The complete message for ``recipient``, CRLF line ends, ready for SMTP DATA."""
        to = header_text(recipient)
        msgid = message_id(self.issue_id, recipient, self.sender)
        links = list_unsubscribe(unsubscribe)
        if "\r" in links or "\n" in links:
            raise ValueError("an unsubscribe link may not contain CR or LF")
        # What the policy writes for this header, without parsing it first (see _MailPolicy).
        unsub_line = POLICY.fold_raw("List-Unsubscribe", links).encode("ascii")
        values = (
            _header("To", to),
            _header("Message-ID", msgid),
            unsub_line,
            _qp(unsubscribe.url.encode("utf-8")) + _SOFT_BREAK,
            _qp(html.escape(unsubscribe.url).encode("utf-8")) + _SOFT_BREAK,
        )
        out = [self.pieces[0]]
        for slot, piece in zip(self.slots, self.pieces[1:], strict=True):
            out.append(values[slot])
            out.append(piece)
        return b"".join(out)


def _encoded_body(text: str, slot: int) -> tuple[list[bytes], list[int]]:
    """The quoted-printable body split where the reader's link goes."""
    raw = _crlf_lines(text).split(_PLACEHOLDER)
    pieces: list[bytes] = []
    for index, chunk in enumerate(raw):
        encoded = _qp(chunk)
        if index < len(raw) - 1 and encoded and not encoded.endswith(b"\n"):
            # The link starts a line of its own, so its length never pushes this one past 76.
            encoded += _SOFT_BREAK
        pieces.append(encoded)
    return pieces, [slot] * (len(raw) - 1)


def prepare_issue(
    rendered: RenderedIssue, *, sender: str, created: str, site_url: str
) -> PreparedIssue:
    """Compile ``rendered`` once; :meth:`PreparedIssue.personalize` is then per reader."""
    headers: EmailMessage = message_headers(
        rendered,
        recipient="",
        sender=sender,
        created=created,
        site_url=site_url,
        unsubscribe=Unsubscribe(url="", mailto=""),
    )
    pieces: list[bytes] = []
    slots: list[int] = []
    current = bytearray()
    for name, value in headers.items():
        slot = _SLOT_OF_HEADER.get(name.lower())
        if slot is None:
            current += POLICY.fold_binary(name, value)
            continue
        pieces.append(bytes(current))
        slots.append(slot)
        current = bytearray()
    # The boundary is "=" led: a quoted-printable line can never begin with it.
    boundary = f"==============={secrets.randbelow(10**19):019d}=="
    current += (
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/alternative;\r\n"
        b' boundary="' + boundary.encode("ascii") + b'"\r\n\r\n'
    )
    for subtype, text, slot in (
        ("plain", rendered.text, _TEXT_LINK),
        ("html", rendered.html, _HTML_LINK),
    ):
        current += (
            b"--" + boundary.encode("ascii") + b"\r\n"
            b"Content-Type: text/" + subtype.encode("ascii") + b'; charset="utf-8"\r\n'
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        )
        body_pieces, body_slots = _encoded_body(text, slot)
        current += body_pieces[0]
        for piece, body_slot in zip(body_pieces[1:], body_slots, strict=True):
            pieces.append(bytes(current))
            slots.append(body_slot)
            current = bytearray(piece)
        current += b"\r\n"
    current += b"--" + boundary.encode("ascii") + b"--\r\n"
    pieces.append(bytes(current))
    return PreparedIssue(
        issue_id=rendered.issue_id, sender=sender, pieces=tuple(pieces), slots=tuple(slots)
    )
