"""Read feeds, HTML pages and text articles from disk.

A local feed (a ``file://`` URL in the config, or a path given to ``ingest``) is
treated like a remote one: its modification time plays the role of Last-Modified,
so an unchanged file costs no parsing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from aggregator.errors import SourceError, TooLargeError
from aggregator.model import RawDocument

CONTENT_TYPES = {
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".rdf": "application/rdf+xml",
    ".json": "application/feed+json",
    ".html": "text/html",
    ".htm": "text/html",
    ".txt": "text/plain",
}
INGESTIBLE = frozenset(CONTENT_TYPES)


def path_from_url(url: str) -> Path:
    return Path(unquote(urlsplit(url).path))


def read_file(path: Path, *, max_bytes: int, last_modified: str = "") -> RawDocument:
    """Read one file; ``not_modified`` when its mtime equals ``last_modified``."""
    url = path.resolve().as_uri()
    try:
        stat = path.stat()
        if not path.is_file():
            raise SourceError(str(path), "is not a file")
        stamp = datetime.fromtimestamp(stat.st_mtime, UTC).isoformat()
        if last_modified and stamp == last_modified:
            return RawDocument(url=url, status=304, not_modified=True, last_modified=stamp)
        if stat.st_size > max_bytes:
            raise TooLargeError(str(path), f"the file is larger than the {max_bytes:,}-byte limit")
        content = path.read_bytes()
    except FileNotFoundError:
        raise SourceError(str(path), "no such file") from None
    except PermissionError:
        raise SourceError(str(path), "permission denied") from None
    except IsADirectoryError:
        raise SourceError(str(path), "is a folder, not a file") from None
    return RawDocument(
        url=url,
        content=content,
        content_type=CONTENT_TYPES.get(path.suffix.lower(), ""),
        last_modified=stamp,
    )


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files as given, and the ingestible files inside given folders, sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in INGESTIBLE)
            )
        elif path.exists():
            found.append(path)
        else:
            raise SourceError(str(path), "no such file or folder")
    return found
