"""An asyncio loopback feed server, for benchmarks with many requests in flight.

The threaded ``FeedServer`` pays a thread and stdlib header parsing per request; at 50
requests in flight on a 2-core machine it, not the client under test, sets the wall
time (see ``bench/fetch.py``). This server answers the same way (ETag and
Last-Modified 304s, gzip, added latency, keep-alive) from one event loop. Files are
prepared by ``FeedServer`` so both servers give byte-identical answers.

Counters: ``GET /__stats__`` answers (at once, uncounted) a JSON object of the counts
since start: ``requests``, ``ok`` (200), ``not_modified`` (304), ``not_found`` and
``bytes_sent`` (bodies only). A benchmark reads it before and after a pass.

Run: ``python -m bench.async_feed_server DIR --port 8800 --latency 0.1``
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from bench.feed_server import (
    FeedServer,
    _accepts_gzip,
    _etag_matches,
    _File,
    _load_directory,
    _normalise,
)


def respond(file: _File | None, headers: dict[str, str], *, head: bool) -> bytes:
    """The whole HTTP/1.1 response for one request, as bytes."""
    if file is None:
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    gzipped = file.gz is not None and _accepts_gzip(headers.get("accept-encoding"))
    body = file.gz if gzipped and file.gz is not None else file.data
    etag = file.etag[:-1] + '-gzip"' if gzipped else file.etag
    fields = [
        f"ETag: {etag}",
        f"Last-Modified: {format_datetime(file.last_modified, usegmt=True)}",
        "Vary: Accept-Encoding",
    ]
    if gzipped:
        fields.append("Content-Encoding: gzip")
    if is_not_modified(file, headers):
        status, body = "304 Not Modified", b""
    else:
        status = "200 OK"
        fields.append(f"Content-Type: {file.content_type}")
    fields.append(f"Content-Length: {len(body)}")
    head_bytes = f"HTTP/1.1 {status}\r\n" + "\r\n".join(fields) + "\r\n\r\n"
    return head_bytes.encode("latin-1") + (b"" if head else body)


def is_not_modified(file: _File, headers: dict[str, str]) -> bool:
    if "if-none-match" in headers:
        return _etag_matches(headers["if-none-match"], file.etag)
    since = headers.get("if-modified-since")
    if since:
        try:
            return file.last_modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


STATS_PATH = "__stats__"


def _status_key(response: bytes) -> str:
    code = response[9:12]
    return {b"200": "ok", b"304": "not_modified", b"404": "not_found"}.get(code, "other")


async def serve(catalogue: FeedServer, port: int, latency: float) -> None:
    counts = dict.fromkeys(
        ("requests", "ok", "not_modified", "not_found", "other", "bytes_sent"), 0
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    break
                request_line, *lines = head.decode("latin-1").split("\r\n")
                method, target, _version = request_line.split(" ", 2)
                headers = {}
                for line in lines:
                    name, _, value = line.partition(":")
                    if name:
                        headers[name.strip().lower()] = value.strip()
                path = _normalise(target)
                if path == STATS_PATH:
                    body = json.dumps(counts).encode()
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        + f"Content-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                    await writer.drain()
                    continue
                if latency:
                    await asyncio.sleep(latency)
                response = respond(catalogue._lookup(path), headers, head=method == "HEAD")
                counts["requests"] += 1
                counts[_status_key(response)] += 1
                counts["bytes_sent"] += len(response) - response.index(b"\r\n\r\n") - 4
                writer.write(response)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.async_feed_server")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--port", type=int, default=8800)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args(argv)
    catalogue = FeedServer(_load_directory(args.directory))  # prepares files; never started
    try:
        asyncio.run(serve(catalogue, args.port, args.latency))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
