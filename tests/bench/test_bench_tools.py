"""Behavioural tests of the benchmark tools in ``bench/`` (corpus, feed server, table).

These check what the tools produce and how the server answers; nothing here is timed.
"""

from __future__ import annotations

import gzip
import json
import unicodedata
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from xml.dom import minidom

import pytest

from bench import corpus as corpus_module
from bench._table import format_table
from bench.corpus import Corpus, generate_corpus
from bench.feed_server import FeedServer

# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never use a proxy


def _text(node: minidom.Element, tag: str) -> str:
    found = node.getElementsByTagName(tag)
    if not found:
        return ""
    return "".join(
        child.data for child in found[0].childNodes if isinstance(child, minidom.CharacterData)
    )


def _describe(path: str, data: bytes) -> tuple[str, str, list[str], list[str]]:
    """(format, language, entry ids, titles) of one generated feed."""
    if path.endswith(".json"):
        doc = json.loads(data)
        assert doc["version"] == "https://jsonfeed.org/version/1.1"
        items = doc["items"]
        return "jsonfeed", doc["language"], [i["id"] for i in items], [i["title"] for i in items]
    root = minidom.parseString(data).documentElement
    assert root is not None
    if root.tagName == "rss":
        items = root.getElementsByTagName("item")
        ids = [_text(item, "guid") for item in items]
        return "rss2", _text(root, "language"), ids, [_text(i, "title") for i in items]
    if root.tagName == "feed":
        entries = root.getElementsByTagName("entry")
        ids = [_text(entry, "id") for entry in entries]
        titles = [_text(entry, "title") for entry in entries]
        return "atom", root.getAttribute("xml:lang"), ids, titles
    assert root.tagName == "rdf:RDF"
    items = root.getElementsByTagName("item")
    ids = [item.getAttribute("rdf:about") for item in items]
    return "rdf", _text(root, "dc:language"), ids, [_text(i, "title") for i in items]


def _get(
    url: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with _OPENER.open(request, timeout=10) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers.items()), exc.read()


# ------------------------------------------------------------------------------------------
# corpus
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return generate_corpus(feeds=16, entries_per_feed=12, seed=7)


def test_corpus_is_deterministic() -> None:
    first = generate_corpus(feeds=8, entries_per_feed=6, seed=3)
    second = generate_corpus(feeds=8, entries_per_feed=6, seed=3)
    other = generate_corpus(feeds=8, entries_per_feed=6, seed=4)
    assert first.files == second.files
    assert first.labels == second.labels
    assert first.content_types == second.content_types
    assert first.files != other.files


def test_entries_per_feed_can_be_a_range_drawn_per_feed() -> None:
    ranged = generate_corpus(feeds=12, entries_per_feed=(5, 20), seed=3)
    counts = Counter(path for path, _ in ranged.labels)
    assert len(counts) == 12 and all(5 <= n <= 20 for n in counts.values())
    assert len(set(counts.values())) > 1
    assert ranged.files == generate_corpus(feeds=12, entries_per_feed=(5, 20), seed=3).files
    # A fixed count is the range of one value: the same bytes.
    fixed = generate_corpus(feeds=8, entries_per_feed=6, seed=3)
    assert fixed.files == generate_corpus(feeds=8, entries_per_feed=(6, 6), seed=3).files


def test_default_corpus_shape() -> None:
    default = generate_corpus()
    assert len(default.files) == 40
    assert len(default.labels) == 40 * 25
    assert "feeds/feed-000.xml" in default.files  # RSS 2.0, Vietnamese
    assert "feeds/feed-007.json" in default.files  # JSON Feed, English


def test_every_file_parses_and_has_a_content_type(corpus: Corpus) -> None:
    assert set(corpus.content_types) == set(corpus.files)
    for path, data in corpus.files.items():
        if path.endswith(".json"):
            json.loads(data)
        else:
            assert path.endswith(".xml")
            minidom.parseString(data)  # raises on malformed XML


def test_formats_and_languages_present(corpus: Corpus) -> None:
    formats: set[str] = set()
    languages: set[str] = set()
    vietnamese_titles: list[str] = []
    for path, data in corpus.files.items():
        fmt, lang, _, titles = _describe(path, data)
        formats.add(fmt)
        languages.add(lang.split("-")[0])
        if lang == "vi":
            vietnamese_titles.extend(titles)
    assert formats == {"rss2", "atom", "rdf", "jsonfeed"}
    assert languages == {"vi", "en"}
    normalised = [unicodedata.normalize("NFC", t) for t in vietnamese_titles]
    assert any(ch in t for t in normalised for ch in "ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệ")
    assert any(not unicodedata.is_normalized("NFC", t) for t in vietnamese_titles)  # some NFD


