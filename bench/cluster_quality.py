"""Clustering quality: pairwise precision, recall and F1 on a hand-written labelled set.

The set is ``bench/cluster_eval/`` (see its README.md): 92 articles written for the
project, in 26 stories, from 6 invented outlets (Vietnamese and English; wire copy, long
features, headline-only entries; one outlet in NFD Unicode without a declared language),
with 8 near-miss story pairs (the same people or things in a different event).

Each outlet becomes a feed document (RSS 2.0, Atom 1.0 or JSON Feed 1.1 bytes) that goes
through the real ``aggregator.parse.parse_document`` and ``aggregator.normalize.to_entries``.
The entries then arrive one UTC day at a time, in published order, and each day is
clustered the way ``aggregator.pipeline.cluster_new_entries`` does it: ``plan_clusters``
with that day's entries as new and the entries already in stories published since
(oldest new - window) as candidates and the signatures earlier plans computed as the
stored ones, with the ``[cluster]`` defaults (72 h, threshold 0.2, duplicate 0.4).

A pair of articles is positive when both carry the same story label; a predicted pair is
two articles in the same predicted story. Scores are given over all pairs, over pairs in
the same language (recall without the cross-language pairs) and over cross-language
pairs. Baseline rows, measured in the same run: "same URL" (the same canonical URL:
syndicated copies only) and "exact title" (normalized, case-folded). Two diagnostic
variants: the same clustering in one batch, and near-duplicates only (the paraphrase
threshold out of reach: what MinHash/LSH alone finds). Then the failures: false merges
(near misses flagged), missed pairs per story, and recall by the styles of the two
outlets of a pair. Then the same on the held-out set, and on the generated corpus of the
ingest benchmarks (``bench/corpus.py``, the 200 feeds ``bench/ingest.py`` serves: 11,994
entries in 5,727 labelled stories written from templates over small pools of actors and
places), clustered as one backlog the way the pipeline clusters a first pass.

Targets (issue 5): precision >= 0.95 and recall >= 0.90 (on the hand-written set).

Run: ``python -m bench.cluster_quality``

The generated corpus, first recorded 2026-12-07 22:00 UTC (main after 65bd7e4; the
hand-written and held-out sets' figures did not move from those below)::

    generated corpus (bench/corpus.py, 200 feeds): 11,994 entries in 5,727 labelled stories
    variant               labelled  predicted  correct  precision  recall     F1  stories
    current, one backlog    10,349     35,168    5,049      0.144   0.488  0.222    3,661
    near-duplicates only    10,349      4,542      656      0.144   0.063  0.088    9,133
    near-miss pairs merged: 1 of 865; predicted stories that mix labelled ones: 1821 of 3661

Far from the targets, on both counts. Before this session's rule (a name alone no longer
joins two entries of one language), ``aggregator fetch`` clustering the same 200 feeds
gave 2,835 stories at precision 0.092 and recall 0.446. What the corpus does that the
hand-written set does not: its bodies are filled-in templates, so reports of two events
of one kind ("CLB A đánh bại CLB B, vươn lên dẫn đầu bảng" / the same with C and D) are
near-duplicates by their word bigrams (1,626 of 2,200 near-duplicate joins in a run
joined two events); its events reuse a few actors and places (one bridge opens in seven
cities on one day, each a story of its own), and the paraphrase rule joins reports that
share a company or a city and the date. Its recall is low as well: a story's reports are
written from different templates (headline, wire, feature) with little in common beyond
the names. Not tuned here: the rules were written for the hand-written set, and this
corpus's labels may call apart what a reader would call one story (a product launch and
its pre-orders); but most of the mixed stories are plainly two events.

Last recorded for the hand-written sets: 2026-12-04 (signature format 3), 2 cores / 24 GiB,
``python -m bench.cluster_quality``::

    92 articles, 26 stories, 6 outlets, 8 near-miss pairs; window 72 h, threshold 0.2, duplicate 0.4
    normalization: 17 articles written in NFD, 0 entries not NFC after normalize;
    detected languages {'en': 41, 'vi': 51}

    all pairs: 92 articles, pairwise (ratio: F1)
    variant               labelled  predicted  correct  precision  recall     F1   ratio
    --------------------  --------  ---------  -------  ---------  ------  -----  ------
    same URL (baseline)        139          3        3          1   0.022  0.042   1.00x
    exact title                139          0        0          -       0      0   0.00x
    current, by day            139        129      129          1   0.928  0.963  22.93x
    current, one batch         139        129      129          1   0.928  0.963  22.93x
    near-duplicates only       139          3        3          1   0.022  0.042   1.00x

    same-language pairs: 92 articles, pairwise (ratio: F1)
    variant               labelled  predicted  correct  precision  recall     F1  ratio
    --------------------  --------  ---------  -------  ---------  ------  -----  -----
    same URL (baseline)         59          3        3          1   0.051  0.097  1.00x
    exact title                 59          0        0          -       0      0  0.00x
    current, by day             59         54       54          1   0.915  0.956  9.86x
    current, one batch          59         54       54          1   0.915  0.956  9.86x
    near-duplicates only        59          3        3          1   0.051  0.097  1.00x

    cross-language pairs: 92 articles, pairwise (ratio: F1)
    variant               labelled  predicted  correct  precision  recall     F1  ratio
    --------------------  --------  ---------  -------  ---------  ------  -----  -----
    same URL (baseline)         80          0        0          -       0      0      -
    exact title                 80          0        0          -       0      0      -
    current, by day             80         75       75          1   0.938  0.968      -
    current, one batch          80         75       75          1   0.938  0.968      -
    near-duplicates only        80          0        0          -       0      0      -

    targets, all pairs: precision 1.000 (met, >= 0.95), recall 0.928 (met, >= 0.9)
    targets, same-language pairs: precision 1.000 (met, >= 0.95), recall 0.915 (met, >= 0.9)

    held-out set: 20 articles, 6 stories, all pairs (ratio: F1)
    variant              labelled  predicted  correct  precision  recall     F1  ratio
    -------------------  --------  ---------  -------  ---------  ------  -----  -----
    same URL (baseline)        24          0        0          -       0      0      -
    current, by day            24         19       19          1   0.792  0.884      -

Reading: both targets are met: precision 1.0 (no false merge) and recall 0.928 (0.915
for same-language pairs, 0.938 across languages; 0.878, 0.847 and 0.90 with signature
format 2 earlier the same day, 0.755 on 2026-12-03). Format 3 added: a date that bounds
a period ("từ đầu năm đến ngày 1/11", "as of Nov 1") is not the event's day, so a tally
published on the 3rd no longer conflicts with an undated headline of the same day; "An"
in "Luật An toàn thực phẩm" stays in its name in Vietnamese text (it was an English
stopword); amounts with a scale word meet across languages ("5 triệu đồng", "5 million
dong": "5m"); counts of thousands also meet at two significant digits ("hơn 21.500 ca",
"21,560 cases"). These were written looking at this set's misses, so the figures flatter
them: on the held-out set (``cluster_eval/heldout/``, 20 articles in 6 stories written
after format 3 was fixed) precision is 1.0 but recall only 0.792, the misses cross-
language pairs just under the threshold (0.185 and 0.196: "Red Earth Coffee" and "Cà phê
Đất Đỏ" share no name, only their figures). Every near-miss pair stays apart, by the
fact vetoes (title years, numbers after the same word, event days more than a day apart,
the publication day standing in for an undated report) checked against every member of a
story. An outlet's own name in its copy (the "(Mekong Wire)" dateline) is not a name:
before that rule it merged the gold-plunge and rice-exports wires. The misses left are
headline-only entries that share only common words with the rest of their story ("Gạo
Việt xuất khẩu nhiều nhất từ trước tới nay", "HCMC metro outage strands evening
commuters", "Vietnam gold slumps after record run"), and a feature whose figures come
after its summary (dengue-hcmc's ph-012). Joining on title words alone at a high overlap
would take one more pair but goes against the rule that common words alone join nothing
(a test keeps it). MinHash alone finds only the three syndicated copies: paraphrases
share too few word bigrams, so recall comes from the names/numbers/dates overlap. One
batch and one batch per day give the same stories: the result depends on arrival order,
not on batching. The threshold (0.2) and the weights were chosen looking at this set and
the bundled feeds (0.18 gives the same figures here but merges an unrelated bundled
pair, the Da Nang data centre and SongPay's funding round), so these figures flatter
them.
"""

