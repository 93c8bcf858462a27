"""A command loads what it runs: ``aggregator fetch`` does not load digests, email or the web.

Start-up is most of a polling pass when nothing changed (every feed answers 304), so
the modules a fetch has no use for must stay unloaded. Checked on a real command in its
own process, from the interpreter's own import log (``python -X importtime``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.loopback import Reply, ScriptedHTTPServer

# Libraries and our own packages a fetch where every feed answers 304 never needs.
NOT_FOR_A_NO_CHANGE_FETCH = (
    "lxml",
    "nh3",
    "feedparser",
    "jinja2",
    "babel",
    "aiosmtplib",
    "numpy",
    "uvicorn",
    # httpx's own command line loads pygments (kept out by aggregator/__init__.py), and
    # so does Alembic, which only a database that needs migrating loads.
    "pygments",
    "alembic",
    "aggregator.normalize",
    # Reading a config with digests checks their cron expressions (apscheduler, and the
    # digest package with it); building a digest is not a fetch's work.
    "aggregator.digest.tokens",
    "aggregator.digest.addresses",
    "aggregator.deliver",
    "aggregator.publish",
    "aggregator.web",
    "aggregator.cluster",
    "aggregator.daemon",
)


def imported_modules(stderr: str) -> set[str]:
    """Module names from ``-X importtime`` lines: ``import time: self | total | name``."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


def test_a_no_change_fetch_loads_no_digest_email_web_or_parsing_module(tmp_path: Path) -> None:
    with ScriptedHTTPServer() as server:
        server.routes["/feed.xml"] = lambda headers: Reply(304)
        host = server.base_url.removeprefix("http://")
        config = tmp_path / "aggregator.toml"
        config.write_text(
            f'[storage]\nurl = "sqlite:///{tmp_path / "a.db"}"\n\n'
            f'[fetch]\nallow_hosts = ["{host}"]\n\n'
            f'[[feeds]]\nurl = "{server.url("/feed.xml")}"\n\n'
            '[[digests]]\nname = "daily"\nschedule = "0 7 * * *"\nlocale = "vi"\n'
            'subscribers = ["reader@example.com"]\n',
            encoding="utf-8",
        )
        command = [sys.executable, "-X", "importtime", "-m", "aggregator", "--config"]
        command += [str(config), "fetch", "--all"]
        for _ in range(2):  # the first creates the database; the second is the usual pass
            done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "not modified" in done.stdout
    loaded = imported_modules(done.stderr)
    assert "aggregator.cli" in loaded and "aggregator.sources.http" in loaded
    unwanted = sorted(
        name
        for name in loaded
        if any(name == top or name.startswith(f"{top}.") for top in NOT_FOR_A_NO_CHANGE_FETCH)
    )
    assert unwanted == []
