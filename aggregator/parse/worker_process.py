"""The entry point of a parse worker process (see :mod:`aggregator.parse.sandbox`).

``python -m aggregator.parse.worker_process FD MEMORY_MB MODULE:FUNCTION``: serves the
function over the socket inherited as file descriptor FD until the parent closes it.
A module of its own, so that running it imports nothing the worker does not need.
"""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection

from aggregator.parse.sandbox import serve


def main(argv: list[str]) -> None:
    fd, memory_mb, parser = argv
    serve(Connection(int(fd)), int(memory_mb), parser)


if __name__ == "__main__":
    main(sys.argv[1:])
