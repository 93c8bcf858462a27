"""Stage 7, publish: the site's HTML pages, for the web server and the static output.

Home (latest stories with their sources), a story's page, a digest's archive, and the
subscription pages; all around ``base.html``, which links every feed for autodiscovery.
Pages need no JavaScript and take their words from the locale's catalog; the text of
entries keeps its own language (``lang`` on each article).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote

from aggregator.config import DigestSettings, PublishSettings
from aggregator.model import DigestIssue, Story
from aggregator.publish.templates import template_environment


def render_page(template: str, *, settings: PublishSettings, **context: object) -> str:
    """A page of the site around ``base.html``."""
    return (
        template_environment(settings.locale)
        .get_template(template)
        .render(site_title=settings.title, site_url=settings.base_url.rstrip("/"), **context)
    )


def render_home(
    stories: Sequence[Story],
    *,
    settings: PublishSettings,
    now: datetime,
    digests: Sequence[DigestSettings] = (),
    tags: Sequence[str] = (),
    subscribe: bool = False,
) -> str:
    """The home page; ``subscribe`` links the subscription form (the web server has it,
    a static site does not)."""
    feeds = [{"title": f"{settings.title}: {tag}", "path": tag_feed_path(tag)} for tag in tags]
    return render_page(
        "home.html",
        settings=settings,
        stories=stories,
        now=now,
        digests=digests,
        subscribe=subscribe,
        page_feeds=feeds + [digest_feed(d) for d in digests],
    )


def render_story(story: Story, *, settings: PublishSettings) -> str:
    return render_page("story.html", settings=settings, story=story)


def render_digest_archive(
    digest: DigestSettings, issues: Sequence[DigestIssue], *, settings: PublishSettings
) -> str:
    return render_page(
        "digest_archive.html",
        settings=settings,
        digest=digest,
        issues=issues,
        page_feeds=[digest_feed(digest), digest_stream_feed(digest)],
    )


def tag_feed_path(tag: str) -> str:
    return f"/feeds/tag/{quote(tag, safe='')}.atom"


def digest_stream_feed(digest: DigestSettings) -> dict[str, str]:
    """The digest's stories as they happen, one entry each (``/digests/NAME/stories.atom``)."""
    return {
        "title": f"{digest.title or digest.name}: stories",  # as the feed titles itself
        "path": f"/digests/{quote(digest.name, safe='')}/stories.atom",
    }


def digest_feed(digest: DigestSettings) -> dict[str, str]:
    return {
        "title": digest.title or digest.name,
        "path": f"/digests/{quote(digest.name, safe='')}.atom",
    }
