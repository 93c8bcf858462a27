"""Loopback HTTP feed server shared by all benchmarks (and usable by hand).

Role: serve an in-memory set of files (typically a :mod:`bench.corpus` corpus) on 127.0.0.1
from a background thread, behaving like a well-configured feed host: strong ETags with
``If-None-Match`` -> 304, ``Last-Modified`` with ``If-Modified-Since`` -> 304, gzip when the
client asks for it, HEAD, 404 for unknown paths, ``Content-Length`` on every response, an
optional artificial latency (global or per path), and thread-safe counters a benchmark can
read afterwards. Files can be replaced while the server runs to simulate a changing feed.

Library use::

    with FeedServer(corpus.files, content_types=corpus.content_types, latency=0.05) as server:
        fetch(server.url("feeds/feed-007.xml"))
        print(server.stats.requests, server.stats.not_modified)

Command line (serves a directory, e.g. one written by ``python -m bench.corpus``)::

    python -m bench.feed_server DIR --port 8800 --latency 0.05
"""

from __future__ import annotations

import argparse
import contextlib
import gzip as gzip_lib
import hashlib
import ipaddress
import mimetypes
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, unquote, urlsplit

__all__ = ["FeedServer", "ServerStats", "guess_content_type", "main"]

_NOT_FOUND_BODY = b"404 not found\n"
# What socketserver hands a request handler (a TCP socket here; a datagram pair for UDP).
_Request = socket.socket | tuple[bytes, socket.socket]


@dataclass(frozen=True)
class ServerStats:
    """A consistent snapshot of the server's counters.

    ``requests`` counts every GET/HEAD (including 304s and 404s); ``bytes_sent`` counts
    response body bytes actually written (after compression; headers excluded);
    ``per_path`` counts requests by normalised path (no leading slash, no query string).
    """

    requests: int = 0
    not_modified: int = 0
    not_found: int = 0
    gzipped: int = 0
    bytes_sent: int = 0
    per_path: Mapping[str, int] = field(default_factory=dict)

    def count(self, path: str) -> int:
        """Requests seen for ``path`` (leading slash optional)."""
        return self.per_path.get(path.lstrip("/"), 0)


@dataclass(frozen=True)
class _File:
    data: bytes
    gz: bytes | None
    etag: str  # quoted strong validator of the identity body
    last_modified: datetime
    content_type: str


def guess_content_type(path: str, data: bytes) -> str:
    """Content-Type for ``data`` served at ``path``: sniffs feed XML/JSON, else by extension."""
    head = data[:2048]
    lowered = path.lower()
    if lowered.endswith((".xml", ".rss", ".atom", ".rdf")) or head.lstrip(
        b"\xef\xbb\xbf \t\r\n"
    ).startswith(b"<?xml"):
        if b"<rss" in head:
            return "application/rss+xml; charset=utf-8"
        if b"<feed" in head:
            return "application/atom+xml; charset=utf-8"
        if b"<rdf:RDF" in head:
            return "application/rdf+xml; charset=utf-8"
        return "application/xml; charset=utf-8"
    if lowered.endswith(".json"):
        if b"jsonfeed.org/version" in head:
            return "application/feed+json; charset=utf-8"
        return "application/json; charset=utf-8"
    guessed, _ = mimetypes.guess_type(path)
    return guessed or "application/octet-stream"