def test_labels_match_entries_exactly(corpus: Corpus) -> None:
    entries: set[tuple[str, str]] = set()
    for path, data in corpus.files.items():
        _, _, ids, _ = _describe(path, data)
        assert len(ids) == 12
        assert len(set(ids)) == len(ids), f"duplicate ids in {path}"
        entries.update((path, entry_id) for entry_id in ids)
    assert set(corpus.labels) == entries


def test_stories_span_feeds_of_one_language(corpus: Corpus) -> None:
    language = {path: _describe(path, data)[1].split("-")[0] for path, data in corpus.files.items()}
    spans = []
    for members in corpus.clusters().values():
        feeds = {path for path, _ in members}
        assert len(feeds) == len(members), "a story appears at most once per feed"
        assert 1 <= len(feeds) <= 5
        assert len({language[path] for path in feeds}) == 1
        spans.append(len(feeds))
    assert max(spans) >= 3
    assert corpus.near_miss_of, "near-miss stories are generated"
    assert set(corpus.near_miss_of) <= set(corpus.labels.values())


def test_story_count_can_be_fixed() -> None:
    fixed = generate_corpus(feeds=10, entries_per_feed=10, stories=40, seed=2)
    assert len(set(fixed.labels.values())) == 40
    assert len(fixed.labels) == 100
    with pytest.raises(ValueError, match="stories must be between"):
        generate_corpus(feeds=10, entries_per_feed=10, stories=5)


def test_cli_writes_files_and_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert corpus_module.main(["--out", str(tmp_path), "--feeds", "4", "--entries", "3"]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1
    document = json.loads((tmp_path / "labels.json").read_text(encoding="utf-8"))
    assert len(document["labels"]) == 12
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("feed-*"))
    assert written == sorted(generate_corpus(feeds=4, entries_per_feed=3).files)


# ------------------------------------------------------------------------------------------
# feed server
# ------------------------------------------------------------------------------------------

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>\n' * 20


@pytest.fixture
def server() -> Iterator[FeedServer]:
    files = {"feeds/a.xml": FEED, "feeds/b.json": b'{"version": "x"}'}
    with FeedServer(files, content_types={"feeds/a.xml": "application/rss+xml"}) as running:
        yield running


def test_serves_a_file(server: FeedServer) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")
    status, headers, body = _get(server.url("feeds/a.xml"))
    assert status == 200
    assert body == FEED
    assert headers["Content-Type"] == "application/rss+xml"
    assert headers["Content-Length"] == str(len(FEED))
    assert "Content-Encoding" not in headers


def test_etag_round_trip_gives_304(server: FeedServer) -> None:
    _, headers, _ = _get(server.url("feeds/a.xml"))
    etag = headers["ETag"]
    assert etag.startswith('"')  # strong: no W/ prefix
    status, headers304, body = _get(server.url("feeds/a.xml"), {"If-None-Match": etag})
    assert status == 304
    assert body == b""
    assert headers304["ETag"] == etag
    assert server.stats.not_modified == 1


def test_if_modified_since_gives_304(server: FeedServer) -> None:
    _, headers, _ = _get(server.url("feeds/a.xml"))
    status, _, _ = _get(server.url("feeds/a.xml"), {"If-Modified-Since": headers["Last-Modified"]})
    assert status == 304
    old = formatdate(0, usegmt=True)
    status, _, body = _get(server.url("feeds/a.xml"), {"If-Modified-Since": old})
    assert status == 200
    assert body == FEED


