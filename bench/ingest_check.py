"""Same input, same entries: fingerprints of normalized output, to compare two checkouts.

Speed work on parse and normalize must not change what they produce. This script runs
``parse_document`` + ``to_entries`` (the clock fixed) over

* the ``bench/ingest.py`` corpus (240 feeds, the benchmark's own arguments),
* our test fixtures (``tests/**/fixtures``, ``feeds/``, ``../shared/samples`` when present),
* the mutated feeds of ``bench/parsers.py`` (truncated, undeclared entities, wrong
  charsets, ...) and a few more mutations aimed at text clean-up (decomposed Vietnamese,
  zero-width and control characters, CRs, entities, no markup at all),
* feedparser's own test corpus (2,242 files, cached by ``bench/parsers.py``; skipped with
  ``--no-download`` when it is not cached),

and records, per document, a SHA-256 of every field of every entry (or of the error).
Write the fingerprints with one checkout, compare with the other::

    git archive main | tar -x -C /tmp/ref
    (cd /tmp/ref && python -m bench.ingest_check --write /tmp/before.json)
    python -m bench.ingest_check --against /tmp/before.json

``--against`` prints the documents whose entries differ and exits 1 when any does;
``--show URL`` prints one document's entries. Not a benchmark: nothing is timed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aggregator.errors import AggregatorError
from aggregator.model import RawDocument
from aggregator.normalize import feed_metadata, to_entries
from aggregator.parse import parse_document
from bench.corpus import generate_corpus
from bench.parsers import ROOT, feedparser_test_corpus, mutated_documents, raw_documents

NOW = datetime(2026, 11, 23, tzinfo=UTC)
HOSTILE = ("billion_laughs", "xxe")  # bounded by the sandbox, not by this in-process run


def ingest_corpus() -> list[RawDocument]:
    """The documents of ``bench/ingest.py`` with its default arguments."""
    return raw_documents(
        generate_corpus(feeds=240, entries_per_feed=(20, 100), seed=1, entry_bytes=(1000, 8000))
    )


def fixture_files() -> list[RawDocument]:
    """Every fixture file we keep: feeds, pages, text articles, charset samples."""
    folders = [ROOT / "feeds", ROOT.parent / "shared" / "samples"]
    paths = [
        path
        for path in sorted((ROOT / "tests").rglob("*"))
        if path.is_file() and "fixtures" in path.relative_to(ROOT).parts
    ]
    paths += [path for folder in folders if folder.is_dir() for path in sorted(folder.iterdir())]
    return [
        RawDocument(
            url=f"https://bench.example/fixtures/{_name(path)}",
            content=path.read_bytes(),
        )
        for path in paths
        if path.is_file() and not any(word in path.name for word in HOSTILE)
    ]


def _name(path: Path) -> str:
    """The path inside the checkout, or ``shared/...`` beside it: the same in any checkout."""
    inside = path.is_relative_to(ROOT)
    return (path.relative_to(ROOT) if inside else path.relative_to(ROOT.parent)).as_posix()


# Text clean-up mutations: each must leave a readable document with something to clean.
TEXT_MUTATIONS: dict[str, Callable[[str], str]] = {
    "nfd": lambda text: unicodedata.normalize("NFD", text),
    "zero-width": lambda text: text.replace(" ", " \u200b", 40).replace("e", "e\u00ad", 40),
    "carriage returns": lambda text: text.replace("\n", "\r\n").replace("</p>", "</p>\r", 40),
    "entities": lambda text: text.replace("&amp;", "&amp;amp;&#xE0;&#769;&#x200B;", 40),
    "nbsp and tabs": lambda text: text.replace(" ", "\u00a0", 80).replace(". ", ".\t\t", 40),
    "no markup": lambda text: text.replace("&lt;", "").replace("<p>", "").replace("</p>", ""),
    "surrogates and nul": lambda text: text.replace("a", "&#xD800;a", 20).replace("o", "&#0;o", 20),
}


def text_mutations(docs: list[RawDocument], count: int = 16) -> Iterator[RawDocument]:
    for doc in docs[:count]:
        text = doc.content.decode("utf-8")
        for name, mutate in TEXT_MUTATIONS.items():
            slug = name.replace(" ", "-")
            yield RawDocument(
                url=f"{doc.url}?mutation={slug}",
                content=mutate(text).encode("utf-8", "surrogatepass"),
                content_type=doc.content_type,
            )


def all_documents(download: bool) -> tuple[list[RawDocument], list[str]]:
    corpus = ingest_corpus()
    docs = corpus + fixture_files() + mutated_documents().docs + list(text_mutations(corpus))
    notes = [f"{len(corpus)} corpus feeds"]
    feedparser_docs, why = feedparser_test_corpus(download)
    docs += feedparser_docs
    notes.append(f"{len(feedparser_docs)} feedparser test files ({why})")
    return docs, notes


def entries_of(doc: RawDocument) -> dict[str, Any]:
    """Everything the ingest keeps of one document, as plain JSON values."""
    try:
        parsed = parse_document(doc)
        entries = to_entries(parsed, feed_url=doc.url, now=NOW)
    except AggregatorError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    title, site_url = feed_metadata(parsed)
    return {
        "feed": [parsed.format, parsed.encoding, list(parsed.warnings), title, site_url],
        "entries": [asdict(entry) for entry in entries],
    }


def fingerprint(value: dict[str, Any]) -> str:
    data = json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--write", type=Path, help="write the fingerprints here")
    parser.add_argument("--against", type=Path, help="compare with fingerprints written before")
    parser.add_argument("--show", metavar="URL", help="print one document's entries")
    parser.add_argument(
        "--no-download", action="store_true", help="never fetch feedparser's test corpus"
    )
    args = parser.parse_args()
    docs, notes = all_documents(download=not args.no_download)
    if args.show:
        found = [doc for doc in docs if doc.url == args.show]
        print(json.dumps([entries_of(doc) for doc in found], default=str, indent=1))
        return
    prints = {doc.url: fingerprint(entries_of(doc)) for doc in docs}
    entries = "; ".join(notes)
    print(f"{len(prints)} documents ({entries})")
    if args.write:
        args.write.write_text(json.dumps(prints, indent=0, sort_keys=True), encoding="utf-8")
    if args.against:
        before: dict[str, str] = json.loads(args.against.read_text(encoding="utf-8"))
        differ = sorted(url for url in prints if url in before and before[url] != prints[url])
        missing = sorted(set(before) ^ set(prints))
        for url in differ:
            print(f"differs: {url}")
        for url in missing:
            print(f"only in one run: {url}")
        print(f"{len(differ)} differ, {len(missing)} in one run only, of {len(prints)}")
        if differ or missing:
            sys.exit(1)


if __name__ == "__main__":
    main()