from __future__ import annotations

import html
import itertools
import json
import math
import tomllib
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from aggregator import cluster
from aggregator.config import ClusterSettings
from aggregator.model import Entry, EntrySignature, RawDocument
from aggregator.normalize import to_entries
from aggregator.parse import parse_document
from bench._table import print_table
from bench.cluster_scale import grouped_pairs, place_backlog
from bench.corpus import Corpus, generate_corpus

DATA = Path(__file__).resolve().parent / "cluster_eval"
HELD_OUT = DATA / "heldout"  # stories written after the features were fixed
# The moment the feeds are read: after every article of the set.
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TARGET_PRECISION = 0.95
TARGET_RECALL = 0.90
CURRENT = "current, by day"
BASELINE = "same URL (baseline)"

# -- the data set ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Article:
    id: str
    outlet: str  # the outlet's key: its file name without .toml
    language: str
    story: str
    title: str
    published: datetime
    url: str
    body: str  # paragraphs separated by blank lines; "" or one line for headline-only


@dataclass(frozen=True, slots=True)
class Outlet:
    key: str
    name: str
    language: str
    declare_language: bool  # whether the feed says its language
    format: str  # rss, atom or json
    style: str  # wire, feature or headline
    site: str
    articles: tuple[Article, ...]


@dataclass(frozen=True, slots=True)
class NearMiss:
    a: str
    b: str
    why: str


