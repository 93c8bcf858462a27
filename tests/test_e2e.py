"""End to end: ``aggregator run`` as a real process, feeds over loopback HTTP, SMTP digest."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import feedparser
import httpx
import pytest

from bench.corpus import generate_corpus
from bench.feed_server import FeedServer
from tests.conftest import PG_ENV, PG_URL, postgres_schema
from tests.loopback import free_port, smtp_server

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = {f"/{p.name}": p.read_bytes() for p in (ROOT / "feeds").iterdir() if p.suffix != ".md"}


def write_config(tmp_path: Path, feed_base: str, smtp_port: int, web_port: int) -> Path:
    feeds = "".join(f'[[feeds]]\nurl = "{feed_base}{path}"\n' for path in sorted(BUNDLED))
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[storage]
url = "sqlite:///var/e2e.db"
[fetch]
allow_private_networks = true
timeout = 10
[server]
host = "127.0.0.1"
port = {web_port}
[publish]
base_url = "http://127.0.0.1:{web_port}"
[mail]
transport = "smtp"
from = "Digest <digest@agg.example>"
[mail.smtp]
host = "127.0.0.1"
port = {smtp_port}
starttls = false
[schedule]
tick_seconds = 2
{feeds}
[[digests]]
name = "daily"
title = "Daily digest"
schedule = "0 7 * * *"
timezone = "Asia/Ho_Chi_Minh"
subscribers = ["alice@example.org", "bob@example.org"]
""",
        encoding="utf-8",
    )
    return config


