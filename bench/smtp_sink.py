"""Loopback SMTP sink for benchmarks: aiosmtpd that accepts every message, counts it and
throws it away, in a process of its own so its CPU is not the client's.

``bench/deliver.py`` sends into it. In a benchmark, use the class::

    with SmtpSink() as sink:
        sink.port  # 127.0.0.1:PORT takes mail
        sink.count  # messages accepted so far (all connections)

Run by hand: ``python -m bench.smtp_sink --port 2525`` (Ctrl-C prints the count).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import socket
from typing import Any

from aiosmtpd.smtp import SMTP


class _Counter:
    def __init__(self, count: Any) -> None:
        self.count = count

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.count.get_lock():
            self.count.value += 1
        return "250 OK"


def serve(port: int, count: Any, ready: Any = None) -> None:
    """Serve on 127.0.0.1:``port`` until the process is stopped."""

    async def run() -> None:
        handler = _Counter(count)
        loop = asyncio.get_running_loop()
        # hostname given: aiosmtpd would otherwise look up our FQDN on every connection.
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="sink.invalid"), "127.0.0.1", port
        )
        if ready is not None:
            ready.set()
        async with server:
            await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpSink:
    def __init__(self) -> None:
        self.port = _free_port()
        self._count = multiprocessing.Value("q", 0)
        self._process: multiprocessing.Process | None = None

    @property
    def count(self) -> int:
        return int(self._count.value)

    def __enter__(self) -> SmtpSink:
        ready = multiprocessing.Event()
        self._process = multiprocessing.Process(
            target=serve, args=(self.port, self._count, ready), daemon=True
        )
        self._process.start()
        if not ready.wait(timeout=30):
            raise RuntimeError("the SMTP sink did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.join(timeout=10)
            self._process = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=2525)
    args = parser.parse_args()
    count = multiprocessing.Value("q", 0)
    try:
        serve(args.port, count)
    finally:
        print(f"accepted {count.value} messages")


if __name__ == "__main__":
    main()
