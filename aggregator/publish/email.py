"""Digest emails: render an issue once, then build one message per subscriber.

The message is multipart/alternative (plain text first, HTML second), UTF-8, with
a deterministic Message-ID per (issue, subscriber) so a re-send is recognizably
the same message. Personalizing is a string replacement: the issue is rendered once
with a placeholder where each reader's unsubscribe link goes.

The templates keep their CSS in a ``<style>`` block; :func:`inline_css` copies it into
each element's ``style`` attribute (css-inline) once per rendered issue, before any
personalization, since many mail clients drop a ``<style>``. The size budget is
measured on that inlined HTML, the bytes that are sent.

Headers: Date, Message-ID, List-Id, List-Unsubscribe (https and mailto) with
List-Unsubscribe-Post (RFC 8058 one-click), Auto-Submitted. Every header value is
flattened to one line of printable text first (:func:`header_text`), so a CR/LF in
a title can never start a header of its own; non-ASCII subjects are RFC 2047
encoded by the policy.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache
from typing import TypedDict, Unpack
from urllib.parse import quote

import css_inline

from aggregator.config import DigestSettings, PublishSettings
from aggregator.model import DigestIssue
from aggregator.publish.i18n import SOURCE_LOCALE, translations
from aggregator.publish.templates import template_environment


class _MailPolicy(EmailPolicy):
    """The SMTP policy, except that List-Unsubscribe folds between its URLs and
    DKIM-Signature between its tags.

    The stock folder turns a "word" longer than a line (a URL, a signature) into RFC
    2047 encoded words, which no mail client reads as a link and no verifier as a
    signature; breaking after the comma is the folding RFC 8058's examples use.
    """

    # Header: the separator it may fold after without changing its meaning.
    _RAW = {"list-unsubscribe": ",", "dkim-signature": ";"}

    def fold(self, name: str, value: str) -> str:
        if name.lower() in self._RAW:
            return self.fold_raw(name, value)
        folded: str = super().fold(name, value)
        return folded

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() in self._RAW:
            return self.fold_raw(name, value).encode("ascii")
        return super().fold_binary(name, value)

    def fold_raw(self, name: str, value: str) -> str:
        separator = self._RAW[name.lower()]
        parts = (part.strip() for part in str(value).split(separator))
        return f"{name}: " + f"{separator}{self.linesep} ".join(parts) + self.linesep


POLICY = _MailPolicy(linesep="\r\n")

# Where each reader's own unsubscribe link goes in the issue rendered once for all.
UNSUBSCRIBE_PLACEHOLDER = "@@unsubscribe-url@@"
_NOT_PRINTABLE = re.compile(r"[\x00-\x20\x7f-\xa0\u2028\u2029]+")


def header_text(value: str) -> str:
    """One line of printable text: CR, LF, tabs and other controls become one space."""
    return _NOT_PRINTABLE.sub(" ", value).strip()


@dataclass(frozen=True, slots=True)
class RenderedIssue:
    issue_id: int
    digest: str
    subject: str
    html: str
    text: str

    def personalized(self, unsubscribe_url: str) -> tuple[str, str]:
        """(text, html) with the reader's unsubscribe link in place."""
        return (
            self.text.replace(UNSUBSCRIBE_PLACEHOLDER, unsubscribe_url),
            self.html.replace(UNSUBSCRIBE_PLACEHOLDER, html.escape(unsubscribe_url)),
        )


# Gmail clips a message whose HTML passes about 102 KB behind a "view entire message"
# link; below this the whole issue shows. Room is kept for the reader's own link.
HTML_BUDGET = 100_000
_LINK_ROOM = 512


# Never fetch a stylesheet named by a template (there is none: this is a guard), and keep
# the @media rules (dark mode, small screens), which no style attribute can hold, in a
# <style> in the head. Immutable once built, so one serves every thread.
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


def inline_css(document: str) -> str:
    """``document`` with its ``<style>`` rules copied into style attributes; only the
    @media rules stay in a ``<style>``. Text and attribute values keep their meaning
    (the HTML is parsed and written again), so the unsubscribe placeholder survives."""
    inlined: str = _INLINER.inline(document)
    return inlined


def issue_url(issue_id: int, publish: PublishSettings) -> str:
    """The issue on the web archive, where a trimmed email links to."""
    return f"{publish.base_url.rstrip('/')}/issues/{issue_id}"


