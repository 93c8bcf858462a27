"""The command line: a thin edge over the pipeline.

Each command loads the one config object, opens the store, calls one pipeline
function and prints the result (a rich table, or JSON with ``--json``). Any
:class:`AggregatorError` is printed as one line on stderr with exit code 1;
tracebacks are for bugs only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import click

from aggregator import __version__, pipeline, workers
from aggregator.config import Settings, find_config, load, resolve_feed_url
from aggregator.errors import (
    AggregatorError,
    BlockedAddressError,
    ConfigError,
    DaemonRunningError,
    NotFoundError,
    SourceError,
)
from aggregator.logs import LogFormat, configure_logging
from aggregator.model import DeliveryState, DigestIssue, FetchOutcome
from aggregator.sources import opml
from aggregator.sources.http import build_client
from aggregator.store import Store, open_store

if TYPE_CHECKING:
    from aggregator.sources.discover import Discovery

# Digests, email rendering, discovery (lxml) and the daemon are imported by the commands
# that use them: every command's start-up pays for what it runs, not for all of them.


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    """Loaded lazily, so ``--help`` works without a config file."""

    config_path: str | None

    @cached_property
    def settings(self) -> Settings:
        return load(find_config(self.config_path, os.environ))

    @cached_property
    def store(self) -> Store:
        store = open_store(self.settings.storage.url)
        pipeline.sync_config(store, self.settings, now=utcnow())
        return store

    def close(self) -> None:
        workers.close_shared()
        if "store" in self.__dict__:
            self.store.close()


class AggregatorGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AggregatorError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


pass_app = click.make_pass_decorator(App)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(type(value).__name__)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A table for a person at a terminal (rich); plain aligned columns for anything else.

    Output read by a program, a pipe or cron's mail needs neither box drawing nor cells
    folded to the terminal's width: one line per row, whole values, columns separated by
    two spaces (``gh`` and ``kubectl`` print for pipes the same way).
    """
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    if not sys.stdout.isatty():
        click.echo(plain_table(title, columns, cells))
        return
    # rich is loaded by the commands that print with it, not at start-up (a fetch where
    # every feed answers 304 prints one line).
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in cells:
        table.add_row(*row)
    Console().print(table)


def plain_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """``title``, then a header and one line per row, each column as wide as its widest
    value (line breaks inside a value become spaces); the last column is not padded."""
    lines = [[" ".join(cell.split()) if "\n" in cell else cell for cell in row] for row in rows]
    table = [list(columns), *lines]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    text = [title]
    for row in table:
        padded = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        text.append("  ".join([*padded, row[-1]]).rstrip())
    return "\n".join(text)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "never"


@click.group(cls=AggregatorGroup)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Config file (default: $AGGREGATOR_CONFIG or ./config.toml).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every fetch and delivery.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines for people (text) or for log collectors (JSON lines).",
)
@click.version_option(__version__, prog_name="aggregator")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: bool, log_format: LogFormat) -> None:
    """Aggregate feeds into stories, publish an Atom feed and email digests."""
    configure_logging(logging.INFO if verbose else logging.WARNING, log_format)
    app = App(config_path)
    ctx.obj = app
    ctx.call_on_close(app.close)


# -- feeds -------------------------------------------------------------------------


@cli.group()
def feeds() -> None:
    """Manage subscribed feeds."""


def feed_url_argument(value: str) -> str:
    """An http(s) URL, or a path to an existing local file."""
    parts = urlsplit(value)
    if parts.scheme in {"http", "https"}:
        if not parts.hostname:
            raise ConfigError(f"invalid feed URL {value!r}: no host name")
        return value
    if parts.scheme and len(parts.scheme) > 1 and parts.scheme != "file":
        raise ConfigError(
            f"unsupported URL scheme {parts.scheme!r} in {value!r} (use http or https)"
        )
    url = resolve_feed_url(value, Path.cwd())
    if not Path(urlsplit(url).path).is_file():
        raise SourceError(value, "no such file")
    return url