def test_gzip_when_asked(server: FeedServer) -> None:
    status, headers, body = _get(server.url("feeds/a.xml"), {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Content-Length"] == str(len(body))
    assert len(body) < len(FEED)
    assert gzip.decompress(body) == FEED
    # the compressed representation revalidates too
    status, _, _ = _get(
        server.url("feeds/a.xml"), {"Accept-Encoding": "gzip", "If-None-Match": headers["ETag"]}
    )
    assert status == 304


def test_gzip_can_be_disabled() -> None:
    with FeedServer({"a.xml": FEED}, gzip=False) as plain:
        _, headers, body = _get(plain.url("a.xml"), {"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in headers
    assert body == FEED


def test_unknown_path_is_404(server: FeedServer) -> None:
    status, headers, _ = _get(server.url("feeds/missing.xml"))
    assert status == 404
    assert "Content-Length" in headers
    assert server.stats.not_found == 1


def test_head_sends_headers_only(server: FeedServer) -> None:
    status, headers, body = _get(server.url("feeds/a.xml"), method="HEAD")
    assert status == 200
    assert body == b""
    assert headers["Content-Length"] == str(len(FEED))


def test_counters(server: FeedServer) -> None:
    for _ in range(3):
        _get(server.url("feeds/a.xml"))
    _get(server.url("/feeds/b.json"))
    _get(server.url("nope"))
    stats = server.stats
    assert stats.requests == 5
    assert stats.count("feeds/a.xml") == 3
    assert stats.count("/feeds/b.json") == 1
    assert stats.per_path["nope"] == 1
    assert stats.bytes_sent >= 3 * len(FEED)
    server.reset_stats()
    assert server.stats.requests == 0


def test_set_file_changes_the_etag(server: FeedServer) -> None:
    _, headers, _ = _get(server.url("feeds/a.xml"))
    old_etag = headers["ETag"]
    server.set_file("feeds/a.xml", FEED + b"<!-- changed -->\n")
    status, headers, body = _get(server.url("feeds/a.xml"), {"If-None-Match": old_etag})
    assert status == 200
    assert body.endswith(b"<!-- changed -->\n")
    assert headers["ETag"] != old_etag
    server.set_file("feeds/new.xml", b"<rss/>")
    assert _get(server.url("feeds/new.xml"))[0] == 200


def test_latency_for_is_asked_per_path() -> None:
    asked: list[str] = []

    def latency_for(path: str) -> float | None:
        asked.append(path)
        return 0.0

    with FeedServer({"a.xml": FEED}, latency=5.0, latency_for=latency_for) as fast:
        assert _get(fast.url("a.xml"))[0] == 200  # the 5 s default is overridden
    assert asked == ["a.xml"]


def test_serves_a_generated_corpus() -> None:
    small = generate_corpus(feeds=4, entries_per_feed=3)
    with FeedServer(small.files, content_types=small.content_types) as running:
        for path, data in small.files.items():
            status, headers, body = _get(running.url(path))
            assert status == 200
            assert body == data
            assert headers["Content-Type"] == small.content_types[path]


def test_refuses_non_loopback_hosts() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FeedServer({}, host="0.0.0.0")


# ------------------------------------------------------------------------------------------
# table
# ------------------------------------------------------------------------------------------


def test_table_has_ratio_against_baseline() -> None:
    rows: list[dict[str, object]] = [
        {"variant": "baseline", "seconds": 2.0, "requests": 40},
        {"variant": "fast", "seconds": 0.5, "requests": 40},
    ]
    text = format_table("demo", rows, baseline="baseline", key="variant", metric="seconds")
    lines = text.splitlines()
    assert lines[0] == "demo"
    assert lines[1].split() == ["variant", "seconds", "requests", "ratio"]
    assert lines[3].split()[-1] == "1.00x"
    assert lines[4].split()[-1] == "0.25x"
    assert len({len(line) for line in lines[1:3]}) == 1  # header and rule aligned
    with pytest.raises(ValueError, match="baseline"):
        format_table("demo", rows, baseline="missing", key="variant", metric="seconds")


def test_the_async_server_answers_like_the_threaded_one(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys
    import time

    (tmp_path / "feed.xml").write_bytes(
        b'<?xml version="1.0"?><rss><channel>' + b"x" * 4000 + b"</channel></rss>"
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.async_feed_server", str(tmp_path), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/feed.xml"
        for _ in range(100):
            try:
                first = _get(url)
                break
            except OSError:
                time.sleep(0.1)
        status, headers, _ = first
        assert status == 200 and headers["ETag"]
        assert headers["Content-Type"].startswith("application/rss+xml")
        status, _, body = _get(url, {"If-None-Match": headers["ETag"]})
        assert status == 304 and body == b""
        _, zipped_headers, zipped = _get(url, {"Accept-Encoding": "gzip"})
        assert zipped_headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(zipped) == (tmp_path / "feed.xml").read_bytes()
        assert _get(f"http://127.0.0.1:{port}/missing")[0] == 404
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_padding_grows_entries_and_keeps_the_unpadded_corpus_unchanged() -> None:
    plain = generate_corpus(feeds=8, entries_per_feed=6, seed=3)
    assert (
        generate_corpus(feeds=8, entries_per_feed=6, seed=3, entry_bytes=None).files == plain.files
    )
    padded = generate_corpus(feeds=8, entries_per_feed=6, seed=3, entry_bytes=(4000, 6000))
    again = generate_corpus(feeds=8, entries_per_feed=6, seed=3, entry_bytes=(4000, 6000))
    assert padded.files == again.files  # deterministic
    assert padded.labels == plain.labels  # same stories, longer bodies
    assert sum(map(len, padded.files.values())) > 3 * sum(map(len, plain.files.values()))
