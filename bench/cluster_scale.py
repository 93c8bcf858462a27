"""Clustering at scale: our clusterer next to datasketch's MinHashLSH on the same entries.

Role: shows how the cost of ``aggregator.cluster.Clusterer`` grows with the number of
entries (10k, 100k, 300k by default), and how it compares with datasketch's MinHashLSH
(128 permutations, threshold 0.4 like our ``[cluster] duplicate``; the well-known library
issue 5 names) on the same entries in the same run: seconds, entries per second, peak
memory, and pairwise precision and recall against the known near-duplicate groups.

The entries are generated here, deterministically from ``--seed``: each *story* is a base
text (an 8-word title and a 50-word summary drawn, Zipf-weighted, from the words of
``bench/_corpus_words.py``, Vietnamese or English, with a two-word name and a figure of
its own), reported 1 to 5 times; every report after the first replaces 5% of the
summary's words and one title word (a lightly edited copy, as wire copy is re-run by other
outlets). Copies follow the first report within 12
hours; 10,000 entries arrive per simulated day, so a 72 h window holds about 30,000.
Stories are independent: every pair across stories is a true negative.

Our clusterer runs the way ``aggregator.pipeline.cluster_new_entries`` clusters a backlog:
one ``Clusterer``, batches of ``CLUSTER_BATCH`` (20,000) entries, each plan's signatures
packed for the store, entries older than the window dropped from memory, and its entries
signed in worker processes beside it (``aggregator.cluster.parallel``; one on 2 cores, as
the product runs with the default ``[parse] workers = 0``). So **ours uses N processes
(N = the number of cores: 2 here) while datasketch's loop uses one**: the table gives
each variant's processes, its wall-clock seconds and entries/s (the ratio compares
those), and its CPU seconds counted over all its processes, with the ratio of entries
per CPU second printed under the table. "peak MB" is the clusterer's own process; "worker
MB" the largest signing worker's peak.
datasketch runs the incremental loop one would write with it: per entry a MinHash of the
same word bigrams (``update_batch``), a query, the story of the first match (or a new
one), an insert. Each (size, variant) runs in a fresh process, so its peak resident memory
(``ru_maxrss``) is its own; "input MB" is that process's peak after generating the entries
and before clustering, so "peak MB" minus it is what clustering added.

Ours runs with the defaults (near-duplicates and paraphrases: title words, names, numbers
and dates, see ``aggregator.cluster``); ``--near-only`` adds a row with near-duplicates
only (the paraphrase threshold out of reach), the task datasketch's row does.

Targets (issue 5): close to linear growth; at least 4x datasketch's entries/s at recall
>= 0.98 and precision >= 0.99; under 1 GB at 300k.

Run: ``python -m bench.cluster_scale [--sizes 10000,100000,300000] [--seed 1] [--near-only]``
(about 10 minutes with the default sizes on 2 cores, most of it datasketch).

Last recorded: 2026-12-07, 2 cores / 24 GiB, at 5d697d2 (branch cluster-speed2), on a
machine shared with other sessions, rensa 0.5.0, datasketch 2.0.0, numpy 2.4:
``python -m bench.cluster_scale --sizes 100000`` (11:11 to 11:12 UTC, load average 0.8 at
the start, 2.5 at the end), then ``--sizes 10000,300000`` (11:12 to 11:15, load 2.5 to
3.0)::

    100,000 entries, seed 1 (ratio: entries/s)
    variant              entries  seconds  entries/s  input MB  peak MB  precision  recall  ratio
    -------------------  -------  -------  ---------  --------  -------  ---------  ------  -----
    datasketch LSH, 128  100,000    28.29      3,535       170    1,103      0.996  0.9819  1.00x
    ours                 100,000    10.29      9,715       170      544     0.9932  0.9971  2.75x

    10,000 entries, seed 1 (ratio: entries/s)
    variant              entries  seconds  entries/s  input MB  peak MB  precision  recall  ratio
    -------------------  -------  -------  ---------  --------  -------  ---------  ------  -----
    datasketch LSH, 128   10,000     2.92      3,428        79      211          1  0.9826  1.00x
    ours                  10,000     0.82     12,202        79      167     0.9679  0.9991  3.56x

    300,000 entries, seed 1 (ratio: entries/s)
    variant              entries  seconds  entries/s  input MB  peak MB  precision  recall  ratio
    -------------------  -------  -------  ---------  --------  -------  ---------  ------  -----
    datasketch LSH, 128  300,000    92.96      3,227       372    3,156     0.9863  0.9807  1.00x
    ours                 300,000    34.75      8,634       372      756     0.9965  0.9967  2.68x

    growth of 'ours' (ratio: us/entry against the smallest size)
    entries  us/entry  peak MB  ratio
    -------  --------  -------  -----
     10,000        82      167  1.00x
    300,000     115.8      756  1.41x

Earlier runs of the branch that day: at c702f1c (load 1.6 to 4.2) 2.64x at 100k, 3.18x
at 10k and 2.71x at 300k; at 02d3dcd (load 1.3) 2.80x at 100k; one at 5d697d2 while the
load rose from 2.6 to 7.7 gave 3.97x at 100k (datasketch slowed to 43.6 s): the ratio
moves with the machine's other work, which is why CPU time is given below too.

The same command on main before this work (903294e), on the same machine right after
(10:37, load 3.2 to 3.3): datasketch 29.10 s, ours 13.97 s (7,159 entries/s, peak 667
MB), 2.08x at 100k. This machine runs both clusterers about twice as fast as the one of
the earlier records (datasketch 64 s at 100k there), so compare ratios, not seconds.

After both branches of the day were merged into main (a363158: the batch LSH above, plus
the daemon's memory work of bench/soak.py: shared index keys, signing 256 entries at a
time), on a quiet machine (load average 0.5 to 1.0), ``--sizes 100000,300000`` at
11:32 UTC: 100k 11.62 s against datasketch's 28.98 s (2.49x, peak 497 MB), 300k 34.45 s
against 91.6 s (2.66x, peak 704 MB), the same precision and recall; and right after,
``--sizes 100000`` on the cluster-speed2 tip and on main, one after the other: 10.94 s
(2.59x, 539 MB) and 10.84 s (2.64x, 496 MB). No change in speed from the merge; peak
memory lower.

Reading: quality is that of the features (signature format 3), which this work did not
change: the placements are the same as before it, entry by entry (a hash of every
placement on 20k, 100k and 300k generated entries against main at 903294e), and the
packed signatures byte for byte (the labelled and held-out sets, the bundled feeds, 5,000
generated entries). Precision and recall meet the targets at 100k (0.993 / 0.997) and
300k (0.997 / 0.997), not at 10k (precision 0.968: all 10,000 entries fall in one window,
and in the corpus's small vocabulary chance pairs of capitalised words act as shared
names).

Speed: not met. 2.75x datasketch's entries/s at 100k, 2.68x at 300k, 3.56x at 10k (main
2.08x at 100k on this machine). CPU time, steadier than seconds on a shared machine:
main's clusterer and this one run alternately in one process on the same entries (best of
3 and of 2 rounds) took 137.2 -> 102.0 us an entry at 100k (1.35x at 5d697d2, load 3.1 to
3.8; 135.1 -> 99.1 at c702f1c, load 2.7 to 3.2: the later commits only bound the memory
of the near-duplicate search) and 155.0 -> 110.1 at 300k (1.41x at c702f1c, load 6 to
7), every placement the same. What made the
difference: near-duplicate candidates of a whole batch found at once in numpy
(``aggregator/cluster/lsh.py``: one sort of the window's and the batch's band keys
instead of 32 dict lookups and 32 insertions per entry and a numpy call per comparison;
the band dict's million items for a 72 h window are gone, hence the lower peaks), each
specific key's postings read once, eviction trimming each posting list once, set members
hashed through memos, the number pattern scanning only between the first and last word
with a digit, and words of ASCII text split by ``str.translate`` and ``split``. Where the
CPU goes now (100k entries, timers around each part, load about 3): signing about 60 us
an entry, packing signatures for the store 5, building targets 9, near-duplicate search
9, paraphrase candidates and scores 11, adding to the index 3, eviction 3 to 4, the
collection that follows each plan about 4. Signing in detail (2,000 to 4,000 entries,
each part left out in turn): capitalised names 11 us, numbers 6 (before the narrower
scan), rensa's MinHash 5 (1 of it the digest, the rest reading its rows back into numpy),
the bigram strings 3, the gazetteer 2; the remaining 25 or so are the body of signing
itself (two word-pattern passes, case-folding, filtering, hashing). Tried and dropped,
measured: hashed name sets cached per capitalised run (slower: this corpus meets a new run
at almost every entry), MinHashes from cached word hashes in numpy through rensa's
flat-hash entry point (2 us an entry less, not worth a new signature format), google-re2
for the word pattern (many times slower per call on 400-character texts), a larger run
cache. 4x (about 70 us an entry at 100k) needs signing at about half its cost: in
compiled code or in worker processes. Growth: 82, 103 and 116 us an entry at 10k, 100k
and 300k; the window fills at 30,000 entries, so 10k pays for a smaller index and heap.
The ``--near-only`` row was not run this time.

Memory: met at 300k: 756 MB peak (925 MB before this work), 372 MB of it the generated
input, so clustering adds about 385 MB; datasketch's process peaks at 3,156 MB. At 100k:
544 MB (667 before). The near-duplicate search makes its candidate pairs in parts of
about 4 million and compares MinHashes 65,536 pairs at a time, so a text posted thousands
of times in one window costs time, not gigabytes (3,000 copies in one batch: 0.57 GB
peak, 5.9 GB before the parts).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import random
import re
import resource
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime, timedelta

from aggregator import workers
from aggregator.cluster import Clusterer, parallel
from aggregator.cluster.signature import shingles
from aggregator.config import ClusterSettings
from aggregator.model import Entry
from aggregator.pipeline import CLUSTER_BATCH as BATCH
from bench import _corpus_words as words
from bench._table import print_table

SIZES = (10_000, 100_000, 300_000)
PER_DAY = 10_000
START = datetime(2026, 11, 1, tzinfo=UTC)
COVERAGE = (35, 25, 20, 12, 8)  # P(a story has 1..5 reports), as bench/corpus.py draws it
EDIT_RATE = 0.05
OURS = "ours"
NEAR_ONLY = "ours, near-dups only"
DATASKETCH = "datasketch LSH, 128"
VARIANTS = (DATASKETCH, OURS)
# Signing workers beside the clusterer's own process, as the product runs with the
# default ``[parse] workers = 0`` (one process per core): one on 2 cores.
SIGNING = workers.signing_processes(0)
WORKER_PEAK_MB: list[float] = []  # run_ours's signing workers' peaks, for measure()

# -- entries ---------------------------------------------------------------------------


def _strings(value: object) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _strings(item)
    elif is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            yield from _strings(getattr(value, f.name))


def vocabulary(vocab: words.Vocab) -> list[str]:
    """Every word the corpus vocabulary uses, most frequent first (placeholders left out)."""
    counts: Counter[str] = Counter()
    for text in _strings(vocab):
        counts.update(re.findall(r"\w+", re.sub(r"\{\w+\}", " ", text)))
    return [word for word, _ in counts.most_common()]


def generate(size: int, seed: int) -> tuple[list[Entry], list[int]]:
    """``size`` entries in published order (ids 1..size) and each one's story number."""
    rng = random.Random(seed)
    vocabs = [vocabulary(words.VI), vocabulary(words.EN)]
    # Zipf-like weights: a few words are in most texts, as in real copy.
    weights = [[1.0 / (rank + 1) for rank in range(len(v))] for v in vocabs]
    drafts: list[tuple[datetime, int, str, str]] = []
    story = 0
    span = timedelta(days=size / PER_DAY)
    while len(drafts) < size:
        lang = story % 2
        vocab, weight = vocabs[lang], weights[lang]
        # What ties reports of one event together: a name (two capitalised words) and a
        # figure, as in "Sao Mai Motors" and "12,436 SUVs".
        name = [rng.choice(vocab).capitalize() for _ in range(2)]
        figure = str(rng.randrange(100, 100_000))
        title = rng.choices(vocab, weight, k=6)
        title[1:1] = name
        body = rng.choices(vocab, weight, k=46)
        body[3:3] = [*name, "có" if lang == 0 else "has", figure]
        first = START + span * rng.random()
        reports = rng.choices(range(1, 6), COVERAGE)[0]
        for report in range(min(reports, size - len(drafts))):
            t, b = list(title), list(body)
            if report:
                t[rng.randrange(len(t))] = rng.choice(vocab)
                for i in range(len(b)):
                    if rng.random() < EDIT_RATE:
                        b[i] = rng.choice(vocab)
            when = first + timedelta(hours=12 * rng.random()) if report else first
            drafts.append((when, story, " ".join(t).capitalize(), " ".join(b) + "."))
        story += 1
    drafts.sort()
    entries = [
        Entry(
            id=number,
            feed_id=1 + number % 50,
            entry_key=str(number),
            url=f"https://outlet{number % 50}.example/{number}",
            title=title,
            summary=summary,
            published=when,
        )
        for number, (when, _, title, summary) in enumerate(drafts, start=1)
    ]
    return entries, [label for _, label, _, _ in drafts]