@dataclass(frozen=True, slots=True)
class EvalSet:
    outlets: tuple[Outlet, ...]
    stories: dict[str, str]  # label -> one-line summary
    near_misses: tuple[NearMiss, ...]

    @property
    def articles(self) -> list[Article]:
        return [article for outlet in self.outlets for article in outlet.articles]


def load_eval_set(folder: Path = DATA) -> EvalSet:
    """Read ``stories.toml`` and ``outlets/*.toml``; raises ValueError on a broken set."""
    meta = tomllib.loads((folder / "stories.toml").read_text("utf-8"))
    stories = {s["label"]: s["summary"] for s in meta["story"]}
    near = tuple(NearMiss(n["a"], n["b"], n["why"]) for n in meta.get("near_miss", []))
    outlets: list[Outlet] = []
    for path in sorted((folder / "outlets").glob("*.toml")):
        doc = tomllib.loads(path.read_text("utf-8"))
        key = path.stem
        articles = tuple(
            Article(
                id=a["id"],
                outlet=key,
                language=doc["language"],
                story=a["story"],
                title=a["title"],
                published=datetime.fromisoformat(a["published"]),
                url=a["url"],
                body=a["body"].strip(),
            )
            for a in doc["article"]
        )
        outlets.append(
            Outlet(
                key=key,
                name=doc["name"],
                language=doc["language"],
                declare_language=doc.get("declare_language", True),
                format=doc["format"],
                style=doc["style"],
                site=doc["site"],
                articles=articles,
            )
        )
    result = EvalSet(outlets=tuple(outlets), stories=stories, near_misses=near)
    for article in result.articles:
        if article.story not in stories:
            raise ValueError(f"{article.id}: unknown story {article.story!r}")
        if article.published.tzinfo is None:
            raise ValueError(f"{article.id}: published has no zone")
    return result


# -- feed documents --------------------------------------------------------------------


def _paragraphs_html(body: str) -> str:
    return "".join(f"<p>{html.escape(p.strip())}</p>" for p in body.split("\n\n") if p.strip())


def _rss(outlet: Outlet) -> bytes:
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0"><channel>',
        f"<title>{escape(outlet.name)}</title><link>{escape(outlet.site)}</link>",
        f"<description>{escape(outlet.name)}</description>",
    ]
    if outlet.declare_language:
        lines.append(f"<language>{outlet.language}</language>")
    for a in outlet.articles:
        lines.append(
            f'<item><guid isPermaLink="false">{escape(a.id)}</guid>'
            f"<title>{escape(a.title)}</title><link>{escape(a.url)}</link>"
            f"<pubDate>{format_datetime(a.published)}</pubDate>"
        )
        if a.body:
            lines.append(f"<description>{escape(_paragraphs_html(a.body))}</description>")
        lines.append("</item>")
    lines.append("</channel></rss>")
    return "\n".join(lines).encode("utf-8")


