"""Deterministic synthetic feed corpus for the aggregator's benchmarks.

Role: build a realistic-looking set of feeds (RSS 2.0, Atom 1.0, RSS 1.0/RDF, JSON Feed 1.1;
half Vietnamese, half English) in memory, together with ground truth for clustering: every
entry belongs to exactly one *story* (an invented event with actors, place, number and date),
and each story is reported by 1 to 5 feeds of the same language in different words (headline
only, short wire, long feature). Some stories are *near misses* of another one: same actors,
different event. The feeds carry the usual noise: HTML in content, relative links, tracking
parameters, entities, CDATA, a BOM, RFC 822 dates with ``+0700``, ISO dates in RSS, missing
dates and a few titles in NFD.

The output depends only on the arguments: one ``random.Random(seed)`` drives every choice and
all dates derive from :data:`BASE_DATE`.

Library use::

    corpus = generate_corpus(feeds=40, entries_per_feed=25, seed=1)
    corpus.files["feeds/feed-007.xml"]        # bytes
    corpus.labels[("feeds/feed-007.xml", entry_id)]  # "story-0042"

Command line::

    python -m bench.corpus --out /tmp/corpus [--feeds N] [--entries N] [--stories N] [--seed S]
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from html import escape as html_escape
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from bench import _corpus_words as words

__all__ = ["BASE_DATE", "FORMATS", "LANGUAGES", "Corpus", "generate_corpus", "main"]

#: Every date in the corpus is derived from this instant.
BASE_DATE = datetime(2026, 11, 1, tzinfo=UTC)
#: Feed formats, assigned in rotation (two feeds, one per language, per format in turn).
FORMATS = ("rss2", "atom", "rdf", "jsonfeed")
#: Languages, alternating feed by feed (even index: Vietnamese).
LANGUAGES = ("vi", "en")

_VOCABS = {"en": words.EN, "vi": words.VI}
_EVENTS = {event.key: event for event in words.EVENTS}
_COVERAGE_WEIGHTS = (35, 25, 20, 12, 8)  # P(story reported by 1..5 feeds)
_NEAR_MISS_RATE = 0.15
_NFD_EVERY = 12  # in Vietnamese feeds, entry k with k % _NFD_EVERY == 5 gets an NFD title
_TRACKING = "utm_source=rss&utm_medium=feed&utm_campaign="


@dataclass(frozen=True)
class Corpus:
    """A generated corpus.

    ``files`` maps a relative path (``feeds/feed-007.xml``) to the feed's bytes,
    ``content_types`` maps the same paths to the Content-Type a server should send, and
    ``labels`` maps ``(path, entry id)`` to a story label. The entry id is the RSS 2.0
    ``<guid>``, the Atom ``<id>``, the RSS 1.0 ``rdf:about`` or the JSON Feed ``id``.
    ``near_miss_of`` maps a near-miss story's label to the label of the story whose actors
    it shares (they must *not* be clustered together).
    """

    files: dict[str, bytes]
    content_types: dict[str, str]
    labels: dict[tuple[str, str], str]
    near_miss_of: dict[str, str] = field(default_factory=dict)
    seed: int = 1

    def clusters(self) -> dict[str, list[tuple[str, str]]]:
        """Story label -> sorted list of ``(path, entry id)`` reporting it."""
        out: dict[str, list[tuple[str, str]]] = {}
        for key, label in sorted(self.labels.items()):
            out.setdefault(label, []).append(key)
        return dict(sorted(out.items()))

    def labels_document(self) -> dict[str, object]:
        """The JSON-serialisable content of ``labels.json``."""
        return {
            "seed": self.seed,
            "base_date": BASE_DATE.isoformat(),
            "feeds": len(self.files),
            "stories": len(set(self.labels.values())),
            "labels": [
                {"feed": path, "id": entry_id, "story": label}
                for (path, entry_id), label in sorted(self.labels.items())
            ],
            "near_miss_of": dict(sorted(self.near_miss_of.items())),
        }

    def write(self, out_dir: Path | str) -> list[Path]:
        """Write every file plus ``labels.json`` under ``out_dir``; return the paths written."""
        root = Path(out_dir)
        written: list[Path] = []
        for rel, data in self.files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            written.append(target)
        labels_path = root / "labels.json"
        labels_path.write_text(
            json.dumps(self.labels_document(), ensure_ascii=False, indent=1) + "\n",
            encoding="utf-8",
        )
        written.append(labels_path)
        return written


# --------------------------------------------------------------------------------------------
# Internal model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Person:
    name: str
    short: str
    hon: str
    role: str


@dataclass(frozen=True)
class _Story:
    label: str
    lang: str
    event: str
    person: _Person
    org_key: str  # organisation template, before {place} is filled in
    org: str
    place: str
    item: str
    num: int
    num2: int
    when: datetime
    parent: str | None


@dataclass(frozen=True)
class _Feed:
    index: int
    path: str
    lang: str
    fmt: str
    name: str
    site: str
    authors: tuple[str, ...]
    tz: timezone
    date_style: str
    cdata: bool
    tracking: bool
    full_content: bool
    relative_links: bool
    bom: bool
    stylesheet: bool
    apostrophe_refs: bool
    zulu: bool
    ascii_json: bool
    html_titles: bool
    guid_permalink: bool
    content_type: str


@dataclass(frozen=True)
class _Report:
    story: _Story
    style: str  # "headline" | "wire" | "feature"
    headline_idx: int
    lead_idx: int
    published: datetime


@dataclass(frozen=True)
class _Entry:
    entry_id: str
    link: str  # absolute, possibly with tracking parameters
    rel_link: str  # site-relative path
    title: str
    summary: str  # plain text, "" for headline-only
    html: str  # full HTML body, "" for headline-only
    published: datetime | None  # None: the feed omits the date
    updated: datetime
    author: str
    tag: str
    label: str


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@functools.lru_cache(maxsize=8192)
def _slug(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    out: list[str] = []
    for ch in ascii_only.lower():
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif out and out[-1] != "-":
            out.append("-")
    return "".join(out).strip("-")


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _draw(rng: random.Random, spec: tuple[int, int, int]) -> int:
    low, high, step = spec
    return rng.randrange(low, high + 1, step)


def _fmt_num(lang: str, value: int) -> str:
    text = f"{value:,}"
    return text.replace(",", ".") if lang == "vi" else text


def _day_phrase(lang: str, when: datetime, rng: random.Random) -> str:
    if lang == "vi":
        local = when.astimezone(timezone(timedelta(hours=7)))
        weekday = words.VI_WEEKDAYS[local.weekday()]
        date = f"{local.day}/{local.month}"
        part = "sáng" if local.hour < 12 else "chiều"
        return rng.choice(
            (f"ngày {date}", f"hôm {weekday}", f"{part} {date}", f"{part} {weekday} ({date})")
        )
    weekday = words.EN_WEEKDAYS[when.weekday()]
    month = words.EN_MONTHS[when.month - 1]
    return rng.choice(
        (f"on {weekday}", f"on {month} {when.day}", f"on {weekday}, {month} {when.day}")
    )


def _rfc822(moment: datetime, style: str) -> str:
    if style == "iso":
        return moment.isoformat(sep=" ")
    if style == "gmt":
        moment = moment.astimezone(UTC)
    day = words.RFC822_DAYS[moment.weekday()]
    month = words.RFC822_MONTHS[moment.month - 1]
    dom = str(moment.day) if style == "nopad" else f"{moment.day:02d}"
    if style == "gmt":
        zone = "GMT"
    else:
        offset = moment.utcoffset() or timedelta(0)
        minutes = int(offset.total_seconds()) // 60
        sign = "-" if minutes < 0 else "+"
        zone = f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    return f"{day}, {dom} {month} {moment.year} {moment:%H:%M:%S} {zone}"


def _rfc3339(moment: datetime, zulu: bool) -> str:
    text = moment.isoformat()
    if zulu and text.endswith("+00:00"):
        text = text[: -len("+00:00")] + "Z"
    return text


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


# --------------------------------------------------------------------------------------------
# Planning: feeds, stories, which feed reports which story
# --------------------------------------------------------------------------------------------


def _make_feed(index: int, rng: random.Random) -> _Feed:
    lang = LANGUAGES[index % 2]
    fmt = FORMATS[(index // 2) % len(FORMATS)]
    vocab = _VOCABS[lang]
    slot = index // 2
    base_name = vocab.feed_names[slot % len(vocab.feed_names)]
    cycle = slot // len(vocab.feed_names)
    name = base_name if cycle == 0 else f"{base_name} {cycle + 1}"
    tld = "vn.example" if lang == "vi" else "example"
    site = f"https://{_slug(name)}.{tld}"
    if lang == "vi":
        offset = timedelta(hours=7) if rng.random() < 0.8 else timedelta(0)
    else:
        offset = timedelta(hours=rng.choice((0, 0, -5, 1)))
    authors = tuple(_make_person(lang, ("",), rng).name for _ in range(rng.randint(1, 3)))
    ext = "json" if fmt == "jsonfeed" else "xml"
    content_type = {
        "rss2": rng.choice(("application/rss+xml; charset=utf-8", "text/xml; charset=UTF-8")),
        "atom": rng.choice(("application/atom+xml; charset=utf-8", "application/xml")),
        "rdf": rng.choice(("application/rdf+xml", "application/xml; charset=utf-8")),
        "jsonfeed": rng.choice(("application/feed+json", "application/json; charset=utf-8")),
    }[fmt]
    return _Feed(
        index=index,
        path=f"feeds/feed-{index:03d}.{ext}",
        lang=lang,
        fmt=fmt,
        name=name,
        site=site,
        authors=authors,
        tz=timezone(offset),
        date_style=rng.choice(("offset", "offset", "gmt", "nopad", "iso")),
        cdata=rng.random() < 0.4,
        tracking=rng.random() < 0.35,
        full_content=rng.random() < 0.5,
        relative_links=rng.random() < 0.5,
        bom=rng.random() < 0.1,
        stylesheet=rng.random() < 0.2,
        apostrophe_refs=rng.random() < 0.3,
        zulu=rng.random() < 0.5,
        ascii_json=rng.random() < 0.3,
        html_titles=rng.random() < 0.3,
        guid_permalink=rng.random() < 0.5,
        content_type=content_type,
    )


def _orgs_for(lang: str, event: words.Event) -> tuple[str, ...]:
    orgs = _VOCABS[lang].orgs
    return orgs.get(event.key) or orgs[event.category]


def _roles_for(lang: str, event: words.Event, org_key: str) -> tuple[str, ...]:
    roles = _VOCABS[lang].roles
    return roles.get(org_key) or roles[event.category]


def _make_person(lang: str, roles: Sequence[str], rng: random.Random) -> _Person:
    role = rng.choice(roles)
    if lang == "en":
        last = rng.choice(words.EN_LAST)
        return _Person(f"{rng.choice(words.EN_FIRST)} {last}", last, "", role)
    given: Sequence[str]
    if rng.random() < 0.5:
        middle, given, hon = rng.choice(words.VI_MIDDLE_FEMALE), words.VI_GIVEN_FEMALE, "bà"
    else:
        middle, given, hon = rng.choice(words.VI_MIDDLE_MALE), words.VI_GIVEN_MALE, "ông"
    first = rng.choice(given)
    return _Person(f"{rng.choice(words.VI_FAMILY)} {middle} {first}", first, hon, role)


def _make_item(lang: str, event: str, org: str, rng: random.Random) -> str:
    items = [item for item in _VOCABS[lang].templates[event].items if item != org]
    return rng.choice(items) if items else ""


def _make_numbers(event: words.Event, rng: random.Random) -> tuple[int, int]:
    num = _draw(rng, event.num)
    num2 = rng.randrange(0, num) if event.key == "match" else _draw(rng, event.num2)
    return num, num2


def _when(rng: random.Random) -> datetime:
    return BASE_DATE - timedelta(minutes=rng.randrange(2 * 1440, 21 * 1440))


def _new_story(label: str, lang: str, rng: random.Random) -> _Story:
    event = rng.choice(words.EVENTS)
    vocab = _VOCABS[lang]
    place = rng.choice(vocab.places)
    org_key = rng.choice(_orgs_for(lang, event))
    org = org_key.format(place=place)
    num, num2 = _make_numbers(event, rng)
    return _Story(
        label=label,
        lang=lang,
        event=event.key,
        person=_make_person(lang, _roles_for(lang, event, org_key), rng),
        org_key=org_key,
        org=org,
        place=place,
        item=_make_item(lang, event.key, org, rng),
        num=num,
        num2=num2,
        when=_when(rng),
        parent=None,
    )


def _near_miss(label: str, parent: _Story, rng: random.Random) -> _Story:
    """Same actors (person, organisation, place), a different event some days apart.

    The event kind changes when another kind fits the same organisation; otherwise the same
    kind recurs with different figures (and opponent or product, where there is one).
    """
    category = _EVENTS[parent.event].category
    others = [
        e
        for e in words.EVENTS
        if e.category == category
        and e.key != parent.event
        and parent.org_key in _orgs_for(parent.lang, e)
    ]
    event = rng.choice(others) if others else _EVENTS[parent.event]
    num, num2 = _make_numbers(event, rng)
    if event.key == parent.event and num == parent.num:
        num = num + event.num[2] if num + event.num[2] <= event.num[1] else event.num[0]
        if event.key == "match":
            num2 = rng.randrange(0, num)
    item = _make_item(parent.lang, event.key, parent.org, rng)
    if event.key == parent.event and item == parent.item:
        pool = [
            i
            for i in _VOCABS[parent.lang].templates[event.key].items
            if i not in (parent.item, parent.org)
        ]
        item = rng.choice(pool) if pool else item
    shift = timedelta(days=rng.randint(3, 9), minutes=rng.randrange(0, 1440))
    earliest = BASE_DATE - timedelta(days=28)
    when = parent.when - shift if parent.when - shift >= earliest else parent.when + shift
    when = min(when, BASE_DATE - timedelta(days=1))
    return _Story(
        label=label,
        lang=parent.lang,
        event=event.key,
        person=parent.person,
        org_key=parent.org_key,
        org=parent.org,
        place=parent.place,
        item=item,
        num=num,
        num2=num2,
        when=when,
        parent=parent.label,
    )


def _balance(coverage: list[int], total: int, cap: int, rng: random.Random) -> None:
    """Adjust ``coverage`` in place so it sums to ``total`` with every value in [1, cap]."""
    current = sum(coverage)
    while current > total:
        candidates = [i for i, c in enumerate(coverage) if c > 1]
        coverage[rng.choice(candidates)] -= 1
        current -= 1
    while current < total:
        candidates = [i for i, c in enumerate(coverage) if c < cap]
        coverage[rng.choice(candidates)] += 1
        current += 1


def _plan_coverage(
    slots: dict[str, int],
    feeds_per_lang: dict[str, int],
    stories: int | None,
    rng: random.Random,
) -> dict[str, list[int]]:
    """For each language, how many feeds report each of its stories (sums to the slots)."""
    caps = {lang: min(5, n) for lang, n in feeds_per_lang.items()}
    langs = [lang for lang in LANGUAGES if slots.get(lang, 0) > 0]
    counts: dict[str, int] = {}
    if stories is None:
        for lang in langs:
            drawn = 0
            count = 0
            while drawn < slots[lang]:
                drawn += min(caps[lang], rng.choices(range(1, 6), _COVERAGE_WEIGHTS)[0])
                count += 1
            counts[lang] = count
    else:
        minimum = {lang: -(-slots[lang] // caps[lang]) for lang in langs}
        low, high = sum(minimum.values()), sum(slots[lang] for lang in langs)
        if not low <= stories <= high:
            raise ValueError(
                f"stories must be between {low} and {high} for this feed and entry count "
                f"(each story is reported by at most 5 feeds), got {stories}"
            )
        total_slots = high
        for lang in langs:
            share = round(stories * slots[lang] / total_slots)
            counts[lang] = max(minimum[lang], min(slots[lang], share))
        for lang in sorted(langs, key=lambda code: -slots[code]):
            diff = stories - sum(counts.values())
            if diff == 0:
                break
            if diff > 0:
                counts[lang] += min(diff, slots[lang] - counts[lang])
            else:
                counts[lang] -= min(-diff, counts[lang] - minimum[lang])
    plan: dict[str, list[int]] = {}
    for lang in langs:
        coverage = [
            min(caps[lang], rng.choices(range(1, 6), _COVERAGE_WEIGHTS)[0])
            for _ in range(counts[lang])
        ]
        _balance(coverage, slots[lang], caps[lang], rng)
        plan[lang] = coverage
    return plan


def _assign(
    coverage: Sequence[int],
    feed_indexes: Sequence[int],
    capacity: dict[int, int],
    rng: random.Random,
) -> list[list[int]]:
    """Pick distinct feeds for each story, always preferring feeds with most room left."""
    remaining = {f: capacity[f] for f in feed_indexes}
    order = sorted(range(len(coverage)), key=lambda i: (-coverage[i], i))
    chosen: list[list[int]] = [[] for _ in coverage]
    for story_idx in order:
        ranked = sorted(feed_indexes, key=lambda f: (-remaining[f], rng.random()))
        picked = ranked[: coverage[story_idx]]
        if any(remaining[f] <= 0 for f in picked):  # cannot happen for a balanced plan
            raise RuntimeError("corpus planning failed: no feed capacity left")
        for f in picked:
            remaining[f] -= 1
        chosen[story_idx] = sorted(picked)
    return chosen


# --------------------------------------------------------------------------------------------
# Wording
# --------------------------------------------------------------------------------------------


def _facts(story: _Story, rng: random.Random) -> dict[str, str]:
    facts = {
        "person": story.person.name,
        "short": story.person.short,
        "hon": story.person.hon,
        "role": story.person.role,
        "org": story.org,
        "place": story.place,
        "item": story.item,
        "num": _fmt_num(story.lang, story.num),
        "num2": _fmt_num(story.lang, story.num2),
        "day": _day_phrase(story.lang, story.when, rng),
    }
    facts.update({_upper_first(key): _upper_first(value) for key, value in list(facts.items())})
    return facts


def _paragraphs(report: _Report, facts: dict[str, str], rng: random.Random) -> list[str]:
    story = report.story
    vocab = _VOCABS[story.lang]
    templates = vocab.templates[story.event]
    lead = templates.leads[report.lead_idx % len(templates.leads)]
    if report.style == "headline":
        return []
    if report.style == "wire":
        extra = rng.sample(templates.details, rng.randint(0, 1))
    else:
        extra = rng.sample(templates.details, rng.randint(2, min(4, len(templates.details))))
        extra += rng.sample(vocab.fillers, rng.randint(1, 2))
        rng.shuffle(extra)
    return [_nfc(text.format_map(facts)) for text in [lead, *extra]]


def _html(
    feed: _Feed,
    report: _Report,
    paragraphs: list[str],
    *,
    title: str,
    serial: int,
    related: str,
    xhtml: bool,
) -> str:
    if not paragraphs:
        return ""
    story = report.story
    section = _EVENTS[story.event].section
    dash, nbsp, ellipsis = (
        ("&#8211;", "&#160;", "&#8230;") if xhtml else ("&ndash;", "&nbsp;", "&hellip;")
    )
    esc = [html_escape(p, quote=False) for p in paragraphs]
    if report.style == "wire":
        body = [f"<p>{esc[0]}</p>", *(f"<p>{p}</p>" for p in esc[1:])]
        return "".join(body)
    slash = "/" if xhtml else ""
    parts = [
        f'<p class="lead"><strong>{html_escape(story.place.upper())}</strong> {dash} {esc[0]}</p>',
        f'<img src="/images/2026/{serial}.jpg" alt="{html_escape(title)}" width="640"{slash}>',
    ]
    for i, para in enumerate(esc[1:]):
        if i == 1:
            para = para.replace(" ", nbsp, 1)
        parts.append(f"<p>{para}</p>")
    read_more = _VOCABS[story.lang].read_more
    related_href = f"/{section}/{related}.html?utm_source=rss&amp;utm_medium=feed"
    parts.append(
        f'<p><a href="{related_href}">{read_more}{ellipsis}</a><br{slash}>'
        f'<a href="{feed.site}/{section}/">{html_escape(feed.name)}</a></p>'
    )
    return "\n".join(parts)


def _pad(
    paragraphs: list[str], report: _Report, facts: dict[str, str], target: int, seed: str
) -> list[str]:
    """More of the story's own detail and filler sentences, up to ``target`` UTF-8 bytes.

    Drawn from a generator of its own, so a corpus without padding keeps its exact bytes.
    """
    vocab = _VOCABS[report.story.lang]
    pool = [*vocab.templates[report.story.event].details, *vocab.fillers]
    pad_rng = random.Random(seed)
    size = sum(len(p.encode("utf-8")) for p in paragraphs)
    padded = list(paragraphs)
    while size < target:
        sentence = _nfc(pad_rng.choice(pool).format_map(facts))
        padded.append(sentence)
        size += len(sentence.encode("utf-8"))
    return padded


def _build_entries(
    feed: _Feed,
    reports: list[_Report],
    rng: random.Random,
    entry_bytes: tuple[int, int] | None = None,
) -> list[_Entry]:
    """Render a feed's reports (newest first) into entries with ids and links."""
    reports = sorted(reports, key=lambda r: (r.published, r.story.label))
    serial = rng.randrange(100_000, 900_000)
    built: list[_Entry] = []
    for position, report in enumerate(reports):
        serial += rng.randint(1, 37)
        story = report.story
        templates = _VOCABS[story.lang].templates[story.event]
        facts = _facts(story, rng)
        title = _nfc(
            templates.headlines[report.headline_idx % len(templates.headlines)].format_map(facts)
        )
        newest_first_position = len(reports) - 1 - position
        if story.lang == "vi" and newest_first_position % _NFD_EVERY == 5:
            title = unicodedata.normalize("NFD", title)
        section = _EVENTS[story.event].section
        rel_link = f"/{section}/{_slug(title)[:60]}-{serial}.html"
        link = feed.site + rel_link
        if feed.tracking:
            link += "?" + _TRACKING + _slug(feed.name)
        paragraphs = _paragraphs(report, facts, rng)
        if entry_bytes and paragraphs:
            seed = f"{feed.index}-{serial}"
            target = random.Random(seed).randint(*entry_bytes)
            paragraphs = _pad(paragraphs, report, facts, target, seed)
        related = f"{_slug(story.place)}-{serial - rng.randint(40, 400)}"
        xhtml = feed.fmt == "atom" and feed.cdata  # Atom feeds use the flag for xhtml content
        body = _html(
            feed, report, paragraphs, title=title, serial=serial, related=related, xhtml=xhtml
        )
        if feed.fmt == "atom":
            entry_id = (
                f"tag:{feed.site.removeprefix('https://')},2026:{serial}"
                if feed.guid_permalink
                else f"urn:uuid:{_uuid(rng)}"
            )
        elif feed.fmt == "rdf" or (feed.fmt == "rss2" and feed.guid_permalink):
            entry_id = feed.site + rel_link
        else:
            entry_id = f"{_slug(feed.name)}-{serial}"
        missing_date = feed.fmt != "atom" and rng.random() < 0.04
        built.append(
            _Entry(
                entry_id=entry_id,
                link=link,
                rel_link=rel_link,
                title=title,
                summary=paragraphs[0] if paragraphs else "",
                html=body,
                published=None if missing_date else report.published.astimezone(feed.tz),
                updated=(
                    report.published + timedelta(minutes=rng.choice((0, 0, 5, 47)))
                ).astimezone(feed.tz),
                author=rng.choice(feed.authors),
                tag=templates.tag,
                label=story.label,
            )
        )
    built.reverse()
    return built