@feeds.command("add")
@click.argument("url")
@click.option("--title", default="", help="Display title.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@click.option(
    "--as-page",
    is_flag=True,
    help="Follow a web page without a feed: its article links become entries.",
)
@pass_app
def feeds_add(app: App, url: str, title: str, tags: tuple[str, ...], as_page: bool) -> None:
    """Subscribe to a feed URL, a web page that offers feeds, or a local file.

    Example: aggregator feeds add https://example.com/ --tag tech
    """
    url = feed_url_argument(url)
    if as_page:
        if not url.startswith(("http://", "https://")):
            raise ConfigError("--as-page needs an http or https URL")
        feed, created = app.store.add_feed(url, now=utcnow(), title=title, tags=tags, kind="page")
        click.echo(f"{'added' if created else 'already subscribed'}: page {feed.id} {feed.url}")
        return
    if url.startswith(("http://", "https://")):
        found = asyncio.run(discover_feed(url, app.settings))
        if isinstance(found, str):
            click.echo(f"warning: {found}; added as given, it will be polled", err=True)
        elif found.feed is not None:
            url, title = found.feed.url, title or found.feed.title
        elif found.candidates:
            click.echo(f"several feeds found at {url}; add one of them:")
            for link in found.candidates:
                click.echo(f"  {link.url}  {link.title} ({link.format})")
            sys.exit(1)
        else:
            raise SourceError(
                url,
                'no feed found (tried its <link rel="alternate"> and common paths); '
                "add it with --as-page to follow its article links",
            )
    feed, created = app.store.add_feed(url, now=utcnow(), title=title, tags=tags)
    click.echo(f"{'added' if created else 'already subscribed'}: feed {feed.id} {feed.url}")


async def discover_feed(url: str, settings: Settings) -> Discovery | str:
    """The discovery for ``url``, or why it could not be checked now."""
    from aggregator.sources.discover import discover

    async with build_client(settings.fetch) as client:
        try:
            return await discover(client, url, settings.fetch)
        except BlockedAddressError:
            raise
        except SourceError as exc:
            return f"could not check {url} now ({exc.problem})"


@feeds.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def feeds_list(app: App, as_json: bool) -> None:
    """List feeds with their state (ok, failing, stale, gone), polling times and last error."""
    rows = app.store.list_feeds()
    now, stale_after = utcnow(), timedelta(hours=app.settings.fetch.stale_after_hours)
    if as_json:
        print_json(
            [
                {
                    "id": f.id,
                    "url": f.url,
                    "title": f.title,
                    "tags": f.tags,
                    "kind": f.kind,
                    "state": f.state(now, stale_after),
                    "last_success_at": f.last_success_at,
                    "next_check_at": f.next_check_at,
                    "interval_seconds": f.interval_seconds,
                    "error_count": f.error_count,
                    "failing_since": f.failing_since,
                    "last_error": f.last_error,
                }
                for f in rows
            ]
        )
        return
    print_table(
        "Feeds",
        ["id", "title", "url", "state", "last success", "next check", "errors", "last error"],
        [
            (
                f.id,
                f.title,
                f.url,
                f.state(now, stale_after),
                when(f.last_success_at),
                when(f.next_check_at) if not f.is_gone else "stopped (410)",
                f.error_count,
                f.last_error,
            )
            for f in rows
        ],
    )


@feeds.command("remove")
@click.argument("url_or_id")
@pass_app
def feeds_remove(app: App, url_or_id: str) -> None:
    """Unsubscribe from a feed (by URL or id) and delete its entries."""
    feed = app.store.remove_feed(url_or_id)
    click.echo(f"removed: feed {feed.id} {feed.url}")


@feeds.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@pass_app
def feeds_import(app: App, path: Path) -> None:
    """Subscribe to every feed of an OPML file."""
    outlines = opml.read_opml(path)
    added = 0
    for outline in outlines:
        _, created = app.store.add_feed(
            outline.url, now=utcnow(), title=outline.title, tags=outline.tags
        )
        added += created
    click.echo(f"imported {len(outlines)} feeds ({added} new) from {path}")


