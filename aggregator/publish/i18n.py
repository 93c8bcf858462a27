"""Message catalogs: our own words in emails and pages, in English and Vietnamese.

English is the source language (the msgids); other languages are gettext catalogs in
``aggregator/locale/<locale>/LC_MESSAGES/messages.po``, read with Babel and compiled
in memory on first use, so there is no build step and no binary file to keep in step.
Templates use Jinja2's i18n extension (``{% trans %}``, ``_()``); Python code uses
:func:`translations`. Dates and numbers are formatted for the locale by Babel. A test
extracts every message from the templates and the code and checks each catalog has it.
"""

from __future__ import annotations

import gettext
from datetime import datetime
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

from aggregator.model import LOCALES as LOCALES  # re-exported: the catalogs live here

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
SOURCE_LOCALE = "en"


def catalog_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> gettext.NullTranslations:
    """The catalog of ``locale``; the source language needs none."""
    if locale == SOURCE_LOCALE:
        return gettext.NullTranslations()
    with catalog_path(locale).open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def format_day(value: datetime, locale: str, width: str = "medium") -> str:
    """A calendar day as the locale writes it: "Nov 21, 2026", "21 thg 11, 2026";
    ``width="long"``: "November 21, 2026", "21 tháng 11, 2026"."""
    return format_date(value, format=width, locale=locale)


def format_number(value: int | float, locale: str) -> str:
    return format_decimal(value, locale=locale)