@contextmanager
def daemon(config: Path) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "--config", str(config), "run"],
        cwd=config.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def run_command(config: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """One short ``aggregator`` command as a process, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "aggregator", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def wait_for(check, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("condition not met within the timeout")


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_daemon_serves_the_feed_and_mails_the_digest(tmp_path: Path, stop_signal: int) -> None:
    web_port = free_port()
    with FeedServer(BUNDLED) as feeds, smtp_server() as smtp:
        config = write_config(tmp_path, feeds.base_url, smtp.port, web_port)
        with daemon(config) as process:
            url = f"http://127.0.0.1:{web_port}/feeds/all.atom"

            def full_feed() -> bytes | None:
                response = httpx.get(url, timeout=5)
                return response.content if response.content.count(b"<entry") == 48 else None

            body = wait_for(full_feed)
            parsed = feedparser.parse(body)
            assert parsed.bozo == 0 and len(parsed.entries) == 48
            assert len({e.id for e in parsed.entries}) == 48
            stamps = [e.published_parsed for e in parsed.entries]
            assert stamps == sorted(stamps, reverse=True)  # newest first

            etag = httpx.get(url, timeout=5).headers["etag"]
            assert httpx.get(url, headers={"If-None-Match": etag}, timeout=5).status_code == 304
            health = httpx.get(f"http://127.0.0.1:{web_port}/healthz", timeout=5).json()
            assert health["status"] == "ok" and health["database"] is True

            wait_for(lambda: len(smtp.collector.messages) >= 2)
            time.sleep(3)  # one more tick: nothing may be sent twice
            process.send_signal(stop_signal)
            output, _ = process.communicate(timeout=30)
            assert process.returncode == 0, output
            assert "Traceback" not in output and "Stopped" in output

        recipients = sorted(rcpt for _, rcpts in smtp.collector.envelopes for rcpt in rcpts)
        assert recipients == ["alice@example.org", "bob@example.org"]
        message = smtp.collector.messages[0]
        assert message["Subject"].startswith("Daily digest – ")
        assert message.get_content_type() == "multipart/alternative"
        text = message.get_body(("plain",)).get_content()
        assert "Also reported by" in text
        assert len({m["Message-ID"] for m in smtp.collector.messages}) == 2


def test_a_second_start_reuses_the_store_without_resending(tmp_path: Path) -> None:
    web_port = free_port()
    with FeedServer(BUNDLED) as feeds, smtp_server() as smtp:
        config = write_config(tmp_path, feeds.base_url, smtp.port, web_port)
        for _ in range(2):
            with daemon(config) as process:
                wait_for(
                    lambda: (
                        httpx.get(f"http://127.0.0.1:{web_port}/healthz", timeout=5)
                        .json()
                        .get("last_tick")
                    )
                )
                wait_for(lambda: len(smtp.collector.messages) >= 2)
                process.send_signal(signal.SIGTERM)
                assert process.wait(timeout=30) == 0
        assert len(smtp.collector.messages) == 2  # the restart sent nothing again


def test_a_busy_port_is_one_clear_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        config = write_config(tmp_path, "http://127.0.0.1:9", 9, port)
        result = run_command(config, "run", cwd=tmp_path)
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: cannot listen on 127.0.0.1:{port}")
    )
    assert "Traceback" not in result.stderr


def test_the_readme_main_job_on_the_bundled_config(tmp_path: Path) -> None:
    """README command 1: the bundled config and feeds, Maildir delivery, Ctrl-C; then serve."""
    shutil.copytree(ROOT / "feeds", tmp_path / "feeds")
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    port = free_port()
    env = {**os.environ, "AGGREGATOR_SERVER_PORT": str(port)}
    env.pop("AGGREGATOR_CONFIG", None)
    base = f"http://127.0.0.1:{port}"

    def start(command: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "aggregator", command],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    process = start("run")
    try:
        started = time.monotonic()
        body = wait_for(
            lambda: (lambda r: r.content if r.content.count(b"<entry") == 48 else None)(
                httpx.get(f"{base}/feeds/all.atom", timeout=5)
            )
        )
        assert time.monotonic() - started < 30
        assert feedparser.parse(body).bozo == 0
        mail = tmp_path / "var" / "mail" / "new"
        wait_for(lambda: mail.is_dir() and any(mail.iterdir()))
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 0 and "Traceback" not in output
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    (message,) = list(mail.iterdir())
    assert b"To: reader@localhost" in message.read_bytes()

    server = start("serve")
    try:
        health = wait_for(lambda: httpx.get(f"{base}/healthz", timeout=5).json())
        assert health["scheduler"] == "disabled" and health["status"] == "ok"
        assert httpx.get(f"{base}/feeds/all.atom", timeout=5).content.count(b"<entry") == 48
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
        assert server.returncode == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert len(list(mail.iterdir())) == 1  # serve alone sends nothing


def read_until(process: subprocess.Popen[str], marker: str, timeout: float = 30.0) -> str:
    """The daemon's output up to the first line containing ``marker``."""
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"{marker!r} not in the daemon's output:\n{''.join(seen)}")


def test_a_second_daemon_on_one_database_is_refused_naming_the_first(tmp_path: Path) -> None:
    with FeedServer(BUNDLED) as feeds, smtp_server() as smtp:
        config = write_config(tmp_path, feeds.base_url, smtp.port, free_port())
        with daemon(config) as first:
            read_until(first, "Serving")
            other = tmp_path / "other"
            other.mkdir()
            # Another web port, the same database file.
            second_config = write_config(other, feeds.base_url, smtp.port, free_port())
            text = second_config.read_text(encoding="utf-8")
            database = tmp_path / "var" / "e2e.db"
            second_config.write_text(
                text.replace('url = "sqlite:///var/e2e.db"', f'url = "sqlite:///{database}"'),
                encoding="utf-8",
            )
            result = run_command(second_config, "run", cwd=other)
            assert result.returncode == 1 and "Traceback" not in result.stderr
            (line,) = result.stderr.strip().splitlines()[-1:]
            assert line.startswith("error: another aggregator daemon is already running")
            assert f"pid {first.pid}" in line
            assert first.poll() is None  # the first daemon is untouched
            first.send_signal(signal.SIGTERM)
            assert first.wait(timeout=30) == 0
        assert not (tmp_path / "var" / "e2e.db.lock").exists()