@feeds.command("export")
@pass_app
def feeds_export(app: App) -> None:
    """Write all feeds as OPML 2.0 to stdout."""
    sys.stdout.write(
        opml.write_opml(app.store.list_feeds(), title=app.settings.publish.title, now=utcnow())
    )


# -- fetching and ingesting --------------------------------------------------------


def _run_with_progress(
    count: Callable[[], int], work: Callable[[Callable[[FetchOutcome], None]], Any]
) -> Any:
    """``work(advance)`` under a progress bar of ``count()`` steps on a terminal; counted
    only there (a query before the first request, for a bar no one sees otherwise)."""
    if not sys.stderr.isatty():  # no one to show a bar to
        return work(lambda _outcome: None)
    total = count()
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("Fetching", total=total)
        return work(lambda _outcome: progress.advance(task))


# Up to this many feeds, every one is listed. Beyond, a table of hundreds of rows helps no
# one (and rendering it was a tenth of a first pass over 200 feeds): every feed with an
# error is listed, then the feeds with the most news up to this many rows.
LISTED_FEEDS = 20


def print_outcomes(outcomes: Sequence[FetchOutcome]) -> None:
    shown = list(outcomes)
    if len(outcomes) > LISTED_FEEDS:
        failed = [o for o in outcomes if o.error]
        news = sorted(
            (o for o in outcomes if o.new_entries and not o.error), key=lambda o: -o.new_entries
        )
        shown = failed + news[: max(0, LISTED_FEEDS - len(failed))]
    if shown:
        print_table(
            "Fetch results",
            ["feed", "new", "seen", "result"],
            [
                (
                    o.feed.title or o.feed.url,
                    o.new_entries,
                    o.seen_entries,
                    o.error or ("not modified" if o.not_modified else "ok"),
                )
                for o in shown
            ],
        )
    listed = {id(o) for o in shown}
    hidden = [o for o in outcomes if id(o) not in listed]
    with_news = sum(1 for o in hidden if o.new_entries)
    if with_news:
        click.echo(f"{len(hidden)} more feeds are not listed, {with_news} of them with news")
    elif hidden:
        click.echo(f"{len(hidden)} feeds without news are not listed")


@cli.command()
@click.option("--all", "all_feeds", is_flag=True, help="Poll every feed, not only the due ones.")
@click.option(
    "--no-cluster",
    is_flag=True,
    help="Store only; new entries join stories at the next fetch, digest or daemon pass.",
)
@pass_app
def fetch(app: App, all_feeds: bool, no_cluster: bool) -> None:
    """Poll the due feeds once (or all with --all), then exit."""
    store, settings, now = app.store, app.settings, utcnow()
    outcomes: list[FetchOutcome] = _run_with_progress(
        lambda: len(store.due_feeds(now, include_not_due=all_feeds)),
        lambda advance: asyncio.run(
            pipeline.refresh_feeds(
                store, settings, now=now, due_only=not all_feeds, progress=advance
            )
        ),
    )
    if not no_cluster:
        pipeline.cluster_new_entries(store, settings, now=utcnow())
    if not outcomes:
        click.echo("no feed is due (use --all to poll every feed)")
        return
    print_outcomes(outcomes)
    failed = sum(1 for o in outcomes if o.error)
    click.echo(
        f"{len(outcomes)} feeds polled, {sum(o.new_entries for o in outcomes)} new entries, "
        f"{failed} failed"
    )


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_app
def ingest(app: App, paths: tuple[Path, ...]) -> None:
    """Ingest local feed files, HTML pages and text articles (files or folders)."""
    outcomes = pipeline.ingest_paths(app.store, app.settings, paths, now=utcnow())
    pipeline.cluster_new_entries(app.store, app.settings, now=utcnow())
    print_outcomes(outcomes)
    if any(o.error for o in outcomes):
        sys.exit(1)