def _atom(outlet: Outlet) -> bytes:
    lang = f" xml:lang={quoteattr(outlet.language)}" if outlet.declare_language else ""
    newest = max(a.published for a in outlet.articles).isoformat()
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<feed xmlns="http://www.w3.org/2005/Atom"{lang}>',
        f"<title>{escape(outlet.name)}</title><id>{escape(outlet.site)}</id>",
        f'<link rel="alternate" href={quoteattr(outlet.site)}/><updated>{newest}</updated>',
        f"<author><name>{escape(outlet.name)}</name></author>",
    ]
    for a in outlet.articles:
        when = a.published.isoformat()
        lines.append(
            f"<entry><id>tag:{outlet.key}.example,2026:{escape(a.id)}</id>"
            f'<title>{escape(a.title)}</title><link rel="alternate" href={quoteattr(a.url)}/>'
            f"<published>{when}</published><updated>{when}</updated>"
        )
        if a.body and outlet.style == "headline":
            lines.append(f'<summary type="text">{escape(a.body)}</summary>')
        elif a.body:
            lines.append(f'<content type="html">{escape(_paragraphs_html(a.body))}</content>')
        lines.append("</entry>")
    lines.append("</feed>")
    return "\n".join(lines).encode("utf-8")


def _json_feed(outlet: Outlet) -> bytes:
    doc: dict[str, object] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": outlet.name,
        "home_page_url": outlet.site,
        "items": [
            {
                "id": a.id,
                "url": a.url,
                "title": a.title,
                "content_html": _paragraphs_html(a.body),
                "date_published": a.published.isoformat(),
            }
            for a in outlet.articles
        ],
    }
    if outlet.declare_language:
        doc["language"] = outlet.language
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")


RENDER: dict[str, tuple[Callable[[Outlet], bytes], str]] = {
    "rss": (_rss, "application/rss+xml; charset=utf-8"),
    "atom": (_atom, "application/atom+xml; charset=utf-8"),
    "json": (_json_feed, "application/feed+json"),
}


def feed_document(outlet: Outlet) -> RawDocument:
    render, content_type = RENDER[outlet.format]
    return RawDocument(
        url=f"{outlet.site}feed.{outlet.format}",
        content=render(outlet),
        content_type=content_type,
    )


def to_pipeline_entries(data: EvalSet) -> dict[str, Entry]:
    """Article id -> its Entry through parse and normalize, with store-like ids."""
    normalized: list[tuple[Article, Entry]] = []
    for feed_id, outlet in enumerate(data.outlets, start=1):
        raw = feed_document(outlet)
        doc = parse_document(raw, feeds_only=True)
        entries = to_entries(doc, feed_url=raw.url, now=NOW)
        if len(entries) != len(outlet.articles):
            raise ValueError(f"{outlet.key}: {len(entries)} entries for {len(outlet.articles)}")
        # to_entries keeps the document's order: the n-th entry is the n-th article.
        for article, entry in zip(outlet.articles, entries, strict=True):
            entry = replace(entry, feed_id=feed_id, feed_title=outlet.name)
            normalized.append((article, entry))
    # The store numbers entries as they arrive: in published order.
    normalized.sort(key=lambda pair: (pair[1].published, pair[0].id))
    return {
        article.id: replace(entry, id=number)
        for number, (article, entry) in enumerate(normalized, start=1)
    }


# -- clustering ------------------------------------------------------------------------

Assignment = dict[str, str]  # article id -> predicted story key


def cluster_incrementally(
    entries: dict[str, Entry], settings: ClusterSettings, *, by: str = "day"
) -> Assignment:
    """Mimic ``pipeline.cluster_new_entries``: each batch sees the stories formed before."""
    window = timedelta(hours=settings.window_hours)
    by_id = {entry.id: article_id for article_id, entry in entries.items()}
    batches: dict[date | None, list[Entry]] = defaultdict(list)
    for entry in entries.values():
        batches[entry.published.astimezone(UTC).date() if by == "day" else None].append(entry)
    placed: list[Entry] = []
    stored: dict[int, EntrySignature] = {}  # what the store keeps from each plan
    next_story = 1
    for key in sorted(batches, key=lambda d: d or date.min):
        new = batches[key]
        oldest = min(e.published for e in new) - window
        candidates = [e for e in placed if e.published >= oldest]
        plan = cluster.plan_clusters(
            new,
            candidates,
            threshold=settings.threshold,
            duplicate=settings.duplicate,
            window=window,
            signatures=stored,
        )
        stored.update(plan.signatures)
        story_of: dict[int, int] = {}
        for story_id, entry_ids in plan.joins.items():
            story_of.update(dict.fromkeys(entry_ids, story_id))
        for group in plan.new_stories:
            story_of.update(dict.fromkeys(group.entry_ids, next_story))
            next_story += 1
        for entry in new:
            assert entry.id is not None
            placed.append(replace(entry, story_id=story_of[entry.id]))
    return {by_id[e.id]: f"story-{e.story_id}" for e in placed}