def test_sighup_reloads_the_config_and_a_bad_one_is_rejected(tmp_path: Path) -> None:
    with FeedServer(BUNDLED) as feeds, smtp_server() as smtp:
        config = write_config(tmp_path, feeds.base_url, smtp.port, free_port())
        original = config.read_text(encoding="utf-8")
        # Start with one feed fewer than the config will have.
        dropped = f'[[feeds]]\nurl = "{feeds.base_url}/the-lantern.xml"\n'
        assert dropped in original
        config.write_text(original.replace(dropped, ""), encoding="utf-8")
        with daemon(config) as process:
            read_until(process, "Polling pass done")
            config.write_text(original, encoding="utf-8")
            reload = run_command(config, "reload", cwd=tmp_path)
            assert reload.returncode == 0, reload.stderr
            assert f"pid {process.pid}" in reload.stdout
            assert "feeds=5" in read_until(process, "Config reloaded")
            # The new feed is polled by the running daemon.
            read_until(process, "the-lantern.xml")

            config.write_text(original + "\n[fetch]\nconcurrency = 0\n", encoding="utf-8")
            refused = run_command(config, "reload", cwd=tmp_path)
            assert refused.returncode == 1 and refused.stderr.startswith("error: ")
            process.send_signal(signal.SIGHUP)  # the daemon checks for itself too
            assert "Config reload rejected" in read_until(process, "Config reload rejected")
            assert process.poll() is None
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0


def entry_rows(database: Path) -> list[tuple[str, str]]:
    """(feed URL, entry key) of every stored entry; none while the schema is being made."""
    if not database.exists():
        return []
    with sqlite3.connect(database) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'entries'").fetchone():
            return []
        return sorted(
            db.execute(
                "SELECT feeds.url, entries.entry_key FROM entries"
                " JOIN feeds ON feeds.id = entries.feed_id"
            ).fetchall()
        )


def test_a_daemon_killed_mid_pass_loses_and_duplicates_no_entry(tmp_path: Path) -> None:
    corpus = generate_corpus(feeds=24, entries_per_feed=8, seed=5)
    paths = sorted(p for p in corpus.files if p.startswith("feeds/"))
    # Slow answers and two at a time: the pass takes seconds, so the kill lands inside it.
    with FeedServer(corpus.files, content_types=corpus.content_types, latency=0.3) as server:
        urls = {server.url(p) for p in paths}
        feeds = "".join(f'[[feeds]]\nurl = "{url}"\n' for url in sorted(urls))
        config = tmp_path / "config.toml"
        config.write_text(
            '[storage]\nurl = "sqlite:///var/killed.db"\n'
            "[fetch]\nallow_private_networks = true\nconcurrency = 2\nper_host = 2\n"
            f"[server]\nport = {free_port()}\n[schedule]\ntick_seconds = 1\n" + feeds,
            encoding="utf-8",
        )
        database = tmp_path / "var" / "killed.db"
        with daemon(config) as process:
            wait_for(lambda: 0 < len(entry_rows(database)))
            stored_before_kill = len(entry_rows(database))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        expected = sum(1 for path, _ in corpus.labels if path in set(paths))
        assert stored_before_kill < expected  # killed mid-pass
        with daemon(config) as process:
            wait_for(lambda: len(entry_rows(database)) >= expected, timeout=60)
            time.sleep(2)  # further ticks add nothing
            rows = entry_rows(database)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
    assert len(rows) == expected and len(set(rows)) == len(rows)
    assert {url for url, _ in rows} == urls


def test_sigterm_during_a_pass_lets_it_finish_and_exits_cleanly(tmp_path: Path) -> None:
    # Every answer takes 1.5 s: the SIGTERM lands while the first pass waits on them.
    with FeedServer(BUNDLED, latency=1.5) as feeds, smtp_server() as smtp:
        config = write_config(tmp_path, feeds.base_url, smtp.port, free_port())
        with daemon(config) as process:
            read_until(process, "Serving")
            time.sleep(0.5)
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=60)
        assert process.returncode == 0, output
        assert "Traceback" not in output and "CancelledError" not in output
        assert "Polling pass done" in output  # the pass in flight finished
    assert len(entry_rows(tmp_path / "var" / "e2e.db")) == 48


