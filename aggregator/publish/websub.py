"""Stage 7, publish: tell WebSub hubs which of our feeds changed (W3C WebSub, publisher).

A feed names its hubs (``[publish] websub_hubs``) in a ``rel="hub"`` link, inside the
document and in an HTTP Link header (``site.py``); a reader's hub then pushes each new
version of the feed to its subscribers, instead of every reader polling us. WebSub leaves
how a publisher tells its hub to the hub; the public hubs take the same form POST, which
is what we send: ``hub.mode=publish`` and ``hub.url`` (the topic, the feed's own URL).

:class:`Announcer` keeps, per hub and topic, the ETag it last announced, so a pass pings
only for feeds whose bytes changed and a ping that failed is tried again by the next
pass. A hub that cannot be reached is left for that pass after its first failure: a hub
down costs one timeout, not one per feed. Nothing here raises: a failure is a value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from aggregator.publish.site import Site

__all__ = ["HUB_TIMEOUT", "Announcement", "Announcer", "FormPoster", "HubPost", "log_announcement"]

log = logging.getLogger("aggregator")
HUB_TIMEOUT = 10.0
# What a hub answers, or the reason none came: (status, "") or (None, message).
HubPost = Callable[[str, dict[str, str]], tuple[int | None, str]]


class FormPoster:
    """POSTs forms to hubs over one HTTP client kept for the poster's life.

    A pass pings one hub once per changed feed, and the daemon pings after every tick:
    one client keeps each hub's connection (and TLS session) open between the pings
    instead of a new handshake per feed. :meth:`close` drops the connections.
    """

    def __init__(self, timeout: float = HUB_TIMEOUT) -> None:
        self.timeout = timeout
        self._client: httpx.Client | None = None

    def __call__(self, hub: str, form: dict[str, str]) -> tuple[int | None, str]:
        """POST ``form`` to ``hub``; its status, or None and why there was none."""
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, trust_env=False)
        try:
            response = self._client.post(hub, data=form)
        except httpx.HTTPError as exc:
            return None, str(exc) or type(exc).__name__
        return response.status_code, response.text[:200]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


@dataclass
class Announcement:
    """What one pass told the hubs: (hub, topic URL) pairs accepted, and failures."""

    accepted: list[tuple[str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


class Announcer:
    """Announces changed feeds to hubs; remembers what each hub was last told."""

    def __init__(self, post: HubPost | None = None) -> None:
        self._poster = FormPoster()  # opens no connection until it is used
        self.post: HubPost = post or self._poster
        self._announced: dict[tuple[str, str], str] = {}  # (hub, topic URL) -> ETag

    def close(self) -> None:
        """Close the hubs' kept connections (a later ping opens them again)."""
        self._poster.close()

    def announce_changes(self, site: Site, hubs: Sequence[str]) -> Announcement:
        """Ping ``hubs`` for every feed of ``site`` whose bytes differ from the last
        announcement (all of them on a first pass: they may have changed while we were
        not running)."""
        site.refresh()
        current: dict[str, str] = {}
        for path in site.topic_paths():
            rendered = site.feed(path)
            if rendered is not None:
                current[site.base_url + path] = rendered.etag
        result = Announcement()
        for hub in hubs:
            due = [url for url, etag in current.items() if self._announced.get((hub, url)) != etag]
            for url in self._ping(hub, due, result):
                self._announced[(hub, url)] = current[url]
        return result

    def announce(self, hubs: Sequence[str], topics: Sequence[str]) -> Announcement:
        """Ping ``hubs`` for ``topics`` (feed URLs known to have changed)."""
        result = Announcement()
        for hub in hubs:
            self._ping(hub, topics, result)
        return result

    def _ping(self, hub: str, topics: Sequence[str], result: Announcement) -> list[str]:
        done: list[str] = []
        for url in topics:
            status, detail = self.post(hub, {"hub.mode": "publish", "hub.url": url})
            if status is None:
                result.failures.append(f"WebSub hub {hub} unreachable: {detail}")
                break  # the others would wait for the same timeout; next pass retries
            if not 200 <= status < 300:
                reason = f": {detail.strip()}" if detail.strip() else ""
                result.failures.append(f"WebSub hub {hub} refused {url}: HTTP {status}{reason}")
                continue
            done.append(url)
            result.accepted.append((hub, url))
        return done


def log_announcement(result: Announcement) -> None:
    """One line per pass that told a hub anything, and one per failure."""
    for failure in result.failures:
        log.warning("%s; retrying on the next pass", failure)
    if result.accepted:
        log.info(
            "WebSub hubs told",
            extra={
                "hubs": len({hub for hub, _ in result.accepted}),
                "feeds": len({url for _, url in result.accepted}),
                "failed": len(result.failures),
            },
        )