def group_by(articles: Sequence[Article], key: Callable[[Article], str]) -> Assignment:
    return {a.id: key(a) for a in articles}


def _title_key(entry: Entry) -> str:
    return " ".join(unicodedata.normalize("NFC", entry.title).casefold().split())


# -- scoring ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Score:
    true_pairs: int
    predicted: int
    hits: int

    @property
    def precision(self) -> float | None:
        return self.hits / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.hits / self.true_pairs if self.true_pairs else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p and r else (0.0 if self.true_pairs else None)


SCOPES = ("all pairs", "same-language pairs", "cross-language pairs")


def _pairs(articles: Sequence[Article]) -> Iterable[tuple[Article, Article]]:
    return itertools.combinations(sorted(articles, key=lambda a: a.id), 2)


def score(articles: Sequence[Article], predicted: Assignment) -> dict[str, Score]:
    counts: dict[str, Counter[str]] = {scope: Counter() for scope in SCOPES}
    for a, b in _pairs(articles):
        scope = "same-language pairs" if a.language == b.language else "cross-language pairs"
        truth, guess = a.story == b.story, predicted[a.id] == predicted[b.id]
        for name in ("all pairs", scope):
            counts[name]["true"] += truth
            counts[name]["predicted"] += guess
            counts[name]["hits"] += truth and guess
    return {scope: Score(c["true"], c["predicted"], c["hits"]) for scope, c in counts.items()}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# -- report ----------------------------------------------------------------------------


def report_failures(data: EvalSet, predicted: Assignment, entries: dict[str, Entry]) -> None:
    articles = {a.id: a for a in data.articles}
    near = {frozenset((n.a, n.b)) for n in data.near_misses}

    def short(article_id: str) -> str:
        return f"{article_id} ({entries[article_id].title[:60]})"

    print(f"\nFailures of '{CURRENT}':")
    members: dict[str, list[str]] = defaultdict(list)
    for article_id, key in sorted(predicted.items()):
        members[key].append(article_id)
    merged = [ids for ids in members.values() if len({articles[i].story for i in ids}) > 1]
    print(f"- false merges: {len(merged)} predicted stories mix labelled stories")
    for ids in merged:
        labels = sorted({articles[i].story for i in ids})
        tag = (
            " [NEAR MISS]"
            if any(frozenset(p) in near for p in itertools.combinations(labels, 2))
            else ""
        )
        print(f"  {' + '.join(labels)}{tag}:")
        for article_id in ids:
            print(f"    {articles[article_id].story}: {short(article_id)}")
    print("- near-miss pairs:")
    for n in data.near_misses:
        wrong = sum(
            1
            for a, b in _pairs([x for x in articles.values() if x.story in (n.a, n.b)])
            if a.story != b.story and predicted[a.id] == predicted[b.id]
        )
        state = f"MERGED ({wrong} pairs)" if wrong else "kept apart"
        print(f"  {n.a} / {n.b}: {state}")
    print("- missed pairs per story (labelled story -> the predicted stories it is split into):")
    by_story: dict[str, list[Article]] = defaultdict(list)
    for a in articles.values():
        by_story[a.story].append(a)
    for label, group in sorted(by_story.items()):
        total = missed = missed_cross = 0
        for a, b in _pairs(group):
            total += 1
            if predicted[a.id] != predicted[b.id]:
                missed += 1
                missed_cross += a.language != b.language
        if not missed:
            continue
        parts: dict[str, list[str]] = defaultdict(list)
        for a in sorted(group, key=lambda x: x.id):
            parts[predicted[a.id]].append(a.id)
        split = " | ".join(" ".join(ids) for ids in parts.values())
        print(f"  {label}: {missed}/{total} missed ({missed_cross} cross-language): {split}")


