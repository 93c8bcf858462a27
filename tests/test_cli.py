"""The command line: every contract command, JSON output, and one-line user errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from aggregator.cli import _run_with_progress, cli, plain_table, print_outcomes
from aggregator.model import Feed, FetchOutcome

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK_OK = {"AGGREGATOR_FETCH_ALLOW_PRIVATE_NETWORKS": "true"}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A copy of the bundled config and feeds, so tests never write into the repository."""
    shutil.copytree(ROOT / "feeds", tmp_path / "feeds")
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    return tmp_path


def run(workdir: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--config", str(workdir / "config.toml"), *args], env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_fetch_stores_every_bundled_entry_and_lists_them(workdir: Path) -> None:
    code, out = run(workdir, "fetch")
    assert code == 0 and "5 feeds polled, 48 new entries, 0 failed" in out
    _, out = run(workdir, "feeds", "list", "--json")
    assert {f["state"] for f in json.loads(out)} == {"ok"}
    code, out = run(workdir, "entries", "list", "--limit", "100", "--json")
    rows = json.loads(out)
    assert len(rows) == 48 and all(r["story_id"] for r in rows)
    code, out = run(workdir, "fetch")
    assert "no feed is due" in out
    code, out = run(workdir, "fetch", "--all")
    assert "0 new entries" in out  # unchanged files cost no parsing


def test_fetch_no_cluster_stores_and_the_digest_preview_groups_later(workdir: Path) -> None:
    code, out = run(workdir, "fetch", "--no-cluster")
    assert code == 0 and "48 new entries" in out
    _, out = run(workdir, "entries", "list", "--limit", "100", "--json")
    assert not any(r["story_id"] for r in json.loads(out))
    run(workdir, "digest", "preview", "daily")
    _, out = run(workdir, "entries", "list", "--limit", "100", "--json")
    assert all(r["story_id"] for r in json.loads(out))


def test_status_shows_feeds_next_fetches_and_the_last_issues_deliveries(workdir: Path) -> None:
    _, out = run(workdir, "status", "--json")
    before = json.loads(out)
    assert before["daemon"]["running"] is False and before["digests"][0]["last_issue"] is None
    run(workdir, "fetch")
    run(workdir, "digest", "send", "daily")
    code, out = run(workdir, "status", "--json")
    report = json.loads(out)
    assert code == 0 and report["feeds"]["by_state"] == {"ok": 5}
    assert len(report["next_fetches"]) == 5 and report["stale_feeds"] == []
    (daily,) = report["digests"]
    assert daily["last_issue"]["stories"] > 0
    assert daily["last_issue"]["deliveries"] == {"sent": 1}  # the config's one subscriber
    code, text = run(workdir, "status")
    assert code == 0 and "5 ok" in text and "1 sent" in text


def test_stories_list_groups_sources(workdir: Path) -> None:
    run(workdir, "fetch")
    _, out = run(workdir, "stories", "list", "--limit", "100", "--json")
    stories = json.loads(out)
    assert max(len(s["sources"]) for s in stories) >= 2
    assert sum(len(s["sources"]) for s in stories) == 48


def test_feeds_add_list_remove_and_opml_round_trip(workdir: Path) -> None:
    code, out = run(
        workdir,
        "feeds",
        "add",
        "http://127.0.0.1:9/rss",
        "--title",
        "News",
        "--tag",
        "a",
        "--tag",
        "b",
        env=LOOPBACK_OK,
    )
    # Nothing listens on port 9: the feed cannot be checked now and is added as given.
    assert code == 0 and "warning: could not check http://127.0.0.1:9/rss now" in out
    assert "added: feed 6 http://127.0.0.1:9/rss" in out
    _, out = run(workdir, "feeds", "add", "http://127.0.0.1:9/rss", env=LOOPBACK_OK)
    assert "already subscribed" in out
    _, out = run(workdir, "feeds", "list", "--json")
    feeds = {f["url"]: f for f in json.loads(out)}
    assert feeds["http://127.0.0.1:9/rss"]["tags"] == ["a", "b"]
    assert feeds["http://127.0.0.1:9/rss"]["state"] == "new"
    _, opml = run(workdir, "feeds", "export")
    assert "http://127.0.0.1:9/rss" in opml and "file://" not in opml
    run(workdir, "feeds", "remove", "http://127.0.0.1:9/rss")
    _, out = run(workdir, "feeds", "list", "--json")
    assert "http://127.0.0.1:9/rss" not in out
    (workdir / "subs.opml").write_text(opml, encoding="utf-8")
    code, out = run(workdir, "feeds", "import", str(workdir / "subs.opml"))
    assert code == 0 and "imported 1 feeds (1 new)" in out
    _, out = run(workdir, "feeds", "list", "--json")
    (back,) = [f for f in json.loads(out) if f["url"] == "http://127.0.0.1:9/rss"]
    assert back["title"] == "News" and back["tags"] == ["a", "b"]  # the round trip keeps both


def test_opml_folders_become_tags(workdir: Path) -> None:
    (workdir / "in.opml").write_text(
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><opml version="2.0"><head/><body>'
        '<outline text="Tech"><outline text="A" xmlUrl="https://a.example/feed"/></outline>'
        '<outline text="B &amp; co" xmlUrl="https://b.example/feed" category="/news,/vn"/>'
        '<outline text="bad" xmlUrl="javascript:alert(1)"/></body></opml>',
        encoding="utf-8",
    )
    code, out = run(workdir, "feeds", "import", str(workdir / "in.opml"))
    assert code == 0 and "imported 2 feeds" in out
    _, out = run(workdir, "feeds", "list", "--json")
    feeds = {f["url"]: f for f in json.loads(out)}
    assert feeds["https://a.example/feed"]["tags"] == ["Tech"]
    assert feeds["https://b.example/feed"]["title"] == "B & co"
    assert feeds["https://b.example/feed"]["tags"] == ["news", "vn"]


def test_ingest_reads_files_and_folders(workdir: Path) -> None:
    articles = ROOT / "tests" / "fixtures" / "articles"
    code, out = run(
        workdir,
        "ingest",
        str(articles / "vi_scraped_article.txt"),
        str(articles / "vi_article_page.html"),
    )
    assert code == 0
    _, out = run(workdir, "entries", "list", "--json")
    titles = [e["title"] for e in json.loads(out)]
    assert len(titles) == 2 and all(titles)
    _, out = run(workdir, "fetch", "--all")
    assert "articles" not in out  # ingested folders are never polled


def test_digest_preview_send_and_subscribers(workdir: Path) -> None:
    run(workdir, "fetch")
    code, out = run(workdir, "subscribers", "add", "New.Reader@example.org", "--digest", "daily")
    assert code == 0 and "subscribed" in out
    _, out = run(workdir, "subscribers", "list", "--json")
    assert {s["email"] for s in json.loads(out)} == {"reader@localhost", "New.Reader@example.org"}
    _, preview = run(workdir, "digest", "preview", "daily")
    assert preview.startswith("Daily digest – ") and "Also reported by" in preview
    _, html = run(workdir, "digest", "preview", "daily", "--format", "html")
    assert html.lstrip().lower().startswith("<!doctype html>")
    _, dry = run(workdir, "digest", "send", "daily", "--dry-run")
    assert "to 2 subscribers" in dry and not (workdir / "var" / "mail" / "new").exists()
    code, out = run(workdir, "digest", "send", "daily")
    assert code == 0 and "2 sent" in out
    assert len(list((workdir / "var" / "mail" / "new").iterdir())) == 2
    _, out = run(workdir, "digest", "send", "daily")
    assert "no new stories" in out  # the same stories are never sent twice
    _, out = run(workdir, "digest", "list", "--json")
    (daily,) = json.loads(out)
    assert daily["subscribers"] == 2 and daily["last_run_at"]
    run(workdir, "subscribers", "remove", "new.reader@example.org", "--digest", "daily")
    _, out = run(workdir, "subscribers", "list", "--json")
    assert [s["email"] for s in json.loads(out)] == ["reader@localhost"]


def test_digest_status_shows_an_issue_s_deliveries_by_state(workdir: Path) -> None:
    code, out = run(workdir, "digest", "status", "daily")
    assert code == 1 and "has no issue yet" in out
    run(workdir, "fetch")
    run(workdir, "subscribers", "add", "second@example.org", "--digest", "daily")
    run(workdir, "digest", "send", "daily")
    code, out = run(workdir, "digest", "status", "daily")
    assert code == 0 and "2 sent" in out and "0 failed" in out
    _, out = run(workdir, "digest", "status", "daily", "--json")
    status = json.loads(out)
    assert status["counts"] == {"pending": 0, "sending": 0, "sent": 2, "failed": 0}
    assert {d["email"] for d in status["deliveries"]} == {"reader@localhost", "second@example.org"}
    code, out = run(workdir, "digest", "status", "daily", "--issue", "99")
    assert code == 1 and "no digest issue with id 99" in out


def test_the_preview_shows_where_the_unsubscribe_link_goes(workdir: Path) -> None:
    run(workdir, "fetch")
    _, preview = run(workdir, "digest", "preview", "daily")
    assert "Unsubscribe: http://127.0.0.1:8080/unsubscribe?token=..." in preview


def test_publish_writes_every_feed_and_page_for_static_hosting(workdir: Path) -> None:
    run(workdir, "fetch")
    run(workdir, "digest", "send", "daily")
    code, out = run(workdir, "publish")
    assert code == 0 and "feed files" in out
    public = workdir / "var" / "public"
    atom = (public / "feeds" / "all.atom").read_bytes()
    assert atom.count(b"<entry") == 48
    for name in ("all.atom", "all.rss", "stories.atom"):
        assert feedparser.parse((public / "feeds" / name).read_bytes()).bozo == 0, name
    assert len(json.loads((public / "feeds" / "all.json").read_bytes())["items"]) == 48
    (issue,) = feedparser.parse((public / "digests" / "daily.atom").read_bytes()).entries
    issue_id = issue.link.rsplit("/", 1)[1]
    assert (public / "issues" / issue_id / "index.html").is_file()
    assert issue.link in (public / "digests" / "daily" / "index.html").read_text()
    home = (public / "index.html").read_text()
    assert 'rel="alternate" type="application/atom+xml"' in home
    stories = feedparser.parse((public / "feeds" / "stories.atom").read_bytes()).entries
    assert stories
    for story in stories:
        assert (public / "stories" / story.link.rsplit("/", 1)[1] / "index.html").is_file()


# -- user errors: one line, non-zero, no traceback (through the real entry point) ------


def run_process(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aggregator", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)},
    )


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (None, ["feeds", "list"], "error: config file config.toml not found"),
        ("[server\nport = 1", ["feeds", "list"], "error: config.toml: invalid TOML"),
        ("[fetch]\nspeed = 1\n", ["feeds", "list"], "error: config.toml:2: unknown key 'speed'"),
        ("", ["feeds", "remove", "https://nope.example/feed"], "error: no feed with URL or id"),
        ("", ["feeds", "add", "/no/such/file.xml"], "error: /no/such/file.xml: no such file"),
        ("", ["feeds", "add", "gopher://x.example/"], "error: unsupported URL scheme 'gopher'"),
        ("", ["feeds", "add", "http:///feed"], "error: invalid feed URL"),
        ("", ["ingest", "/no/such/folder"], "error: /no/such/folder: no such file or folder"),
        ("", ["digest", "preview", "weekly"], "error: no digest named 'weekly'"),
        (
            "",
            ["subscribers", "add", "not-an-email", "--digest", "daily"],
            "error: 'not-an-email' is not a valid email",
        ),
        ('[storage]\nurl = "mysql://x"\n', ["feeds", "list"], "error: "),
        ("", ["reload"], "error: no aggregator daemon is running on"),
    ],
)
def test_user_errors_print_one_line(
    tmp_path: Path, setup: str | None, args: list[str], message: str
) -> None:
    if setup is not None:
        digest = '[[digests]]\nname = "daily"\n' if "[" not in setup else ""
        (tmp_path / "config.toml").write_text(setup + "\n" + digest, encoding="utf-8")
    result = run_process(tmp_path, *args)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(message), lines[0]


