"""Shared benchmark tooling for the aggregator (never part of the test suite's pass/fail).

Role: a namespace for the corpus generator (:mod:`bench.corpus`), the loopback feed server
(:mod:`bench.feed_server`), the result-table helper (:mod:`bench._table`) and the benchmarks
themselves. See ``bench/README.md``.
"""

from __future__ import annotations
