"""aggregator: fetch feeds, normalize entries, cluster stories, publish feeds and email digests.

The pipeline, one package per stage::

    sources -> parse -> normalize -> store -> cluster -> digest -> publish -> deliver

driven by ``schedule``/``daemon``, with ``cli`` and ``web`` as thin edges.
"""

from __future__ import annotations

import sys

# httpx loads its own command-line client (click, rich, pygments) when it is imported,
# unless that module cannot be found; we never run it, and it was a tenth of the import
# time of a fetch where every feed answers 304. None in sys.modules makes the import fail.
if "httpx._main" not in sys.modules:
    sys.modules["httpx._main"] = None  # type: ignore[assignment]

__version__ = "0.1.0"