def render_issue(
    issue: DigestIssue,
    *,
    digest: DigestSettings,
    publish: PublishSettings,
    html_budget: int = HTML_BUDGET,
    archive: bool = False,
    inline: bool = True,
) -> RenderedIssue:
    """Render once for every reader, CSS inlined. An HTML part over ``html_budget`` bytes
    (inlined) keeps as many leading stories as fit and links to the full issue; the text
    part keeps all. ``inline=False`` leaves the ``<style>`` block as written, for a
    caller that inlines per message itself (``bench/deliver.py``'s naive path)."""
    env = template_environment(digest.locale)
    context = {
        "issue": issue,
        "digest": digest,
        "site_url": publish.base_url.rstrip("/"),
        "site_title": publish.title,
        "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
        "issue_url": issue_url(issue.id, publish),
        "archive": archive,
    }
    template = env.get_template("email/digest.html")

    def html_with(shown: int) -> str:
        stories = issue.stories[:shown]
        page = template.render(context, shown=stories, more=len(issue.stories) - shown)
        return inline_css(page) if inline else page

    html = html_with(len(issue.stories))
    if not archive and len(html.encode("utf-8")) + _LINK_ROOM > html_budget:
        # The largest number of leading stories that fits, by bisection: one render per
        # step, about log2(stories) renders once per issue.
        fits, too_many = 0, len(issue.stories)
        while too_many - fits > 1:
            middle = (fits + too_many) // 2
            if len(html_with(middle).encode("utf-8")) + _LINK_ROOM <= html_budget:
                fits = middle
            else:
                too_many = middle
        html = html_with(fits)
    return RenderedIssue(
        issue_id=issue.id,
        digest=digest.name,
        subject=issue.title,
        html=html,
        text=env.get_template("email/digest.txt").render(context),
    )


@lru_cache(maxsize=16)
def _domain(sender: str) -> str:
    """The sender address's domain (cached: a delivery pass asks for every message)."""
    return parseaddr(sender)[1].rpartition("@")[2] or "localhost"


def message_id(issue_id: int, recipient: str, sender: str) -> str:
    domain = _domain(sender)
    digest = hashlib.sha256(recipient.strip().lower().encode("utf-8")).hexdigest()[:20]
    return f"<digest.{issue_id}.{digest}@{domain}>"


def list_id(digest: str, site_url: str) -> str:
    host = site_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "localhost"
    label = re.sub(r"[^A-Za-z0-9-]+", "-", digest).strip("-") or "digest"
    return f"<{label}.{host}>"


def unsubscribe_mailto(address: str, token: str) -> str:
    return f"mailto:{address}?subject={quote('unsubscribe ' + token)}"


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """One reader's ways out: the https link (one-click) and the mailto address."""

    url: str
    mailto: str


def _new_message(*, sender: str, recipient: str, subject: str) -> EmailMessage:
    message = EmailMessage(policy=POLICY)
    name, address = parseaddr(header_text(sender))
    message["From"] = Address(display_name=name, addr_spec=address) if name else address
    message["To"] = header_text(recipient)
    message["Subject"] = header_text(subject)
    return message


def list_unsubscribe(unsubscribe: Unsubscribe) -> str:
    return f"<{unsubscribe.url}>, <{unsubscribe.mailto}>"


class MessageFields(TypedDict):
    """What a digest message needs besides the rendered issue."""

    recipient: str
    sender: str
    created: str
    site_url: str
    unsubscribe: Unsubscribe


def message_headers(rendered: RenderedIssue, **fields: Unpack[MessageFields]) -> EmailMessage:
    """A digest message's headers for one recipient, and no body yet: shared by
    :func:`build_message` and the byte template of :mod:`aggregator.publish.prepared`,
    so both paths write the same headers in the same order."""
    recipient, sender = fields["recipient"], fields["sender"]
    message = _new_message(sender=sender, recipient=recipient, subject=rendered.subject)
    message["Date"] = fields["created"]
    message["Message-ID"] = message_id(rendered.issue_id, recipient, sender)
    message["List-Id"] = list_id(rendered.digest, fields["site_url"])
    message["List-Unsubscribe"] = list_unsubscribe(fields["unsubscribe"])
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    message["X-Aggregator-Issue"] = str(rendered.issue_id)
    return message


def build_message(rendered: RenderedIssue, **fields: Unpack[MessageFields]) -> EmailMessage:
    """Personalize a rendered issue for one recipient, the general way (about 5 ms): the
    reference the byte template of :mod:`aggregator.publish.prepared` is tested against."""
    message = message_headers(rendered, **fields)
    text, body = rendered.personalized(fields["unsubscribe"].url)
    message.set_content(text, subtype="plain", charset="utf-8")
    message.add_alternative(body, subtype="html", charset="utf-8")
    return message


def build_confirmation(
    *,
    digest: str,
    digest_title: str,
    recipient: str,
    sender: str,
    confirm_url: str,
    site_url: str,
    site_title: str,
    valid_days: int,
    now: datetime,
    locale: str = SOURCE_LOCALE,
) -> EmailMessage:
    """The double opt-in email: one signed link, and nothing else is ever sent before it."""
    env = template_environment(locale)
    _ = translations(locale).gettext
    context = {
        "digest_title": digest_title or digest,
        "confirm_url": confirm_url,
        "site_url": site_url.rstrip("/"),
        "site_title": site_title,
        "valid_days": valid_days,
    }
    message = _new_message(
        sender=sender,
        recipient=recipient,
        subject=_("Confirm your subscription: %(title)s") % {"title": digest_title},
    )
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid("confirm", domain=_domain(sender))
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        env.get_template("email/confirm.txt").render(context), subtype="plain", charset="utf-8"
    )
    message.add_alternative(
        inline_css(env.get_template("email/confirm.html").render(context)),
        subtype="html",
        charset="utf-8",
    )
    return message


def format_created(issue: DigestIssue) -> str:
    return format_datetime(issue.created_at)