def _accepts_gzip(header: str | None) -> bool:
    if not header:
        return False
    for part in header.split(","):
        name, _, params = part.partition(";")
        if name.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        if quality > 0:
            return True
    return False


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 If-None-Match), also accepting our ``-gzip`` variant."""
    opaque = etag.strip('"')
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*":
            return True
        candidate = candidate.removeprefix("W/").strip('"')
        if candidate in (opaque, opaque + "-gzip"):
            return True
    return False


def _normalise(raw_path: str) -> str:
    return unquote(urlsplit(raw_path).path).lstrip("/")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # benchmarks open many connections at once
    feed_server: FeedServer

    def server_bind(self) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().server_bind()

    def process_request(self, request: _Request, client_address: Any) -> None:
        if isinstance(request, socket.socket):
            with self._open_lock:
                self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: _Request) -> None:
        if isinstance(request, socket.socket):
            with self._open_lock:
                self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Hang up idle keep-alive connections so no handler outlives the server."""
        with self._open_lock:
            open_sockets = list(self._open)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: _Request, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return  # clients that hang up early are normal in benchmarks
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: Content-Length is always sent
    server_version = "bench-feed-server/1"
    timeout = 30  # idle keep-alive connections are dropped after this many seconds

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base signature
        if self._owner.verbose:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    @property
    def _owner(self) -> FeedServer:
        server = self.server
        assert isinstance(server, _HTTPServer)
        return server.feed_server

    def _serve(self, *, head: bool) -> None:
        owner = self._owner
        path = _normalise(self.path)
        owner._record(path)
        delay = owner._delay_for(path)
        if delay > 0:
            time.sleep(delay)
        file = owner._lookup(path)
        if file is None:
            headers_404 = {"Content-Type": "text/plain; charset=utf-8"}
            self._send(HTTPStatus.NOT_FOUND, headers_404, _NOT_FOUND_BODY, head=head)
            return

        use_gzip = (
            owner.gzip
            and file.gz is not None
            and _accepts_gzip(self.headers.get("Accept-Encoding"))
        )
        body = file.gz if use_gzip and file.gz is not None else file.data
        headers: dict[str, str] = {"Content-Type": file.content_type}
        if owner.etag:
            headers["ETag"] = file.etag[:-1] + '-gzip"' if use_gzip else file.etag
        if owner.last_modified:
            headers["Last-Modified"] = format_datetime(file.last_modified, usegmt=True)
        if owner.gzip:
            headers["Vary"] = "Accept-Encoding"
        if use_gzip:
            headers["Content-Encoding"] = "gzip"

        if self._not_modified(owner, file):
            # RFC 9110 allows Content-Length on a 304 when it equals the 200's length.
            del headers["Content-Type"]
            headers["Content-Length"] = str(len(body))
            self._send(HTTPStatus.NOT_MODIFIED, headers, b"", head=True)
            return
        self._send(HTTPStatus.OK, headers, body, head=head, gzipped=use_gzip)

    def _not_modified(self, owner: FeedServer, file: _File) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None and owner.etag:
            return _etag_matches(if_none_match, file.etag)
        if_modified_since = self.headers.get("If-Modified-Since")
        if if_modified_since and owner.last_modified:
            try:
                since = parsedate_to_datetime(if_modified_since)
            except (TypeError, ValueError, IndexError):
                return False
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            return file.last_modified <= since
        return False

    def _send(
        self,
        status: HTTPStatus,
        headers: Mapping[str, str],
        body: bytes,
        *,
        head: bool,
        gzipped: bool = False,
    ) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        # Count before anything reaches the client, so a client that has read the response
        # always sees it in the stats. A body that fails to go out is taken back off.
        body_bytes = 0 if head else len(body)
        self._owner._record_outcome(
            not_modified=status == HTTPStatus.NOT_MODIFIED,
            not_found=status == HTTPStatus.NOT_FOUND,
            gzipped=gzipped,
            body_bytes=body_bytes,
        )
        try:
            self.end_headers()
            if body_bytes:
                self.wfile.write(body)
        except OSError:
            self._owner._record_outcome(body_bytes=-body_bytes)
            raise