@cli.command()
@click.option(
    "--days",
    type=click.IntRange(min=1),
    help="Keep entries first seen in the last N days (default: [storage] retention_days).",
)
@pass_app
def prune(app: App, days: int | None) -> None:
    """Delete entries past the retention now; each leaves a tombstone."""
    report = pipeline.prune_entries(app.store, app.settings, now=utcnow(), days=days)
    kept = days or app.settings.storage.retention_days
    expired = f"{report.tombstones_expired} tombstones expired"
    if not kept:
        click.echo(f"retention is off ([storage] retention_days = 0): no entry pruned, {expired}")
        return
    click.echo(
        f"{report.entries} entries first seen over {kept} days ago pruned (tombstoned), "
        f"{report.stories} empty stories deleted, {expired}"
    )


# -- reading -----------------------------------------------------------------------


@cli.group()
def entries() -> None:
    """Read stored entries."""


@entries.command("list")
@click.option("--limit", default=30, show_default=True, help="How many entries.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def entries_list(app: App, limit: int, as_json: bool) -> None:
    """List the newest entries."""
    rows = app.store.list_entries(limit=limit)
    if as_json:
        print_json(
            [
                {
                    "id": e.id,
                    "feed": e.feed_title,
                    "title": e.title,
                    "url": e.url,
                    "published": e.published,
                    "language": e.language,
                    "story_id": e.story_id,
                    "summary": e.summary,
                }
                for e in rows
            ]
        )
        return
    print_table(
        "Entries",
        ["id", "published", "feed", "title", "lang", "story"],
        [(e.id, when(e.published), e.feed_title, e.title, e.language, e.story_id) for e in rows],
    )


@cli.group()
def stories() -> None:
    """Read stories (entries grouped by event)."""


@stories.command("list")
@click.option("--limit", default=20, show_default=True, help="How many stories.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def stories_list(app: App, limit: int, as_json: bool) -> None:
    """List the latest stories with their sources."""
    rows = app.store.list_stories(limit=limit)
    if as_json:
        print_json(
            [
                {
                    "id": s.id,
                    "title": s.title,
                    "updated_at": s.updated_at,
                    "sources": [
                        {"feed": e.feed_title, "title": e.title, "url": e.url} for e in s.entries
                    ],
                }
                for s in rows
            ]
        )
        return
    print_table(
        "Stories",
        ["id", "title", "sources", "outlets"],
        [
            (
                s.id,
                s.title,
                s.source_count,
                ", ".join(dict.fromkeys(e.feed_title for e in s.entries)),
            )
            for s in rows
        ],
    )


# -- publishing --------------------------------------------------------------------


@cli.command()
@pass_app
def publish(app: App) -> None:
    """Write every feed and page of the site into [publish] output_dir (static hosting)."""
    from aggregator.publish.static import write_site

    out = Path(app.settings.publish.output_dir)
    written = write_site(app.store, app.settings, out, now=utcnow())
    click.echo(f"wrote {written.feeds} feed files and {written.pages} pages to {out}")
    hubs = app.settings.publish.websub_hubs
    if hubs and written.changed_topics:
        from aggregator.publish.websub import Announcer

        base = app.settings.publish.base_url.rstrip("/")
        announcer = Announcer()
        try:
            told = announcer.announce(hubs, [base + path for path in written.changed_topics])
        finally:
            announcer.close()
        for failure in told.failures:
            click.echo(failure, err=True)
        click.echo(
            f"WebSub: {len(told.accepted)} announcement(s) accepted, {len(told.failures)} failed"
        )


# -- digests -----------------------------------------------------------------------


@cli.group()
def digest() -> None:
    """Email digests."""


@digest.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def digest_list(app: App, as_json: bool) -> None:
    """List configured digests, their schedule and last issue."""
    rows: list[dict[str, Any]] = []
    for spec in app.settings.digests:
        state = app.store.digest_state(spec.name)
        rows.append(
            {
                "name": spec.name,
                "title": spec.title,
                "schedule": spec.schedule,
                "timezone": spec.timezone,
                "subscribers": len(app.store.list_subscribers(spec.name)),
                "last_run_at": state.last_run_at,
                "next_run_at": state.next_run_at,
            }
        )
    if as_json:
        print_json(rows)
        return
    print_table(
        "Digests",
        ["name", "schedule", "timezone", "subscribers", "last run", "next run"],
        [
            (
                r["name"],
                r["schedule"],
                r["timezone"],
                r["subscribers"],
                when(r["last_run_at"]),
                when(r["next_run_at"]) if r["last_run_at"] else "at once",
            )
            for r in rows
        ],
    )


def preview_issue(app: App, name: str) -> DigestIssue:
    """The issue that would be built now, without storing anything."""
    spec = pipeline.find_digest(app.settings, name)
    pipeline.cluster_new_entries(app.store, app.settings, now=utcnow())  # after fetch --no-cluster
    return pipeline.draft_issue(app.store, app.settings, spec, now=utcnow())


@digest.command("preview")
@click.argument("name")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "html"]), default="text", show_default=True
)
@pass_app
def digest_preview(app: App, name: str, fmt: str) -> None:
    """Show exactly what the next issue of digest NAME would contain."""
    issue = preview_issue(app, name)
    if not issue.stories:
        click.echo(f"digest {name!r} has no new stories since its last issue")
        return
    from aggregator.publish.email import render_issue

    spec = pipeline.find_digest(app.settings, name)
    rendered = render_issue(issue, digest=spec, publish=app.settings.publish)
    # Each subscriber gets their own link here; a preview shows where it goes.
    link = f"{app.settings.publish.base_url.rstrip('/')}/unsubscribe?token=..."
    text, html = rendered.personalized(link)
    click.echo(html if fmt == "html" else text)