# -- the clusterers --------------------------------------------------------------------


def run_ours(entries: Sequence[Entry], *, paraphrases: bool = True) -> list[int]:
    """Story per entry, batch by batch as ``pipeline.cluster_new_entries`` clusters a
    backlog: one clusterer, each plan's new stories given ids before the next batch,
    each batch signed in this process and ``SIGNING`` worker processes at once.
    Without ``paraphrases`` the threshold is out of reach: near-duplicates only, the
    task datasketch does."""
    settings = ClusterSettings()
    clusterer = Clusterer(
        threshold=settings.threshold if paraphrases else math.inf,
        duplicate=settings.duplicate,
        window=timedelta(hours=settings.window_hours),
    )
    signers = clusterer.signers = parallel.Signers(SIGNING)
    try:
        placed = _batches(clusterer, entries)
        WORKER_PEAK_MB.append(signers.peak_mb())
        return placed
    finally:
        signers.close()  # its workers' CPU time counts once they are reaped


def _batches(clusterer: Clusterer, entries: Sequence[Entry]) -> list[int]:
    story_of: dict[int, int] = {}
    next_story = 1
    for start in range(0, len(entries), BATCH):
        plan = clusterer.plan(entries[start : start + BATCH])
        # The store would write plan.signatures; kept here, they would count as our memory.
        for story_id, ids in plan.joins.items():
            story_of.update(dict.fromkeys(ids, story_id))
        created = list(range(next_story, next_story + len(plan.new_stories)))
        for story_id, group in zip(created, plan.new_stories, strict=True):
            story_of.update(dict.fromkeys(group.entry_ids, story_id))
        next_story += len(created)
        clusterer.settle(created)
    return [story_of[e.id or 0] for e in entries]


