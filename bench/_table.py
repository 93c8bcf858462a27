"""Result tables for benchmarks: aligned text with a ratio against an in-run baseline.

Role: every benchmark ends with ``print_table(...)`` so results look the same everywhere and
always carry a ratio to a baseline measured in the same run (absolute timings from different
machines are not comparable; ratios mostly are).

Example::

    print_table(
        "fetch 40 feeds, 50 ms latency",
        [{"variant": "sequential", "seconds": 2.41}, {"variant": "async", "seconds": 0.093}],
        baseline="sequential", key="variant", metric="seconds",
    )

prints::

    fetch 40 feeds, 50 ms latency
    variant     seconds  ratio
    ----------  -------  -----
    sequential     2.41  1.00x
    async         0.093  0.04x
"""

from __future__ import annotations

import sys
from typing import TextIO

__all__ = ["format_table", "print_table"]


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e15 else f"{value:.3e}"
    return str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def format_table(
    title: str, rows: list[dict[str, object]], baseline: str, key: str, metric: str
) -> str:
    """Render ``rows`` as an aligned table with a ``ratio`` column (see :func:`print_table`)."""
    base_rows = [row for row in rows if str(row.get(key)) == baseline]
    if not base_rows:
        raise ValueError(f"no row has {key}={baseline!r}; the baseline must be measured too")
    base_value = base_rows[0].get(metric)

    columns: list[str] = []
    for row in rows:
        for name in row:
            if name not in columns:
                columns.append(name)
    columns.append("ratio")

    body: list[list[str]] = []
    numeric = dict.fromkeys(columns, True)
    for row in rows:
        value = row.get(metric)
        if _is_number(value) and _is_number(base_value) and base_value:
            assert isinstance(value, (int, float))
            assert isinstance(base_value, (int, float))
            ratio = f"{value / base_value:.2f}x"
        else:
            ratio = "-"
        cells = [_cell(row.get(name)) for name in columns[:-1]] + [ratio]
        for name in columns[:-1]:
            if name in row and row[name] is not None and not _is_number(row[name]):
                numeric[name] = False
        body.append(cells)

    widths = [max(len(name), *(len(cells[i]) for cells in body)) for i, name in enumerate(columns)]

    def line(cells: list[str]) -> str:
        parts = [
            cell.rjust(width) if numeric[name] else cell.ljust(width)
            for cell, width, name in zip(cells, widths, columns, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [title, line(columns), "  ".join("-" * width for width in widths)]
    out.extend(line(cells) for cells in body)
    return "\n".join(out)


def print_table(
    title: str,
    rows: list[dict[str, object]],
    baseline: str,
    key: str,
    metric: str,
    *,
    file: TextIO | None = None,
) -> None:
    """Print an aligned table of ``rows`` with a ``ratio`` column.

    ``ratio`` is ``row[metric] / baseline_row[metric]`` where the baseline row is the first
    row whose ``key`` column (compared as a string) equals ``baseline``. Columns appear in
    first-seen order; numbers are right-aligned, floats shown with 4 significant digits.
    Raises ValueError when no row is the baseline.
    """
    print(format_table(title, rows, baseline, key, metric), file=file or sys.stdout)
