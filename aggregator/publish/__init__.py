"""Stage 7, publish: renderers of what we give out.

``feeds.py`` (Atom, RSS and JSON Feed serializers), ``items.py`` (what an entry, story or
issue says as a feed item, and its stable id), ``site.py`` (every feed of the site from
the store, kept as bytes until the store changes), ``atom.py`` (the main feed of a list
of entries), ``html.py`` (pages), ``email.py`` (digest messages); ``static.py`` writes
the whole site into ``[publish] output_dir``.
"""

from __future__ import annotations

import os
from pathlib import Path

from aggregator.publish.atom import render_atom
from aggregator.publish.html import render_home

__all__ = ["render_atom", "render_home", "write_file_atomically"]


def write_file_atomically(path: Path, data: bytes) -> None:
    """Readers (a static web server) never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
