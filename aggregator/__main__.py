"""``python -m aggregator`` runs the command-line interface."""

from __future__ import annotations

from aggregator.cli import main

if __name__ == "__main__":
    main()
