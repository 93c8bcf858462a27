"""Misbehaving parsers for the sandbox tests (run inside the worker process)."""

from __future__ import annotations

import time

from aggregator.model import ParsedDocument, RawDocument


def sleepy(raw: RawDocument) -> ParsedDocument:
    time.sleep(30)
    return ParsedDocument(format="never")


def hungry(raw: RawDocument) -> ParsedDocument:
    hoard = [bytearray(64 * 1024 * 1024) for _ in range(64)]  # 4 GiB, in 64 MiB steps
    return ParsedDocument(format=str(len(hoard)))
