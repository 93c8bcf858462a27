"""HTML pages: the home page of latest stories (for the web server and static output) and
the subscription pages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aggregator.config import PublishSettings
from aggregator.model import Story
from aggregator.publish.templates import template_environment


def render_home(stories: Sequence[Story], *, settings: PublishSettings, now: datetime) -> str:
    return (
        template_environment(settings.locale)
        .get_template("home.html")
        .render(
            stories=stories,
            site_title=settings.title,
            site_url=settings.base_url.rstrip("/"),
            now=now,
        )
    )


def render_page(template: str, *, settings: PublishSettings, **context: object) -> str:
    """A page of the site (subscribe, unsubscribe, messages) around ``base.html``."""
    return (
        template_environment(settings.locale)
        .get_template(template)
        .render(site_title=settings.title, site_url=settings.base_url.rstrip("/"), **context)
    )