@pytest.mark.postgres
def test_reload_and_status_find_the_daemon_on_postgresql(tmp_path: Path) -> None:
    # No lock file on PostgreSQL: the advisory lock's session names the daemon instead.
    if not PG_URL:
        pytest.skip(f"PostgreSQL tests skipped: {PG_ENV} is not set")
    with FeedServer(BUNDLED) as feeds, smtp_server() as smtp, postgres_schema() as url:
        config = write_config(tmp_path, feeds.base_url, smtp.port, free_port())
        text = config.read_text(encoding="utf-8").replace("sqlite:///var/e2e.db", url)
        config.write_text(text, encoding="utf-8")
        with daemon(config) as process:
            read_until(process, "Polling pass done")
            status = run_command(config, "status", "--json", cwd=tmp_path)
            assert status.returncode == 0, status.stderr
            running = json.loads(status.stdout)["daemon"]
            assert running["running"] is True and f"pid {process.pid}" in running["detail"]
            reload = run_command(config, "reload", cwd=tmp_path)
            assert reload.returncode == 0, reload.stderr
            assert f"pid {process.pid}" in reload.stdout
            assert "Config reloaded" in read_until(process, "Config reloaded")
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        refused = run_command(config, "reload", cwd=tmp_path)
        assert refused.returncode == 1
        assert refused.stderr.strip() == "error: no aggregator daemon is running on this database"


def test_a_daemon_killed_mid_digest_send_leaves_every_reader_one_copy(tmp_path: Path) -> None:
    readers = [f"r{n:03}@x.example" for n in range(300)]
    with FeedServer(BUNDLED) as feeds, smtp_server() as smtp:
        config = write_config(tmp_path, feeds.base_url, smtp.port, free_port())
        text = config.read_text(encoding="utf-8")
        for old, new in (
            (
                'subscribers = ["alice@example.org", "bob@example.org"]',
                f"subscribers = {json.dumps(readers)}",
            ),
            # A provider's rate limit makes the send last seconds: the kill lands inside it.
            ("starttls = false\n", "starttls = false\nmax_per_second = 100\n"),
            # Only this daemon sends: a restart may take over the killed one's claims at once.
            ('transport = "smtp"\n', 'transport = "smtp"\nsending_lease_seconds = 0\n'),
            ("tick_seconds = 2\n", "tick_seconds = 2\ndigest_grace_hours = 48\n"),
        ):
            assert old in text
            text = text.replace(old, new)
        config.write_text(text, encoding="utf-8")
        database = tmp_path / "var" / "e2e.db"
        with daemon(config) as process:
            wait_for(lambda: len(smtp.collector.messages) >= 60, timeout=60)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        at_kill = len(smtp.collector.messages)
        entries_at_kill = entry_rows(database)
        assert at_kill < len(readers)  # killed mid-send
        with daemon(config) as process:
            wait_for(lambda: {r for _, rs in smtp.collector.envelopes for r in rs} >= set(readers))
            time.sleep(3)  # one more tick: nothing is sent again
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        entries = entry_rows(database)
    copies = Counter(r for _, rs in smtp.collector.envelopes for r in rs)
    assert set(copies) == set(readers)  # nobody skipped
    # The only duplicates: messages the server took just before the kill, whose OK was
    # not yet in the ledger: a connection waits for its last outcome's commit before its
    # next message, so at most one per SMTP connection (4), with the same Message-ID.
    twice = [r for r, n in copies.items() if n > 1]
    assert len(twice) <= 4 and all(copies[r] == 2 for r in twice)
    for reader in twice:
        ids = {m["Message-ID"] for m in smtp.collector.messages if m["To"] == reader}
        assert len(ids) == 1
    assert len(entries) == len(set(entries)) and set(entries_at_kill) <= set(entries)
