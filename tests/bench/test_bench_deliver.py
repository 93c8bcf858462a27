"""The pieces of ``bench/deliver.py`` that decide what its figures mean: the sink counts
every message once, on any number of connections, and the raw client's bytes and the
pipeline's reach it intact. Nothing here is timed."""

from __future__ import annotations

import asyncio
import smtplib
import time

from bench import deliver
from bench.smtp_sink import SmtpSink


def test_the_sink_counts_each_message_once_over_every_path() -> None:
    issue = deliver.bench_issue(2)
    readers = [(n + 1, f"r{n}@x.example") for n in range(12)]
    built = list(zip([e for _, e in readers], deliver.our_messages(issue, readers), strict=True))
    with SmtpSink() as sink:
        with smtplib.SMTP("127.0.0.1", sink.port, local_hostname="t.invalid") as client:
            client.sendmail(deliver.ENVELOPE_FROM, ["a@x.example"], built[0][1])
        asyncio.run(deliver._blast(sink.port, [(e, deliver.dot_stuffed(d)) for e, d in built], 3))
        deliver.our_pipeline(sink.port, issue, readers, 2)
        deadline = time.monotonic() + 10  # the sink counts in its own process
        while sink.count < 25 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sink.count == 1 + 12 + 12


def test_the_naive_message_is_a_whole_personalized_email() -> None:
    raw = deliver.naive_message(deliver.bench_issue(2), (5, "r5@x.example"))
    assert b"To: r5@x.example" in raw and b"List-Unsubscribe: <https://agg.example/" in raw
