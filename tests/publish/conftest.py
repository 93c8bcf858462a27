"""The site the publish tests read feeds from (tests/site_data.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from aggregator.config import Settings
from aggregator.publish.site import Site
from tests.site_data import fill_site


@pytest.fixture
def site(make_settings: Callable[..., Settings], now: datetime) -> Site:
    store, settings = fill_site(make_settings, now)
    return Site(store, settings, recheck=0)
