"""The tolerant parser's worker process: same answers, bounded in time and memory."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from aggregator.errors import ParseError
from aggregator.model import RawDocument
from aggregator.parse import ParseLimits, parse_document
from aggregator.parse.feed import parse_xml_feed
from aggregator.parse.sandbox import Sandbox

BROKEN = RawDocument(  # bad nesting: the fast path declines, feedparser copes
    url="https://feeds.example/broken.xml",
    content=(
        "<rss version='2.0'><channel><title>Tin <b>nhanh</channel>"
        "<item><title>Bão số 13</title><link>https://feeds.example/a</link></item></rss>"
    ).encode(),
)


@pytest.fixture
def worker() -> Iterator[Sandbox]:
    box = Sandbox(ParseLimits(timeout=20, memory_mb=512))
    yield box
    box.close()


def test_the_worker_answers_like_the_parser_in_process(worker: Sandbox) -> None:
    assert worker.parse(BROKEN) == parse_xml_feed(BROKEN)
    assert worker.parse(BROKEN) == parse_xml_feed(BROKEN)  # the worker is reused


def test_parse_document_uses_the_worker_for_the_fallback_only() -> None:
    limits = ParseLimits(timeout=20, memory_mb=512)
    assert parse_document(BROKEN, limits=limits) == parse_xml_feed(BROKEN)
    with pytest.raises(ParseError, match="not a feed"):
        parse_document(
            RawDocument(url="https://x.example/", content=b"<?xml version='1.0'?><a/>"),
            limits=limits,
        )


def test_a_parse_that_outlives_the_timeout_is_stopped_and_the_next_one_works() -> None:
    box = Sandbox(
        ParseLimits(timeout=1.0, memory_mb=512), parser="tests.parse.sandbox_targets:sleepy"
    )
    try:
        started = time.monotonic()
        with pytest.raises(ParseError, match="took longer than 1 s; stopped"):
            box.parse(BROKEN)
        assert time.monotonic() - started < 15
        box.parser = "aggregator.parse.feed:parse_xml_feed"
        assert box.parse(BROKEN) == parse_xml_feed(BROKEN)  # a fresh worker took over
    finally:
        box.close()


def test_a_slow_worker_start_is_not_counted_as_parse_time() -> None:
    # The worker's imports take 2 s, longer than the 1 s the parse may take: the
    # document is not blamed for the start-up.
    box = Sandbox(
        ParseLimits(timeout=1.0, memory_mb=512), parser="tests.parse.slow_start_target:quick"
    )
    try:
        assert box.parse(BROKEN).format == "quick"
    finally:
        box.close()


def test_a_worker_warms_up_before_its_first_document_and_it_counts_as_start_up() -> None:
    # The module's warm() (what the function would load on its first call) runs as the
    # worker starts, before any document; its 2 s are start-up, not the parse's 1 s.
    box = Sandbox(ParseLimits(timeout=1.0, memory_mb=512), parser="tests.parse.warm_target:quick")
    try:
        assert box.parse(BROKEN).format == "warmed"
    finally:
        box.close()


def test_a_parse_worker_has_loaded_the_parsing_modules_before_its_first_document() -> None:
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from aggregator import workers; workers.warm(); "
            "print(all(m in sys.modules for m in "
            "('aggregator.normalize', 'aggregator.parse.fast', 'lxml.etree', 'nh3')))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == "True"


def test_a_worker_that_never_gets_ready_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    # The module, not the sandbox() function that aggregator.parse exports by that name.
    monkeypatch.setattr(sys.modules[Sandbox.__module__], "START_TIMEOUT", 0.5)
    box = Sandbox(
        ParseLimits(timeout=30, memory_mb=512), parser="tests.parse.slow_start_target:quick"
    )
    try:
        with pytest.raises(ParseError, match=r"did not start within 0.5 s; stopped"):
            box.parse(BROKEN)
    finally:
        box.close()


def test_a_parse_that_needs_too_much_memory_is_refused() -> None:
    box = Sandbox(
        ParseLimits(timeout=60, memory_mb=256), parser="tests.parse.sandbox_targets:hungry"
    )
    try:
        with pytest.raises(ParseError, match="more than 256 MB"):
            box.parse(BROKEN)
    finally:
        box.close()


def test_a_worker_tunes_malloc_and_trims_once_no_work_is_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # serve() in this process: its limits and signal set-up are the worker's own, left out.
    import importlib
    import resource
    import signal
    import threading
    from multiprocessing import Pipe

    # The module, not the function aggregator.parse exports under its name.
    sandbox = importlib.import_module("aggregator.parse.sandbox")

    calls: list[str] = []
    monkeypatch.setattr(sandbox, "tune_malloc", lambda: calls.append("tune"))
    monkeypatch.setattr(sandbox, "release_free_memory", lambda: calls.append("trim"))
    monkeypatch.setattr(sandbox, "IDLE_SECONDS", 0.2)
    monkeypatch.setattr(resource, "setrlimit", lambda *_: None)
    monkeypatch.setattr(signal, "signal", lambda *_: None)
    ours, theirs = Pipe()

    def parent() -> None:
        assert ours.recv() == sandbox.READY
        for _ in range(2):  # a burst: both sent before the first answer is read
            ours.send(BROKEN)
        for _ in range(2):
            ours.recv()
        time.sleep(1.0)  # idle: the worker trims, once
        ours.send(BROKEN)
        ours.recv()
        ours.close()  # the worker returns at once: nothing left to trim for

    client = threading.Thread(target=parent)
    client.start()
    sandbox.serve(theirs, 512, "aggregator.parse.feed:parse_xml_feed")
    client.join()
    assert calls[0] == "tune"
    assert calls.count("trim") in (1, 2)  # after the burst (and after the last document)
