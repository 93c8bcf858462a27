"""The stable identity of an entry within its feed.

Order of preference: the feed's own id (guid / atom:id), then the canonical link,
then title plus date. Feeds that reuse one guid for many items exist (some CMSs
emit the site URL as every guid), so when a guid repeats inside one document the
link is mixed in; see :func:`aggregator.normalize.to_entries`.
"""

from __future__ import annotations

import hashlib

from aggregator.model import IDENTITY_POLICIES

__all__ = ["IDENTITY_POLICIES", "entry_key"]


def entry_key(
    *, guid: str, link: str, title: str, published: str, text: str = "", policy: str = "auto"
) -> str:
    """The key of an entry within its feed, by the feed's identity policy.

    ``auto`` and ``guid``: the guid, else the link, else title and date; ``link``: the
    canonical link first (for feeds that rewrite guids); ``content``: title and text
    (for feeds whose guids and links both change, e.g. session ids in every link).
    """
    if policy == "content":
        basis = f"content:{title}|{text}"
    elif policy == "link" and link:
        basis = f"link:{link}"
    elif guid:
        basis = f"guid:{guid.strip()}"
    elif link:
        basis = f"link:{link}"
    else:
        basis = f"title:{title}|{published}"
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]
