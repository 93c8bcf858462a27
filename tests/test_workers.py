"""The worker pool: the same entries as in-process, errors in place, a dead worker replaced."""

from __future__ import annotations

import asyncio
import copy
import os
import pickle
import signal
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from aggregator.config import FetchSettings
from aggregator.errors import ParseError
from aggregator.model import RawDocument
from aggregator.parse import ParseLimits
from aggregator.parse.sandbox import Sandbox
from aggregator.workers import Job, Prepared, Workers, prepare
from tests.bundled import BUNDLED_FEEDS, FEEDS, FIXED_NOW


def job(name: str) -> Job:
    path = FEEDS / name
    return Job(raw=RawDocument(url=path.as_uri(), content=path.read_bytes()), now=FIXED_NOW)


BROKEN = Job(raw=RawDocument(url="https://broken.example/feed", content=b"\x00\x01"), now=FIXED_NOW)


@pytest.fixture(scope="module")
def pool() -> Iterator[Workers]:
    workers = Workers(2)
    yield workers
    workers.close()


def test_the_pool_prepares_exactly_what_the_calling_process_does(pool: Workers) -> None:
    jobs = [job(name) for name in BUNDLED_FEEDS]
    results = list(pool.map(jobs))
    assert [r.entries for r in results if isinstance(r, Prepared)] == [
        prepare(j).entries for j in jobs
    ]
    assert sum(len(r.entries) for r in results if isinstance(r, Prepared)) == sum(
        BUNDLED_FEEDS.values()
    )
    # Only the feed's metadata comes back with the document: the entries replace its items.
    first = results[0]
    assert isinstance(first, Prepared) and first.document.title and not first.document.entries


def test_an_unreadable_document_yields_its_error_in_place(pool: Workers) -> None:
    results = list(pool.map([job("tin-nhanh.xml"), BROKEN, job("the-lantern.xml")]))
    assert isinstance(results[0], Prepared) and isinstance(results[2], Prepared)
    assert isinstance(results[1], ParseError)
    assert "broken.example" in str(results[1])


def test_run_raises_the_parse_error_for_the_caller_to_record(pool: Workers) -> None:
    with pytest.raises(ParseError, match="broken.example"):
        asyncio.run(pool.run(BROKEN))
    prepared = asyncio.run(pool.run(job("harbor-tech.json")))
    assert len(prepared.entries) == BUNDLED_FEEDS["harbor-tech.json"]


def big_job(items: int = 3000) -> Job:
    """A feed that keeps a worker busy for about a second (16 MB of entry HTML that
    the sanitizer must rewrite: bare paragraphs would skip it and go much faster)."""
    body = "<p>" + 'Một đoạn văn <a href="/tin">khá dài</a> về tin tức trong ngày. ' * 100 + "</p>"
    rss = "".join(
        f"<item><title>Tin {i}</title><link>https://big.example/{i}</link>"
        f"<description><![CDATA[{body}]]></description></item>"
        for i in range(items)
    )
    content = f'<rss version="2.0"><channel><title>Big</title>{rss}</channel></rss>'
    raw = RawDocument(url="https://big.example/feed", content=content.encode())
    return Job(raw=raw, now=FIXED_NOW, max_entries=items)


def kill_workers(workers: Workers) -> None:
    """What an out-of-memory killer would do."""
    for box in workers._boxes:
        if box._process is not None:
            os.kill(box._process.pid, signal.SIGKILL)
            box._process.wait(5)


def cpu_ticks(box: Sandbox) -> int:
    """The user and system clock ticks a worker process has used (Linux /proc)."""
    if box._process is None:
        return 0
    try:
        fields = Path(f"/proc/{box._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_worker_killed_mid_document_costs_that_document_only() -> None:
    workers = Workers(2)
    try:
        assert asyncio.run(workers.run(job("tin-nhanh.xml"))).entries  # a worker is up

        async def killed_while_working() -> Prepared:
            idle = {box: cpu_ticks(box) for box in workers._boxes}
            task = asyncio.ensure_future(workers.run(big_job()))
            # Kill once a worker is busy with the document (its box locked and its process
            # using CPU), not after a fixed delay: an idle machine may finish the document
            # first, and a kill before the document is sent counts as dying while idle.
            async with asyncio.timeout(10):
                while not any(  # noqa: ASYNC110
                    box._lock.locked() and cpu_ticks(box) > idle[box] + 1 for box in workers._boxes
                ):
                    await asyncio.sleep(0.005)
            kill_workers(workers)
            return await task

        with pytest.raises(ParseError, match="failed on this document"):
            asyncio.run(killed_while_working())
        again = asyncio.run(workers.run(job("mekong-review.rdf")))
        assert len(again.entries) == BUNDLED_FEEDS["mekong-review.rdf"]
    finally:
        workers.close()


def test_workers_that_died_between_documents_lose_nothing() -> None:
    workers = Workers(2)
    try:
        list(workers.map([job("tin-nhanh.xml"), job("tin-nhanh.xml")]))  # both are up
        kill_workers(workers)
        results = list(workers.map([job("mekong-review.rdf"), job("the-lantern.xml")]))
        assert [len(r.entries) for r in results if isinstance(r, Prepared)] == [
            BUNDLED_FEEDS["mekong-review.rdf"],
            BUNDLED_FEEDS["the-lantern.xml"],
        ]
    finally:
        workers.close()


def test_a_document_that_outlives_the_timeout_is_stopped() -> None:
    workers = Workers(2, ParseLimits(timeout=0.2, memory_mb=1024))
    try:
        with pytest.raises(ParseError, match="took longer than 0.2 s"):
            asyncio.run(workers.run(big_job()))
    finally:
        workers.close()


def test_workers_started_ahead_take_their_first_document_like_any_other() -> None:
    workers = Workers(2)
    try:
        workers.start()
        started = [box._process for box in workers._boxes]
        assert all(process is not None and process.poll() is None for process in started)
        results = list(workers.map([job("tin-nhanh.xml"), job("the-lantern.xml"), BROKEN]))
        assert [len(r.entries) for r in results if isinstance(r, Prepared)] == [
            BUNDLED_FEEDS["tin-nhanh.xml"],
            BUNDLED_FEEDS["the-lantern.xml"],
        ]
        assert isinstance(results[2], ParseError)
        assert [box._process for box in workers._boxes] == started  # the same processes
        workers.start()  # already running: nothing new
        assert [box._process for box in workers._boxes] == started
    finally:
        workers.close()


def test_one_process_means_no_pool_at_all() -> None:
    workers = Workers(1)
    workers.start()
    results = list(workers.map([job("tin-nhanh.xml"), BROKEN]))
    assert isinstance(results[0], Prepared) and isinstance(results[1], ParseError)
    assert all(box._process is None for box in workers._boxes)


def test_an_entry_crosses_a_pipe_whole() -> None:
    """Entries are pickled as their field values (model._pickled_as_values): every field,
    including ones set by the store, comes back, and into the same class."""
    entry = next(e for e in prepare(job("tin-nhanh.xml")).entries if e.tags)
    stored = replace(entry, id=7, story_id=3, first_seen_at=FIXED_NOW, feed_title="Tin nhanh")
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(stored, protocol=protocol))
        assert back == stored and type(back) is type(stored)
    assert copy.deepcopy(stored) == stored


def test_a_jobs_default_body_limit_is_the_configs() -> None:
    # Spelled out in workers.py (a worker loads no config module): the two must agree.
    job = Job(raw=RawDocument(url="https://a.example/feed"), now=FIXED_NOW)
    assert job.max_bytes == FetchSettings().max_body_bytes
