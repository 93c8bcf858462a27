"""The stable identity of an entry within its feed.

Order of preference: the feed's own id (guid / atom:id), then the canonical link,
then title plus date. Feeds that reuse one guid for many items exist (some CMSs
emit the site URL as every guid), so when a guid repeats inside one document the
link is mixed in; see :func:`aggregator.normalize.to_entries`.
"""

from __future__ import annotations

import hashlib


def entry_key(*, guid: str, link: str, title: str, published: str) -> str:
    if guid:
        basis = f"guid:{guid.strip()}"
    elif link:
        basis = f"link:{link}"
    else:
        basis = f"title:{title}|{published}"
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]
