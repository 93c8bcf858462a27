"""Digest emails: render an issue once, then build one message per subscriber.

The message is multipart/alternative (plain text first, HTML second), UTF-8, with
a deterministic Message-ID per (issue, subscriber) so a re-send is recognizably
the same message. Subjects are our own words; headers are set through
``email.message.EmailMessage``, which refuses CR/LF in values (no header
injection), and non-ASCII subjects are RFC 2047 encoded by the SMTP policy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

from aggregator.config import DigestSettings, PublishSettings
from aggregator.model import DigestIssue
from aggregator.publish.templates import template_environment


@dataclass(frozen=True, slots=True)
class RenderedIssue:
    issue_id: int
    digest: str
    subject: str
    html: str
    text: str


def render_issue(
    issue: DigestIssue, *, digest: DigestSettings, publish: PublishSettings
) -> RenderedIssue:
    env = template_environment()
    context = {
        "issue": issue,
        "digest": digest,
        "site_url": publish.base_url.rstrip("/"),
        "site_title": publish.title,
    }
    return RenderedIssue(
        issue_id=issue.id,
        digest=digest.name,
        subject=issue.title,
        html=env.get_template("email/digest.html").render(context),
        text=env.get_template("email/digest.txt").render(context),
    )


def message_id(issue_id: int, recipient: str, sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    digest = hashlib.sha256(recipient.strip().lower().encode("utf-8")).hexdigest()[:20]
    return f"<digest.{issue_id}.{digest}@{domain}>"


def build_message(
    rendered: RenderedIssue, *, recipient: str, sender: str, created: str, site_url: str
) -> EmailMessage:
    """Personalize a rendered issue for one recipient."""
    message = EmailMessage(policy=SMTP)
    name, address = parseaddr(sender)
    message["From"] = Address(display_name=name, addr_spec=address) if name else address
    message["To"] = recipient
    message["Subject"] = rendered.subject
    message["Date"] = created
    message["Message-ID"] = message_id(rendered.issue_id, recipient, sender)
    host = site_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "localhost"
    message["List-Id"] = f"<{rendered.digest}.{host}>"
    message["Auto-Submitted"] = "auto-generated"
    message["X-Aggregator-Issue"] = str(rendered.issue_id)
    message.set_content(rendered.text, subtype="plain", charset="utf-8")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return message


def format_created(issue: DigestIssue) -> str:
    return format_datetime(issue.created_at)