def _uuid(rng: random.Random) -> str:
    value = rng.getrandbits(128)
    value &= ~(0xF000 << 64)
    value |= 0x4000 << 64  # version 4
    value &= ~(0xC000 << 48)
    value |= 0x8000 << 48  # RFC 4122 variant
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


# --------------------------------------------------------------------------------------------
# Serialisation
# --------------------------------------------------------------------------------------------


def _title_xml(feed: _Feed, title: str) -> str:
    text = xml_escape(title)
    if feed.apostrophe_refs:
        text = text.replace("'", "&#8217;")
    return text


def _html_xml(feed: _Feed, html: str) -> str:
    return _cdata(html) if feed.cdata else xml_escape(html)


def _prolog(feed: _Feed) -> list[str]:
    lines = ['<?xml version="1.0" encoding="utf-8"?>']
    if feed.stylesheet:
        lines.append('<?xml-stylesheet type="text/xsl" href="/assets/feed.xsl"?>')
    return lines


def _latest(entries: Sequence[_Entry]) -> datetime:
    return max((e.updated for e in entries), default=BASE_DATE)


def _render_rss2(feed: _Feed, entries: Sequence[_Entry]) -> str:
    lang = "vi" if feed.lang == "vi" else "en-us"
    out = _prolog(feed)
    out.append(
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">'
    )
    out.append("<channel>")
    out.append(f"  <title>{xml_escape(feed.name)}</title>")
    out.append(f"  <link>{feed.site}/</link>")
    out.append(f"  <description>{xml_escape(_feed_description(feed))}</description>")
    out.append(f"  <language>{lang}</language>")
    out.append(f"  <lastBuildDate>{_rfc822(_latest(entries), feed.date_style)}</lastBuildDate>")
    out.append("  <generator>bench.corpus</generator>")
    out.append(f'  <atom:link rel="self" type="application/rss+xml" href="{feed.site}/rss"/>')
    for e in entries:
        out.append("  <item>")
        padded = f"\n      {e.title}  " if feed.date_style == "nopad" else e.title
        out.append(f"    <title>{_title_xml(feed, padded)}</title>")
        out.append(f"    <link>{xml_escape(e.link)}</link>")
        permalink = "true" if e.entry_id.startswith("http") else "false"
        out.append(f'    <guid isPermaLink="{permalink}">{xml_escape(e.entry_id)}</guid>')
        if e.published is not None:
            out.append(f"    <pubDate>{_rfc822(e.published, feed.date_style)}</pubDate>")
        out.append(f"    <dc:creator>{xml_escape(e.author)}</dc:creator>")
        out.append(f"    <category>{xml_escape(e.tag)}</category>")
        if e.html:
            if feed.full_content:
                out.append(f"    <description>{xml_escape(e.summary)}</description>")
                out.append(f"    <content:encoded>{_cdata(e.html)}</content:encoded>")
            else:
                out.append(f"    <description>{_html_xml(feed, e.html)}</description>")
        out.append("  </item>")
    out.append("</channel>")
    out.append("</rss>")
    return "\n".join(out) + "\n"


