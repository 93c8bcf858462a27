"""The Jinja2 environment, shared by the web pages, static pages and emails.

Templates live in the repository's top-level ``templates/`` folder; a wheel ships
them inside the package as ``aggregator/templates`` (see pyproject.toml). HTML
templates autoescape; ``.txt`` templates do not (they are escaped by being text).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2

_PACKAGE = Path(__file__).resolve().parent.parent


def templates_dir() -> Path:
    for candidate in (_PACKAGE / "templates", _PACKAGE.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("aggregator templates folder not found")


def _format_date(value: datetime, pattern: str = "%Y-%m-%d %H:%M UTC") -> str:
    return value.strftime(pattern)


@lru_cache(maxsize=1)
def template_environment() -> jinja2.Environment:
    # Imported on first use: a polling pass renders nothing, and Jinja2 is a twentieth of
    # a second of start-up.
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=jinja2.select_autoescape(["html", "xml"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["date"] = _format_date
    return env