def test_help_works_without_a_config(tmp_path: Path) -> None:
    result = run_process(tmp_path, "--help")
    assert result.returncode == 0
    for command in (
        "feeds",
        "fetch",
        "ingest",
        "entries",
        "stories",
        "publish",
        "digest",
        "subscribers",
        "run",
        "serve",
    ):
        assert command in result.stdout


def test_a_broken_opml_file_is_one_error_naming_the_line(workdir: Path) -> None:
    (workdir / "broken.opml").write_text(
        '<?xml version="1.0"?>\n<opml version="2.0">\n<head/>\n<body>\n'
        '<outline text="A" xmlUrl="https://a.example/feed">\n</body>\n</opml>\n',
        encoding="utf-8",
    )
    code, out = run(workdir, "feeds", "import", str(workdir / "broken.opml"))
    assert code == 1
    expected = "not a valid OPML file (mismatched tag: line 6, column 2)"
    assert out.strip() == f"error: {workdir / 'broken.opml'}: {expected}"
    _, listing = run(workdir, "feeds", "list", "--json")
    assert "a.example" not in listing  # nothing half-imported


def test_prune_prints_one_summary_line(workdir: Path) -> None:
    run(workdir, "fetch")
    code, out = run(workdir, "prune")
    assert code == 0 and out.startswith("retention is off")
    code, out = run(workdir, "prune", "--days", "3")
    assert code == 0 and out.startswith("0 entries first seen over 3 days ago pruned")
    _, out = run(workdir, "entries", "list", "--limit", "100", "--json")
    assert len(json.loads(out)) == 48  # all first seen just now
    code, out = run(workdir, "prune", "--days", "0")
    assert code != 0


