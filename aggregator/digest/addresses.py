"""Email addresses as the CLI and the subscribe form accept them.

Deliberately plain: one ``@``, a dotted domain, no spaces, quotes, brackets or
separators, at most 320 characters. Anything cleverer belongs to the mail server;
this only keeps typos and header tricks out of the store.
"""

from __future__ import annotations

import re

from aggregator.errors import InvalidEmailError

EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
MAX_LENGTH = 320


def check_email(value: str) -> str:
    """The address stripped of surrounding space; InvalidEmailError when it is not one."""
    value = value.strip()
    if len(value) > MAX_LENGTH or not EMAIL.match(value):
        raise InvalidEmailError(f"{value[:80]!r} is not a valid email address")
    return value
