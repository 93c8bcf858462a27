"""A parser whose module warms up slowly (run inside the worker process)."""

from __future__ import annotations

import time

from aggregator.model import ParsedDocument, RawDocument

_warmed: list[float] = []


def warm() -> None:
    time.sleep(2)  # longer than the 1 s the test's parse may take
    _warmed.append(time.monotonic())


def quick(raw: RawDocument) -> ParsedDocument:
    return ParsedDocument(format="warmed" if _warmed else "cold")
