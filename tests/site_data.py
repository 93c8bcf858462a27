"""A small site for the feed and page tests: two outlets (Vietnamese and English, tagged),
entries grouped in stories (one reported by both), and a digest with a frozen issue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from aggregator.config import Settings
from aggregator.model import ClusterPlan, Enclosure, Entry, NewStory
from aggregator.store import Store, open_store

if TYPE_CHECKING:
    from aggregator.publish.site import Site

SITE_CONFIG = (
    '[publish]\nbase_url = "https://agg.example"\ntitle = "Agg"\nmax_entries = {page}\n'
    '[[digests]]\nname = "daily"\ntitle = "Bản tin sáng"\nschedule = "0 7 * * *"\n'
    'timezone = "UTC"\nlocale = "vi"\n'
)

ENCLOSURES = (
    Enclosure(url="https://wire.example/media/0.mp3", type="audio/mpeg", length=4_200_000),
    Enclosure(url="https://wire.example/media/0.jpg?size=large&v=2"),
)


def fill_site(
    make_settings: Callable[..., Settings], now: datetime, *, page: int = 3, count: int = 4
) -> tuple[Store, Settings]:
    """``count`` entries per outlet; entry n of both outlets is one story (``count`` stories)."""
    settings = make_settings(SITE_CONFIG.format(page=page))
    store = open_store(settings.storage.url)
    vn, _ = store.add_feed("https://tin.example/rss", now=now, title="Tin Nhanh", tags=["vn"])
    en, _ = store.add_feed("https://wire.example/atom", now=now, title="Wire", tags=["world"])
    stored: dict[int, list[int]] = {}
    for feed, language, title in ((vn, "vi", "Bão số {n} đổ bộ"), (en, "en", "Storm {n} <b>")):
        rows = store.upsert_entries(
            feed.id,
            [
                Entry(
                    entry_key=f"k{n}",
                    url=f"{feed.url.rsplit('/', 1)[0]}/{n}",
                    title=title.format(n=n),
                    published=now - timedelta(hours=n),
                    language=language,
                    summary=f"Tóm tắt {n}" if language == "vi" else f"Summary {n}",
                    content_html=f'<p>Nội dung {n}</p><script>alert("{n}")</script>',
                    # The newest English entry carries a podcast episode and its picture.
                    enclosures=ENCLOSURES if (language, n) == ("en", 0) else (),
                )
                for n in range(count)
            ],
            now=now - timedelta(minutes=count),
        )
        for n, row in enumerate(rows):
            stored.setdefault(n, []).append(row.id or 0)
    store.apply_cluster_plan(
        ClusterPlan(
            new_stories=[
                NewStory(title=f"Bão số {n}", entry_ids=tuple(ids)) for n, ids in stored.items()
            ]
        ),
        now=now - timedelta(minutes=count),
    )
    return store, settings


def feed_body(site: Site, path: str) -> bytes:
    """The bytes the site serves at ``path`` (which must be a feed)."""
    rendered = site.feed(path)
    assert rendered is not None, path
    return rendered.body
