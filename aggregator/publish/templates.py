"""The Jinja2 environments, one per locale, shared by the web pages, static pages and emails.

Templates live in the repository's top-level ``templates/`` folder; a wheel ships
them inside the package as ``aggregator/templates`` (see pyproject.toml). HTML
templates autoescape; ``.txt`` templates do not (they are escaped by being text).
Our own words go through Jinja2's i18n extension with the locale's catalog
(:mod:`aggregator.publish.i18n`); the ``day`` and ``number`` filters format for it.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2

from aggregator.publish.i18n import LOCALES, SOURCE_LOCALE, format_day, format_number, translations

_PACKAGE = Path(__file__).resolve().parent.parent


def templates_dir() -> Path:
    for candidate in (_PACKAGE / "templates", _PACKAGE.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("aggregator templates folder not found")


def _format_date(value: datetime, pattern: str = "%Y-%m-%d %H:%M UTC") -> str:
    return value.strftime(pattern)


@lru_cache(maxsize=len(LOCALES))
def template_environment(locale: str = SOURCE_LOCALE) -> jinja2.Environment:
    # Imported on first use: a polling pass renders nothing, and Jinja2 is a twentieth of
    # a second of start-up.
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=jinja2.select_autoescape(["html", "xml"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters["date"] = _format_date
    env.filters["day"] = lambda value: format_day(value, locale)
    env.filters["number"] = lambda value: format_number(value, locale)
    env.globals["locale"] = locale
    return env
