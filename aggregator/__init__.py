"""aggregator: fetch feeds, normalize entries, cluster stories, publish feeds and email digests.

The pipeline, one package per stage::

    sources -> parse -> normalize -> store -> cluster -> digest -> publish -> deliver

driven by ``schedule``/``daemon``, with ``cli`` and ``web`` as thin edges.
"""

from __future__ import annotations

__version__ = "0.1.0"