def test_a_long_fetch_lists_only_feeds_with_news_or_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    outcomes = [
        FetchOutcome(feed=Feed(id=i, url=f"https://f.example/{i}"), not_modified=True)
        for i in range(30)
    ]
    outcomes[3] = FetchOutcome(feed=Feed(id=3, url="https://news.example/"), new_entries=2)
    outcomes[7] = FetchOutcome(feed=Feed(id=7, url="https://down.example/"), error="timed out")
    print_outcomes(outcomes)
    out = capsys.readouterr().out
    assert "news.example" in out and "down.example" in out and "timed out" in out
    assert "f.example" not in out
    assert "28 feeds without news are not listed" in out
    print_outcomes(outcomes[:20])  # a short pass lists every feed
    assert capsys.readouterr().out.count("f.example") == 18


def test_a_long_fetch_with_news_everywhere_lists_the_errors_then_the_most_news(
    capsys: pytest.CaptureFixture[str],
) -> None:
    outcomes = [
        FetchOutcome(feed=Feed(id=i, url=f"https://f{i}.example/"), new_entries=i + 1)
        for i in range(200)
    ]
    outcomes[5] = FetchOutcome(feed=Feed(id=5, url="https://down.example/"), error="timed out")
    print_outcomes(outcomes)
    out = capsys.readouterr().out
    assert "down.example" in out
    listed = {int(n) for n in re.findall(r"https://f(\d+)\.example/", out)}
    assert listed == set(range(181, 200))  # 19 rows left beside the error: the most news
    assert "180 more feeds are not listed, 180 of them with news" in out