def report_styles(data: EvalSet, predicted: Assignment) -> None:
    """Recall of the labelled pairs by the styles of the two outlets (wire, feature, headline)."""
    style = {o.key: o.style for o in data.outlets}
    found: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for a, b in _pairs(data.articles):
        if a.story != b.story:
            continue
        kind = "same language" if a.language == b.language else "cross-language"
        styles = "-".join(sorted((style[a.outlet], style[b.outlet])))
        found[(kind, styles)]["true"] += 1
        found[(kind, styles)]["hit"] += predicted[a.id] == predicted[b.id]
    print("- recall by outlet styles of the pair:")
    for (kind, styles), c in sorted(found.items()):
        print(f"  {kind}, {styles}: {c['hit']}/{c['true']}")


def main() -> None:
    data = load_eval_set()
    articles = data.articles
    entries = to_pipeline_entries(data)
    settings = ClusterSettings()

    languages = Counter(entry.language or "(none)" for entry in entries.values())
    not_nfc = [
        i for i, e in entries.items() if not unicodedata.is_normalized("NFC", e.title + e.summary)
    ]
    source_nfd = sum(1 for a in articles if not unicodedata.is_normalized("NFC", a.title + a.body))
    print(
        f"{len(articles)} articles, {len(data.stories)} stories, {len(data.outlets)} outlets, "
        f"{len(data.near_misses)} near-miss pairs; window {settings.window_hours} h, "
        f"threshold {settings.threshold}, duplicate {settings.duplicate}"
    )
    print(
        f"normalization: {source_nfd} articles written in NFD, {len(not_nfc)} entries not NFC "
        f"after normalize;\ndetected languages {dict(sorted(languages.items()))}"
    )

    near_only = replace(settings, threshold=math.inf)
    variants: list[tuple[str, Assignment]] = [
        (BASELINE, group_by(articles, lambda a: entries[a.id].url or a.id)),
        ("exact title", group_by(articles, lambda a: _title_key(entries[a.id]))),
        (CURRENT, cluster_incrementally(entries, settings)),
        ("current, one batch", cluster_incrementally(entries, settings, by="all")),
        ("near-duplicates only", cluster_incrementally(entries, near_only)),
    ]
    scores = {name: score(articles, predicted) for name, predicted in variants}
    for scope in SCOPES:
        rows = [_score_row(name, scores[name][scope]) for name, _ in variants]
        print()
        print_table(
            f"{scope}: {len(articles)} articles, pairwise (ratio: F1)",
            rows,
            baseline=BASELINE,
            key="variant",
            metric="F1",
        )

    current = scores[CURRENT]
    print()
    for scope in ("all pairs", "same-language pairs"):
        s = current[scope]
        p, r = s.precision or 0.0, s.recall or 0.0
        print(
            f"targets, {scope}: precision {p:.3f} "
            f"({'met' if p >= TARGET_PRECISION else 'NOT met'}, >= {TARGET_PRECISION}), "
            f"recall {r:.3f} ({'met' if r >= TARGET_RECALL else 'NOT met'}, >= {TARGET_RECALL})"
        )
    report_failures(data, dict(variants)[CURRENT], entries)
    report_styles(data, dict(variants)[CURRENT])
    report_held_out(settings)
    report_generated_corpus(settings)


def _score_row(name: str, s: Score) -> dict[str, object]:
    """One variant's line of a pairwise table."""
    return {
        "variant": name,
        "labelled": s.true_pairs,
        "predicted": s.predicted,
        "correct": s.hits,
        "precision": _round(s.precision),
        "recall": _round(s.recall),
        "F1": _round(s.f1),
    }


# -- the generated corpus ----------------------------------------------------------------

# The feeds of bench/ingest.py's rss2email comparison: its corpus, its first 200 feeds.
CORPUS_FEEDS = 200
BACKLOG = "current, one backlog"


def pair_score(truth: dict[int, str], predicted: dict[int, int]) -> Score:
    """Pairwise counts from group sizes, for sets too large to walk pair by pair."""
    cells = Counter((predicted[item], label) for item, label in truth.items())
    return Score(
        true_pairs=grouped_pairs(Counter(truth.values()).values()),
        predicted=grouped_pairs(Counter(predicted[item] for item in truth).values()),
        hits=grouped_pairs(cells.values()),
    )