def _render_atom(feed: _Feed, entries: Sequence[_Entry]) -> str:
    out = _prolog(feed)
    out.append(
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{feed.lang}" xml:base="{feed.site}/">'
    )
    out.append(f"  <title>{xml_escape(feed.name)}</title>")
    out.append(f"  <subtitle>{xml_escape(_feed_description(feed))}</subtitle>")
    out.append(f"  <id>{feed.site}/</id>")
    out.append(f"  <updated>{_rfc3339(_latest(entries), feed.zulu)}</updated>")
    out.append(f'  <link rel="self" type="application/atom+xml" href="{feed.site}/atom.xml"/>')
    out.append(f'  <link rel="alternate" type="text/html" href="{feed.site}/"/>')
    out.append(f"  <author><name>{xml_escape(feed.name)}</name></author>")
    out.append('  <generator uri="https://example.invalid/bench">bench.corpus</generator>')
    for e in entries:
        out.append("  <entry>")
        if feed.html_titles:
            out.append(f'    <title type="html">{xml_escape(html_escape(e.title))}</title>')
        else:
            out.append(f"    <title>{_title_xml(feed, e.title)}</title>")
        out.append(f"    <id>{xml_escape(e.entry_id)}</id>")
        href = e.rel_link.lstrip("/") if feed.relative_links else e.link
        out.append(f'    <link rel="alternate" type="text/html" href={quoteattr(href)}/>')
        if e.published is not None and e.published != e.updated:
            out.append(f"    <published>{_rfc3339(e.published, feed.zulu)}</published>")
        out.append(f"    <updated>{_rfc3339(e.updated, feed.zulu)}</updated>")
        out.append(f"    <author><name>{xml_escape(e.author)}</name></author>")
        out.append(f"    <category term={quoteattr(e.tag)}/>")
        if e.summary:
            out.append(f"    <summary>{xml_escape(e.summary)}</summary>")
        if e.html and feed.full_content:
            if feed.cdata:  # xhtml content, well-formed by construction
                out.append(
                    '    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
                    f"{e.html}</div></content>"
                )
            else:
                out.append(f'    <content type="html">{xml_escape(e.html)}</content>')
        out.append("  </entry>")
    out.append("</feed>")
    return "\n".join(out) + "\n"