class FeedServer:
    """A threaded HTTP server on the loopback interface serving ``files`` from memory.

    ``files`` maps paths (with or without a leading slash) to bodies. ``content_types``
    overrides the sniffed Content-Type per path. ``latency`` seconds are slept before every
    response; ``latency_for(path)`` overrides it per path when it returns a number (``None``
    falls back to ``latency``). ``gzip``, ``etag`` and ``last_modified`` switch those features.
    ``port=0`` picks a free port. Use as a context manager, or call :meth:`start` and
    :meth:`close`.
    """

    def __init__(
        self,
        files: Mapping[str, bytes],
        *,
        content_types: Mapping[str, str] | None = None,
        latency: float = 0.0,
        latency_for: Callable[[str], float | None] | None = None,
        gzip: bool = True,
        etag: bool = True,
        last_modified: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
    ) -> None:
        if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"FeedServer only binds to loopback addresses, not {host!r}")
        if latency < 0:
            raise ValueError("latency must be >= 0")
        self.latency = latency
        self.latency_for = latency_for
        self.gzip = gzip
        self.etag = etag
        self.last_modified = last_modified
        self.verbose = verbose
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._files: dict[str, _File] = {}
        self._content_types = {k.lstrip("/"): v for k, v in (content_types or {}).items()}
        self._clock = datetime.now(UTC).replace(microsecond=0)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._requests = 0
        self._not_modified = 0
        self._not_found = 0
        self._gzipped = 0
        self._bytes_sent = 0
        self._per_path: dict[str, int] = {}
        for path, data in files.items():
            self.set_file(path, data)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FeedServer:
        """Bind and start serving in a daemon thread; returns ``self``."""
        if self._httpd is not None:
            raise RuntimeError("FeedServer already started")
        httpd = _HTTPServer((self._host, self._port), _Handler)
        httpd.feed_server = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FeedServer:{httpd.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the socket (idempotent)."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FeedServer is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://{self._host}:{self.port}"

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` (leading slash optional; non-ASCII is percent-encoded)."""
        return f"{self.base_url}/{quote(path.lstrip('/'))}"

    # -- content -----------------------------------------------------------------------------

    def set_file(self, path: str, data: bytes, content_type: str | None = None) -> None:
        """Add or replace a file; a replaced file gets a new ETag and a later Last-Modified."""
        key = path.lstrip("/")
        if content_type is not None:
            self._content_types[key] = content_type
        ctype = self._content_types.get(key) or guess_content_type(key, data)
        digest = hashlib.sha256(data).hexdigest()[:32]
        gz = gzip_lib.compress(data, compresslevel=6, mtime=0) if self.gzip else None
        with self._lock:
            previous = self._files.get(key)
            stamp = self._clock
            if previous is not None:
                now = datetime.now(UTC).replace(microsecond=0)
                stamp = max(now, previous.last_modified + timedelta(seconds=1))
            self._files[key] = _File(data, gz, f'"{digest}"', stamp, ctype)

    def remove_file(self, path: str) -> None:
        """Forget a file; later requests for it get 404."""
        with self._lock:
            self._files.pop(path.lstrip("/"), None)

    def etag_of(self, path: str) -> str | None:
        """The current (identity) ETag of ``path``, or None if it is not served."""
        with self._lock:
            file = self._files.get(path.lstrip("/"))
        return None if file is None else file.etag

    @property
    def paths(self) -> list[str]:
        with self._lock:
            return sorted(self._files)

    # -- statistics --------------------------------------------------------------------------

    @property
    def stats(self) -> ServerStats:
        """A snapshot of the counters, taken atomically."""
        with self._lock:
            return ServerStats(
                requests=self._requests,
                not_modified=self._not_modified,
                not_found=self._not_found,
                gzipped=self._gzipped,
                bytes_sent=self._bytes_sent,
                per_path=dict(self._per_path),
            )

    def reset_stats(self) -> None:
        """Zero every counter (e.g. between benchmark rounds)."""
        with self._lock:
            self._requests = 0
            self._not_modified = 0
            self._not_found = 0
            self._gzipped = 0
            self._bytes_sent = 0
            self._per_path = {}

    # -- used by the request handler ---------------------------------------------------------

    def _record(self, path: str) -> None:
        with self._lock:
            self._requests += 1
            self._per_path[path] = self._per_path.get(path, 0) + 1

    def _record_outcome(
        self,
        *,
        not_modified: bool = False,
        not_found: bool = False,
        gzipped: bool = False,
        body_bytes: int = 0,
    ) -> None:
        with self._lock:
            self._not_modified += not_modified
            self._not_found += not_found
            self._gzipped += gzipped
            self._bytes_sent += body_bytes

    def _delay_for(self, path: str) -> float:
        if self.latency_for is not None:
            override = self.latency_for(path)
            if override is not None:
                return max(0.0, override)
        return self.latency

    def _lookup(self, path: str) -> _File | None:
        with self._lock:
            return self._files.get(path)


def _load_directory(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: serve DIR on 127.0.0.1 until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.feed_server",
        description="Serve a directory of feeds on 127.0.0.1 (ETag, Last-Modified, gzip).",
    )
    parser.add_argument("directory", type=Path, help="directory to serve, e.g. a bench.corpus")
    parser.add_argument("--port", type=int, default=8800, help="port (default 8800; 0 = any)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per response")
    parser.add_argument("--no-gzip", action="store_true", help="never compress")
    parser.add_argument("--no-etag", action="store_true", help="send no ETag, ignore INM")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    if not args.directory.is_dir():
        parser.error(f"not a directory: {args.directory}")
    files = _load_directory(args.directory)
    try:
        server = FeedServer(
            files,
            latency=args.latency,
            gzip=not args.no_gzip,
            etag=not args.no_etag,
            port=args.port,
            verbose=args.verbose,
        ).start()
    except OSError as exc:
        parser.error(f"cannot listen on 127.0.0.1:{args.port}: {exc}")
    print(
        f"serving {len(files)} files from {args.directory} at {server.base_url}/ (Ctrl-C to stop)",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stats = server.stats
        server.close()
    print(
        f"\n{stats.requests} requests, {stats.not_modified} not modified, "
        f"{stats.not_found} not found, {stats.bytes_sent} body bytes sent"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