def test_json_log_lines_carry_each_events_fields(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("", encoding="utf-8")
    result = run_process(
        tmp_path, "--log-format", "json", "-v", "ingest", str(ROOT / "feeds" / "tin-nhanh.xml")
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert events and all({"time", "level", "logger", "message"} <= e.keys() for e in events)
    assert all(datetime.fromisoformat(e["time"]).utcoffset() == timedelta(0) for e in events)
    assert any(isinstance(e.get("new"), int) and e["new"] > 0 for e in events), events


def test_a_table_printed_for_a_pipe_is_plain_aligned_columns_with_whole_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    long_error = "https://down.example/feed.xml: refused: 10.0.0.1 is a private address " * 3
    outcomes = [
        FetchOutcome(feed=Feed(id=1, url="https://news.example/"), new_entries=12, seen_entries=30),
        FetchOutcome(feed=Feed(id=2, url="https://down.example/", title="Down"), error=long_error),
    ]
    print_outcomes(outcomes)  # capsys's stdout is not a terminal, as cron's and a pipe's
    lines = capsys.readouterr().out.splitlines()
    assert not any(set(line) & set("┏━┃│└─") for line in lines)  # no box drawing
    title, header, first, second = lines[:4]
    assert title == "Fetch results" and header.split() == ["feed", "new", "seen", "result"]
    assert first.split() == ["https://news.example/", "12", "30", "ok"]
    # The error whole (not folded to a terminal's width), on its row's one line.
    assert second.startswith("Down ") and second.endswith(long_error.strip())
    # Every column starts where its header does.
    for name in ("new", "seen", "result"):
        at = header.index(name)
        assert first[at - 2 : at] == "  " and second[at - 2 : at] == "  " and first[at] != " "


def test_a_plain_table_keeps_a_value_with_a_line_break_on_its_row() -> None:
    text = plain_table("T", ["a", "b"], [["one\ntwo", "x"], ["three", "four\nfive"]])
    assert text.splitlines() == ["T", "a        b", "one two  x", "three    four five"]


@pytest.mark.parametrize("terminal", [True, False])
def test_fetch_counts_due_feeds_only_for_a_progress_bar_someone_sees(
    terminal: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted: list[int] = []
    advanced: list[FetchOutcome] = []
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)

    def count() -> int:
        counted.append(2)
        return 2

    def work(advance: Callable[[FetchOutcome], None]) -> str:
        for n in range(2):
            outcome = FetchOutcome(feed=Feed(id=n, url=f"https://x.example/{n}"))
            advance(outcome)
            advanced.append(outcome)
        return "done"

    assert _run_with_progress(count, work) == "done"
    assert len(advanced) == 2
    assert counted == ([2] if terminal else [])