def run_datasketch(entries: Sequence[Entry]) -> list[int]:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=ClusterSettings().duplicate, num_perm=128)
    story_of: dict[int, int] = {}
    for entry in entries:
        assert entry.id is not None
        signature = MinHash(num_perm=128)
        signature.update_batch([s.encode("utf-8") for s in shingles(entry)])
        matches = lsh.query(signature)
        story_of[entry.id] = story_of[matches[0]] if matches else entry.id
        lsh.insert(entry.id, signature)
    return [story_of[e.id or 0] for e in entries]


RUNNERS: dict[str, Callable[[Sequence[Entry]], list[int]]] = {
    OURS: run_ours,
    NEAR_ONLY: lambda entries: run_ours(entries, paraphrases=False),
    DATASKETCH: run_datasketch,
}

# -- scoring ---------------------------------------------------------------------------


def _pairs(counts: Iterable[int]) -> int:
    return sum(n * (n - 1) // 2 for n in counts)


def pairwise(truth: Sequence[int], predicted: Sequence[int]) -> tuple[float, float]:
    """Pairwise precision and recall, counted from group sizes (no pair loop)."""
    both = _pairs(Counter(zip(truth, predicted, strict=True)).values())
    said = _pairs(Counter(predicted).values())
    real = _pairs(Counter(truth).values())
    return (both / said if said else 1.0), (both / real if real else 1.0)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cpu_seconds() -> float:
    """User and system time of this process and of its children that have ended."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def measure(variant: str, size: int, seed: int) -> dict[str, object]:
    """One (variant, size) run; called in a fresh process so the peak memory is its own."""
    entries, truth = generate(size, seed)
    before = _peak_mb()
    cpu = _cpu_seconds()
    started = time.perf_counter()
    predicted = RUNNERS[variant](entries)
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu
    precision, recall = pairwise(truth, predicted)
    return {
        "variant": variant,
        "processes": 1 if variant == DATASKETCH else 1 + SIGNING,
        "entries": size,
        "seconds": round(seconds, 2),
        "CPU s": round(cpu, 2),
        "entries/s": round(size / seconds),
        "input MB": round(before),
        "peak MB": round(_peak_mb()),
        # The largest signing worker's peak (0: none ran); not in "peak MB".
        "worker MB": round(max(WORKER_PEAK_MB, default=0)),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--near-only", action="store_true", help=f"add the row '{NEAR_ONLY}' (a third longer)"
    )
    args = parser.parse_args(argv)
    variants = (*VARIANTS, NEAR_ONLY) if args.near_only else VARIANTS
    sizes = [int(s) for s in args.sizes.split(",")]
    spawn = multiprocessing.get_context("spawn")
    results: list[dict[str, object]] = []
    print(
        f"'{OURS}' runs in {1 + SIGNING} processes (the clusterer, and {SIGNING} signing"
        f" worker(s) beside it, as the product does on {workers.default_processes()} cores);"
        f" '{DATASKETCH}' in one. entries/s is wall-clock; 'CPU s' counts every process.\n"
    )
    for size in sizes:
        rows = []
        for variant in variants:
            with spawn.Pool(1) as pool:
                rows.append(pool.apply(measure, (variant, size, args.seed)))
        results.extend(rows)
        print_table(
            f"{size:,} entries, seed {args.seed} (ratio: entries/s)",
            rows,
            baseline=DATASKETCH,
            key="variant",
            metric="entries/s",
        )
        cpu = {str(row["variant"]): float(str(row["CPU s"])) for row in rows}
        print(
            f"entries per CPU second (all processes): ours {size / cpu[OURS]:,.0f},"
            f" datasketch {size / cpu[DATASKETCH]:,.0f}: {cpu[DATASKETCH] / cpu[OURS]:.2f}x"
        )
        print()
    growth = [
        {
            "entries": row["entries"],
            "us/entry": round(1e6 / float(str(row["entries/s"])), 1),
            "CPU us/entry": round(1e6 * float(str(row["CPU s"])) / float(str(row["entries"])), 1),
            "peak MB": row["peak MB"],
        }
        for row in results
        if row["variant"] == OURS
    ]
    print_table(
        f"growth of '{OURS}' (ratio: us/entry against the smallest size)",
        growth,
        baseline=str(sizes[0]),
        key="entries",
        metric="us/entry",
    )


if __name__ == "__main__":
    main()