def corpus_entries(feeds: int = CORPUS_FEEDS) -> tuple[list[Entry], dict[int, str], Corpus]:
    """The generated corpus's entries through parse and normalize, numbered in published
    order as the store would, with each one's story label."""
    corpus = generate_corpus(
        feeds=240, entries_per_feed=(20, 100), seed=1, entry_bytes=(1000, 8000)
    )
    labelled: list[tuple[Entry, str]] = []
    for feed_id, path in enumerate(sorted(corpus.files)[:feeds], start=1):
        raw = RawDocument(url=f"https://feeds.example/{path}", content=corpus.files[path])
        document = parse_document(raw, feeds_only=True)
        entries = to_entries(document, feed_url=raw.url, now=NOW + timedelta(days=30))
        if len(entries) != len(document.entries):
            raise ValueError(f"{path}: {len(entries)} entries for {len(document.entries)}")
        for parsed, entry in zip(document.entries, entries, strict=True):
            label = corpus.labels[(path, parsed.guid or parsed.link)]
            entry = replace(entry, feed_id=feed_id, feed_title=document.title)
            labelled.append((entry, label))
    labelled.sort(key=lambda pair: pair[0].published)
    numbered = [replace(entry, id=n) for n, (entry, _) in enumerate(labelled, start=1)]
    return numbered, {n: label for n, (_, label) in enumerate(labelled, start=1)}, corpus


def cluster_backlog(entries: Sequence[Entry], settings: ClusterSettings) -> dict[int, int]:
    """Story per entry id, batch by batch as ``pipeline.cluster_new_entries`` clusters a
    backlog (in this process: the placements do not depend on signing workers)."""
    clusterer = cluster.Clusterer(
        threshold=settings.threshold,
        duplicate=settings.duplicate,
        window=timedelta(hours=settings.window_hours),
    )
    stories = place_backlog(clusterer, entries)
    return {entry.id or 0: story for entry, story in zip(entries, stories, strict=True)}


def report_generated_corpus(settings: ClusterSettings, feeds: int = CORPUS_FEEDS) -> None:
    """The clustering on the corpus ``bench/corpus.py`` generates for the ingest benchmarks
    (its first ``feeds`` feeds, as ``bench/ingest.py`` serves them): every entry carries
    the label of the invented event it reports, written from templates over small pools
    of actors and places, 15 % of the events near misses of another."""
    entries, labels, corpus = corpus_entries(feeds)
    variants = {
        BACKLOG: cluster_backlog(entries, settings),
        "near-duplicates only": cluster_backlog(entries, replace(settings, threshold=math.inf)),
    }
    rows = [
        {**_score_row(name, pair_score(labels, predicted)), "stories": len(set(predicted.values()))}
        for name, predicted in variants.items()
    ]
    print()
    print_table(
        f"generated corpus (bench/corpus.py, {feeds} feeds): {len(entries):,} entries in "
        f"{len(set(labels.values())):,} labelled stories, pairwise (ratio: F1)",
        rows,
        baseline=BACKLOG,
        key="variant",
        metric="F1",
    )
    current = variants[BACKLOG]
    members: dict[int, set[str]] = defaultdict(set)
    for item, label in labels.items():
        members[current[item]].add(label)
    merged = sum(
        1
        for a, b in corpus.near_miss_of.items()
        if any(a in m and b in m for m in members.values())
    )
    mixed = sum(1 for m in members.values() if len(m) > 1)
    print(
        f"near-miss pairs merged: {merged} of {len(corpus.near_miss_of)}; predicted stories "
        f"that mix labelled ones: {mixed} of {len(members)}"
    )


def report_held_out(settings: ClusterSettings) -> None:
    """The same clustering on ``cluster_eval/heldout/``: stories written after the
    features were fixed, so its figures are not flattered by the choices made above."""
    data = load_eval_set(HELD_OUT)
    entries = to_pipeline_entries(data)
    articles = data.articles
    variants = {
        BASELINE: group_by(articles, lambda a: entries[a.id].url or a.id),
        CURRENT: cluster_incrementally(entries, settings),
    }
    rows = [
        _score_row(name, score(articles, predicted)["all pairs"])
        for name, predicted in variants.items()
    ]
    print()
    print_table(
        f"held-out set: {len(articles)} articles, {len(data.stories)} stories, all pairs"
        " (ratio: F1)",
        rows,
        baseline=BASELINE,
        key="variant",
        metric="F1",
    )
    report_failures(data, variants[CURRENT], entries)


if __name__ == "__main__":
    main()
