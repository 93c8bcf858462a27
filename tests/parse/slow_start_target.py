"""A parser whose module takes two seconds to import, then parses at once (run inside the
worker process by the sandbox tests): its start-up must not count as parse time."""

from __future__ import annotations

import time

from aggregator.model import ParsedDocument, RawDocument

time.sleep(2)


def quick(raw: RawDocument) -> ParsedDocument:
    return ParsedDocument(format="quick")
