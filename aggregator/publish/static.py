"""Stage 7, publish: the whole site as files in ``[publish] output_dir``, for static hosting.

The same bytes the web server sends: every feed and each of its pages, the home page, a
page per story (``stories/ID/index.html``, so ``/stories/ID`` resolves on any static
server that serves a folder's index), each digest's archive and every issue. Files are
replaced atomically, so a server reading the folder never sends half a file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote

from aggregator.config import DigestSettings, Settings
from aggregator.errors import ConfigError
from aggregator.publish import write_file_atomically
from aggregator.publish.email import render_issue
from aggregator.publish.html import render_digest_archive, render_home, render_story
from aggregator.publish.site import Site
from aggregator.store import Store


@dataclass(frozen=True, slots=True)
class Written:
    feeds: int
    pages: int
    changed_topics: tuple[str, ...] = ()  # first pages whose bytes differ from the old files


WritePage = Callable[[str, str], None]


def _inside(out: Path, relative: str) -> Path:
    """``out / relative``, refused when a tag or digest name would lead outside ``out``."""
    target = (out / relative.lstrip("/")).resolve()
    if not target.is_relative_to(out.resolve()):
        raise ConfigError(f"{relative!r}: a tag or digest name leads outside output_dir")
    return target


def write_site(store: Store, settings: Settings, out: Path, *, now: datetime) -> Written:
    site = Site(store, settings)
    feeds = 0
    topics = set(site.topic_paths())
    changed: list[str] = []
    for path in site.feed_paths():
        rendered = site.feed(path)
        if rendered is not None:
            # The file under the name a static server looks for: the decoded path.
            target = _inside(out, unquote(path))
            if path in topics and _differs(target, rendered.body):
                changed.append(path)
            write_file_atomically(target, rendered.body)
            feeds += 1
    publish = settings.publish

    def page(relative: str, html: str) -> None:
        write_file_atomically(_inside(out, relative), html.encode("utf-8"))

    page(
        "index.html",
        render_home(
            store.list_stories(limit=50),
            settings=publish,
            now=now,
            digests=settings.digests,
            tags=sorted(site.tag_feed_ids()),
        ),
    )
    pages = 1
    for story in store.list_stories(limit=max(1, store.count_stories())):
        page(f"stories/{story.id}/index.html", render_story(story, settings=publish))
        pages += 1
    for digest in settings.digests:
        pages += _write_digest(store, settings, digest, page)
    return Written(feeds=feeds, pages=pages, changed_topics=tuple(changed))


def _differs(path: Path, body: bytes) -> bool:
    try:
        return path.read_bytes() != body
    except OSError:  # not written yet
        return True


def _write_digest(store: Store, settings: Settings, digest: DigestSettings, page: WritePage) -> int:
    issues = store.list_issues(digest.name, limit=max(1, store.count_issues(digest.name)))
    page(
        f"digests/{digest.name}/index.html",
        render_digest_archive(digest, issues, settings=settings.publish),
    )
    for issue in issues:
        rendered = render_issue(issue, digest=digest, publish=settings.publish, archive=True)
        page(f"issues/{issue.id}/index.html", rendered.html)
    return 1 + len(issues)
