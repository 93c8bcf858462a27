"""The web edge: feeds with conditional GET, pages and health, over the same store.

``app.py`` holds the routes; ``server.py`` runs them under uvicorn, alone
(``aggregator serve``) or inside the daemon.
"""

from __future__ import annotations

from aggregator.web.app import create_app

__all__ = ["create_app"]