def _render_rdf(feed: _Feed, entries: Sequence[_Entry]) -> str:
    out = _prolog(feed)
    out.append(
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/">'
    )
    out.append(f'  <channel rdf:about="{feed.site}/index.rdf">')
    out.append(f"    <title>{xml_escape(feed.name)}</title>")
    out.append(f"    <link>{feed.site}/</link>")
    out.append(f"    <description>{xml_escape(_feed_description(feed))}</description>")
    out.append(f"    <dc:language>{feed.lang}</dc:language>")
    out.append(f"    <dc:date>{_rfc3339(_latest(entries), feed.zulu)}</dc:date>")
    out.append("    <items>")
    out.append("      <rdf:Seq>")
    for e in entries:
        out.append(f"        <rdf:li rdf:resource={quoteattr(e.entry_id)}/>")
    out.append("      </rdf:Seq>")
    out.append("    </items>")
    out.append("  </channel>")
    for e in entries:
        out.append(f"  <item rdf:about={quoteattr(e.entry_id)}>")
        out.append(f"    <title>{_title_xml(feed, e.title)}</title>")
        out.append(f"    <link>{xml_escape(e.link)}</link>")
        if e.summary:
            out.append(f"    <description>{xml_escape(e.summary)}</description>")
        if e.html and feed.full_content:
            out.append(f"    <content:encoded>{_html_xml(feed, e.html)}</content:encoded>")
        if e.published is not None:
            out.append(f"    <dc:date>{_rfc3339(e.published, feed.zulu)}</dc:date>")
        out.append(f"    <dc:creator>{xml_escape(e.author)}</dc:creator>")
        out.append(f"    <dc:subject>{xml_escape(e.tag)}</dc:subject>")
        out.append("  </item>")
    out.append("</rdf:RDF>")
    return "\n".join(out) + "\n"


