"""Stage 7, publish: pure renderers of what we give out.

``atom.py`` (our Atom feed), ``html.py`` (pages), ``email.py`` (digest messages);
``write_site`` puts the static files in ``[publish] output_dir``.
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
