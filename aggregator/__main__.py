"""``python -m aggregator`` and the ``aggregator`` command: the command-line interface.

A short command is mostly start-up, and importing the command line's libraries
(SQLAlchemy, aiohttp, httpx, rich) creates a few hundred thousand objects, none of them
garbage: the collections they trigger cost about a tenth of that start-up. So the
collector waits until the modules are loaded, and their objects are then frozen
(:func:`gc.freeze`), so that no later collection of a long command or of the daemon
walks them again.
"""

from __future__ import annotations

import gc
from typing import NoReturn


def main() -> NoReturn:
    gc.disable()
    try:
        from aggregator import cli
    finally:
        gc.freeze()
        gc.enable()
    cli.main()


if __name__ == "__main__":
    main()