def _render_json(feed: _Feed, entries: Sequence[_Entry]) -> str:
    items: list[dict[str, object]] = []
    for e in entries:
        item: dict[str, object] = {"id": e.entry_id, "url": e.link, "title": e.title}
        if e.html:
            item["content_html"] = e.html
            item["summary"] = e.summary
        else:
            item["content_text"] = ""
        if e.published is not None:
            item["date_published"] = _rfc3339(e.published, feed.zulu)
            if e.updated != e.published:
                item["date_modified"] = _rfc3339(e.updated, feed.zulu)
        item["authors"] = [{"name": e.author}]
        item["tags"] = [e.tag]
        items.append(item)
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": feed.name,
        "home_page_url": f"{feed.site}/",
        "feed_url": f"{feed.site}/feed.json",
        "description": _feed_description(feed),
        "language": feed.lang,
        "authors": [{"name": feed.name}],
        "items": items,
    }
    indent = None if feed.cdata else 2
    return json.dumps(document, ensure_ascii=feed.ascii_json, indent=indent) + "\n"


def _feed_description(feed: _Feed) -> str:
    if feed.lang == "vi":
        return f"Tin tức mới nhất từ {feed.name}"
    return f"The latest news from {feed.name}"


_RENDERERS = {
    "rss2": _render_rss2,
    "atom": _render_atom,
    "rdf": _render_rdf,
    "jsonfeed": _render_json,
}


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def generate_corpus(
    *,
    feeds: int = 40,
    entries_per_feed: int | tuple[int, int] = 25,
    stories: int | None = None,
    seed: int = 1,
    entry_bytes: tuple[int, int] | None = None,
) -> Corpus:
    """Generate a deterministic corpus of ``feeds`` feeds with ``entries_per_feed`` entries each
    (an int, or a ``(low, high)`` range drawn per feed).

    ``stories`` is the number of distinct stories; by default it follows from drawing each
    story's coverage (1 to 5 feeds, mean about 2.3). It must lie between roughly a fifth of the
    entry count (every story in 5 feeds) and the entry count (every story in one feed).
    ``entry_bytes=(low, high)`` pads every entry that has a body to a size drawn in that
    range (text bytes before markup); without it the corpus keeps its exact bytes.
    """
    if feeds < 1:
        raise ValueError("feeds must be at least 1")
    low, high = entries_per_feed if isinstance(entries_per_feed, tuple) else (entries_per_feed,) * 2
    if not 1 <= low <= high:
        raise ValueError("entries_per_feed must be at least 1 (and low <= high)")
    rng = random.Random(seed)
    feed_specs = [_make_feed(i, rng) for i in range(feeds)]
    # Drawn from a stream of their own, so a fixed count gives the same bytes as ever.
    sizes = random.Random(seed + 1)
    capacity = {f.index: sizes.randint(low, high) if low < high else low for f in feed_specs}
    by_lang = {lang: [f.index for f in feed_specs if f.lang == lang] for lang in LANGUAGES}
    slots = {lang: sum(capacity[i] for i in idx) for lang, idx in by_lang.items()}
    feeds_per_lang = {lang: len(idx) for lang, idx in by_lang.items()}
    coverage = _plan_coverage(slots, feeds_per_lang, stories, rng)

    reports: dict[int, list[_Report]] = {f.index: [] for f in feed_specs}
    near_miss_of: dict[str, str] = {}
    counter = 0
    for lang in LANGUAGES:
        if lang not in coverage:
            continue
        story_list: list[_Story] = []
        for _ in coverage[lang]:
            label = f"story-{counter:04d}"
            counter += 1
            if story_list and rng.random() < _NEAR_MISS_RATE:
                story = _near_miss(label, rng.choice(story_list), rng)
                assert story.parent is not None
                near_miss_of[label] = story.parent
            else:
                story = _new_story(label, lang, rng)
            story_list.append(story)
        assignment = _assign(coverage[lang], by_lang[lang], capacity, rng)
        for story, feed_indexes in zip(story_list, assignment, strict=True):
            templates = _VOCABS[lang].templates[story.event]
            headline_order = rng.sample(range(len(templates.headlines)), len(templates.headlines))
            lead_order = rng.sample(range(len(templates.leads)), len(templates.leads))
            for n, feed_index in enumerate(feed_indexes):
                style = rng.choices(("headline", "wire", "feature"), (15, 45, 40))[0]
                delay = timedelta(minutes=rng.randint(15, 30 * 60), seconds=rng.randrange(60))
                reports[feed_index].append(
                    _Report(
                        story=story,
                        style=style,
                        headline_idx=headline_order[n % len(headline_order)],
                        lead_idx=lead_order[n % len(lead_order)],
                        published=story.when + delay,
                    )
                )

    files: dict[str, bytes] = {}
    content_types: dict[str, str] = {}
    labels: dict[tuple[str, str], str] = {}
    for feed in feed_specs:
        entries = _build_entries(feed, reports[feed.index], rng, entry_bytes)
        text = _RENDERERS[feed.fmt](feed, entries)
        data = text.encode("utf-8")
        if feed.bom and feed.fmt != "jsonfeed":
            data = b"\xef\xbb\xbf" + data
        files[feed.path] = data
        content_types[feed.path] = feed.content_type
        for e in entries:
            key = (feed.path, e.entry_id)
            if key in labels:  # pragma: no cover - ids embed a strictly increasing serial
                raise RuntimeError(f"duplicate entry id {e.entry_id!r} in {feed.path}")
            labels[key] = e.label
    return Corpus(
        files=files,
        content_types=content_types,
        labels=labels,
        near_miss_of=near_miss_of,
        seed=seed,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: write a corpus and ``labels.json`` to ``--out``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.corpus", description="Write a deterministic benchmark feed corpus."
    )
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--feeds", type=int, default=40, help="number of feeds (default 40)")
    parser.add_argument("--entries", type=int, default=25, help="entries per feed (default 25)")
    parser.add_argument(
        "--stories",
        type=int,
        default=None,
        help="distinct stories (default: drawn, about entries/2.3)",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        corpus = generate_corpus(
            feeds=args.feeds, entries_per_feed=args.entries, stories=args.stories, seed=args.seed
        )
    except ValueError as exc:
        parser.error(str(exc))
    corpus.write(args.out)
    elapsed = time.perf_counter() - started
    formats = dict.fromkeys(FORMATS, 0)
    for path in corpus.files:
        index = int(path.rsplit("-", 1)[1].split(".")[0])
        formats[FORMATS[(index // 2) % len(FORMATS)]] += 1
    size = sum(len(data) for data in corpus.files.values())
    print(
        f"wrote {len(corpus.files)} feeds ("
        + ", ".join(f"{n} {fmt}" for fmt, n in formats.items())
        + f"), {len(corpus.labels)} entries, {len(set(corpus.labels.values()))} stories "
        f"({len(corpus.near_miss_of)} near misses), {size / 1024:.0f} KiB, seed {args.seed} "
        f"to {args.out} in {elapsed:.2f}s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