@digest.command("send")
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Show recipients and stories; send nothing.")
@pass_app
def digest_send(app: App, name: str, dry_run: bool) -> None:
    """Build an issue of digest NAME now and deliver it to its subscribers."""
    spec = pipeline.find_digest(app.settings, name)
    recipients = app.store.list_subscribers(name)
    if dry_run:
        issue = preview_issue(app, name)
        click.echo(f"would send {len(issue.stories)} stories to {len(recipients)} subscribers:")
        for subscriber in recipients:
            click.echo(f"  {subscriber.email}")
        return
    pipeline.cluster_new_entries(app.store, app.settings, now=utcnow())
    built = pipeline.build_digest_issue(app.store, app.settings, spec, now=utcnow())
    if built is None:
        click.echo(f"digest {name!r} has no new stories since its last issue; nothing sent")
    report = pipeline.deliver_pending(app.store, app.settings, now=utcnow())
    if built is not None:
        click.echo(f"issue {built.id}: {len(built.stories)} stories")
    click.echo(
        f"deliveries: {report.sent} sent, {report.retrying} to retry, {report.failed} failed"
    )
    if report.failed or report.retrying:
        sys.exit(1)


@digest.command("status")
@click.argument("name")
@click.option("--issue", "issue_id", type=int, default=None, help="This issue (default: latest).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def digest_status(app: App, name: str, issue_id: int | None, as_json: bool) -> None:
    """Show the deliveries of an issue of digest NAME by state."""
    pipeline.find_digest(app.settings, name)
    if issue_id is None:
        latest = app.store.latest_issue(name)
        if latest is None:
            raise NotFoundError(f"digest {name!r} has no issue yet")
        issue = latest
    else:
        issue = app.store.get_issue(issue_id)
        if issue.digest != name:
            raise NotFoundError(
                f"issue {issue_id} belongs to digest {issue.digest!r}, not {name!r}"
            )
    rows = app.store.issue_deliveries(issue.id)
    counts = {state.value: 0 for state in DeliveryState}
    for row in rows:
        counts[row.state.value] += 1
    if as_json:
        print_json(
            {
                "issue": issue.id,
                "title": issue.title,
                "created_at": issue.created_at,
                "counts": counts,
                "deliveries": [
                    {
                        "email": d.email,
                        "state": d.state.value,
                        "attempts": d.attempts,
                        "next_attempt_at": d.next_attempt_at,
                        "sent_at": d.sent_at,
                        "last_error": d.last_error,
                    }
                    for d in rows
                ],
            }
        )
        return
    click.echo(
        f"issue {issue.id} ({issue.title}, {when(issue.created_at)}): "
        + ", ".join(f"{count} {state}" for state, count in counts.items())
    )
    unfinished = [d for d in rows if d.state is not DeliveryState.SENT]
    if unfinished:
        print_table(
            "Not sent",
            ["email", "state", "attempts", "next attempt", "last error"],
            [
                (
                    d.email,
                    d.state.value,
                    d.attempts,
                    (when(d.next_attempt_at) if d.next_attempt_at else "now")
                    if d.state is DeliveryState.PENDING
                    else "",
                    d.last_error,
                )
                for d in unfinished
            ],
        )


# -- subscribers -------------------------------------------------------------------


@cli.group()
def subscribers() -> None:
    """Manage digest subscribers."""


@subscribers.command("add")
@click.argument("email")
@click.option("--digest", "name", required=True, help="Digest name.")
@pass_app
def subscribers_add(app: App, email: str, name: str) -> None:
    """Subscribe EMAIL to a digest."""
    from aggregator.digest.addresses import check_email

    pipeline.find_digest(app.settings, name)
    subscriber, created = app.store.add_subscriber(name, check_email(email), now=utcnow())
    click.echo(f"{'subscribed' if created else 'already subscribed'}: {subscriber.email} to {name}")


@subscribers.command("list")
@click.option("--digest", "name", default=None, help="Only this digest.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def subscribers_list(app: App, name: str | None, as_json: bool) -> None:
    """List active subscribers."""
    if name is not None:
        pipeline.find_digest(app.settings, name)
    rows = app.store.list_subscribers(name)
    if as_json:
        print_json([{"id": s.id, "digest": s.digest, "email": s.email} for s in rows])
        return
    print_table("Subscribers", ["digest", "email"], [(s.digest, s.email) for s in rows])


@subscribers.command("remove")
@click.argument("email")
@click.option("--digest", "name", required=True, help="Digest name.")
@pass_app
def subscribers_remove(app: App, email: str, name: str) -> None:
    """Unsubscribe EMAIL from a digest, effective at once."""
    pipeline.find_digest(app.settings, name)
    app.store.remove_subscriber(name, email.strip(), now=utcnow())
    click.echo(f"unsubscribed: {email.strip()} from {name}")


@subscribers.command("process-unsubscribes")
@click.option(
    "--maildir",
    default="",
    help="Read this Maildir instead of [mail] unsubscribe_maildir.",
)
@pass_app
def subscribers_process_unsubscribes(app: App, maildir: str) -> None:
    """Act once on the unsubscribe requests mailed to [mail] unsubscribe_address (the
    daemon does it every tick)."""
    if not (maildir or app.settings.mail.unsubscribe_maildir):
        raise ConfigError("no Maildir to read: set [mail] unsubscribe_maildir or pass --maildir")
    report = pipeline.process_unsubscribe_mail(
        app.store, app.settings, now=utcnow(), maildir=maildir
    )
    click.echo(
        f"unsubscribed: {report.unsubscribed}, set aside as invalid: {report.invalid}, "
        f"left for the next run: {report.retry}"
    )


# -- running -----------------------------------------------------------------------


@cli.command()
@pass_app
def run(app: App) -> None:
    """Run the daemon: scheduler and web server in one process (Ctrl-C stops it)."""
    run_daemon(app, schedule=True)


@cli.command()
@pass_app
def serve(app: App) -> None:
    """Run the web server alone (no polling, no digests)."""
    run_daemon(app, schedule=False)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def status(app: App, as_json: bool) -> None:
    """What the daemon is doing: next fetches and digests, deliveries, stale feeds."""
    report = pipeline.status_report(app.store, app.settings, now=utcnow())
    if as_json:
        print_json(report)
        return
    daemon, feeds_part = report["daemon"], report["feeds"]
    states = ", ".join(f"{n} {state}" for state, n in sorted(feeds_part["by_state"].items()))
    click.echo(f"daemon: {daemon['detail']}")
    click.echo(
        f"feeds: {feeds_part['total']} ({states or 'none'}); {feeds_part['with_errors']} with "
        f"errors; last success {when(feeds_part['last_success_at'])}"
    )
    print_table(
        "Next fetches", ["at", "feed"], [(when(f["at"]), f["url"]) for f in report["next_fetches"]]
    )
    print_table(
        "Digests",
        ["name", "schedule", "next run", "last issue", "stories", "deliveries"],
        [
            (
                d["name"],
                d["schedule"],
                when(d["next_run_at"]),
                f"#{d['last_issue']['id']} {when(d['last_issue']['created_at'])}"
                if d["last_issue"]
                else "none yet",
                d["last_issue"]["stories"] if d["last_issue"] else "",
                _counts(d["last_issue"]["deliveries"]) if d["last_issue"] else "",
            )
            for d in report["digests"]
        ],
    )
    if report["stale_feeds"]:
        print_table(
            "Stale feeds (failing too long, still retried)",
            ["feed", "failing since", "last error"],
            [(f["url"], when(f["failing_since"]), f["last_error"]) for f in report["stale_feeds"]],
        )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "none"


@cli.command()
@pass_app
def reload(app: App) -> None:
    """Make the running daemon re-read its config (SIGHUP), after checking the config."""
    from aggregator import instance

    url = app.settings.storage.url  # loads and validates: a bad config is refused here
    holder = instance.holder_of(url)
    if holder is None:
        raise DaemonRunningError("no aggregator daemon is running on this database")
    alive = holder.alive()
    if alive is None:
        raise DaemonRunningError(
            f"the daemon runs on another machine or is not known ({holder.describe()}): "
            "send it SIGHUP there, e.g. `systemctl reload aggregator`"
        )
    try:
        if not alive:
            raise ProcessLookupError(holder.pid)
        os.kill(holder.pid, signal.SIGHUP)
    except ProcessLookupError:
        raise DaemonRunningError(
            f"the daemon recorded for this database ({holder.describe()}) is not running"
        ) from None
    click.echo(f"asked the daemon ({holder.describe()}) to reload; its log tells the outcome")


def run_daemon(app: App, *, schedule: bool) -> None:
    from aggregator.daemon import Daemon  # keeps uvicorn out of short start-ups
    from aggregator.memory import tune_malloc

    tune_malloc()
    logging.getLogger("aggregator").setLevel(logging.INFO)
    config_path = find_config(app.config_path, os.environ)
    daemon = Daemon(app.store, app.settings, load_settings=lambda: load(config_path))
    asyncio.run(daemon.run(schedule=schedule))


def main() -> NoReturn:
    try:
        cli(prog_name="aggregator")
    except SystemExit as exc:  # how click ends every command, with its status
        exit_now(exc.code)
    exit_now(0)


def exit_now(code: str | int | None) -> NoReturn:
    """End the process, skipping the interpreter's teardown.

    By the time a command returns, click has closed the store and the workers. Tearing
    down the modules (SQLAlchemy, aiohttp, lxml...) would then take another 0.2 s, a
    fifth of a polling pass that finds nothing new; so flush what is buffered and stop.
    """
    if isinstance(code, str):  # sys.exit("message"): printed, status 1, as Python does
        click.echo(code, err=True)
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (| head): nothing left to tell
            pass
    os._exit(code or 0)


if __name__ == "__main__":
    main()
