"""Encoders for the charset fixtures, and the measurement behind the detection choice.

``python -m tests.parse.charset_corpus`` encodes every text of ``fixtures/charset/corpus``
(our own writing) in each encoding it can be written in, as bare text and wrapped in an
undeclared RSS feed, and reports for each detector how many decode back to the original
(compared after NFC) and its cost per document. charset_normalizer is measured only when
it is installed; it is not a dependency. Not a test: timings vary by machine.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable
from html import escape
from pathlib import Path

from aggregator.parse import charset

CORPUS = Path(__file__).parent / "fixtures" / "charset" / "corpus"
_TONES = "\u0300\u0301\u0303\u0309\u0323"
_VISCII_ENCODE = {ch: bytes([i]) for i, ch in enumerate(charset._VISCII_TABLE)}


def encode_cp1258(text: str) -> bytes:
    """windows-1258 as Windows writes it: precomposed where the code page has the letter,
    else the base letter and a combining tone mark (most toned vowels)."""
    out = bytearray()
    for ch in unicodedata.normalize("NFC", text):
        try:
            out += ch.encode("cp1258")
        except UnicodeEncodeError:
            split = unicodedata.normalize("NFD", ch)
            base = unicodedata.normalize("NFC", "".join(c for c in split if c not in _TONES))
            out += (base + "".join(c for c in split if c in _TONES)).encode("cp1258")
    return bytes(out)


def encode_viscii(text: str) -> bytes:
    return b"".join(_VISCII_ENCODE[ch] for ch in unicodedata.normalize("NFC", text))


ENCODERS: dict[str, Callable[[str], bytes]] = {
    "utf-8": lambda t: t.encode("utf-8"),
    "windows-1258": encode_cp1258,
    "viscii": encode_viscii,
    "windows-1252": lambda t: t.encode("cp1252"),
    "utf-16-le": lambda t: t.encode("utf-16-le"),
    "utf-16-be": lambda t: t.encode("utf-16-be"),
    "utf-16+bom": lambda t: t.encode("utf-16"),
}


def as_rss(text: str) -> str:
    """The text as an undeclared RSS 2.0 feed: first line the title, the rest the body."""
    title, _, body = text.partition("\n")
    return (
        '<rss version="2.0"><channel><title>Corpus</title><item>'
        f"<title>{escape(title)}</title><description>{escape(body)}</description>"
        "</item></channel></rss>"
    )


def cases() -> list[tuple[str, str, bytes]]:
    """(name, expected NFC text, bytes) for every text, wrapping and encoding."""
    found = []
    for path in sorted(CORPUS.glob("*.txt")):
        text = unicodedata.normalize("NFC", path.read_text("utf-8"))
        for wrap, document in (("text", text), ("rss", as_rss(text))):
            for name, encoder in ENCODERS.items():
                try:
                    data = encoder(document)
                except (UnicodeEncodeError, KeyError):
                    continue  # English with "é" has no VISCII spelling, Vietnamese no 1252
                found.append((f"{path.stem}/{wrap}/{name}", document, data))
    return found


def ours(data: bytes) -> str:
    return charset.detect_and_decode(data)[0]


def legacy(data: bytes) -> str:
    """What text files did before detection: UTF-8, else windows-1258."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return unicodedata.normalize("NFC", data.decode("cp1258", errors="replace"))


def normalizer(data: bytes) -> str:
    import charset_normalizer

    best = charset_normalizer.from_bytes(data).best()
    return str(best) if best is not None else ""


def main() -> None:
    detectors: dict[str, Callable[[bytes], str]] = {"ours": ours, "utf8-else-1258": legacy}
    try:
        import charset_normalizer  # noqa: F401

        detectors["charset_normalizer"] = normalizer
    except ImportError:
        pass
    corpus = cases()
    for label, detector in detectors.items():
        wrong: list[str] = []
        started = time.perf_counter()
        for name, expected, data in corpus:
            got = unicodedata.normalize("NFC", detector(data))
            if got != expected:
                wrong.append(name)
        per_doc = (time.perf_counter() - started) / len(corpus) * 1e6
        right = len(corpus) - len(wrong)
        print(f"{label:20} {right}/{len(corpus)} right, {per_doc:8.0f} us/doc")  # noqa: T201
        for name in wrong:
            print(f"    wrong: {name}")  # noqa: T201
    # Cost on a large document: detection reads a bounded sample, decoding reads all.
    text = "\n".join(p.read_text("utf-8") for p in sorted(CORPUS.glob("vi_*.txt")))
    big = encode_cp1258(as_rss(text * 80))
    for label, detector in detectors.items():
        started = time.perf_counter()
        for _ in range(5):
            detector(big)
        per_doc = (time.perf_counter() - started) / 5 * 1e3
        print(f"{label:20} {len(big) // 1024} KB windows-1258 feed: {per_doc:6.1f} ms")  # noqa: T201


if __name__ == "__main__":
    main()
