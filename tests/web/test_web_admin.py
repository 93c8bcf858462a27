"""The admin JSON API over the real app and store: the token guards every operation, the
operations do what they say, and the OpenAPI document lists exactly the routes served."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime

import httpx
import pytest

from aggregator.config import Settings
from aggregator.store import Store
from aggregator.web import create_app
from aggregator.web.admin import OPERATIONS
from tests.issues import queue_issue
from tests.site_data import fill_site

TOKEN = "s3cret-admin-token"


class Api:
    """Requests to the app in-process over ASGI, with the bearer token unless told."""

    def __init__(self, store: Store, settings: Settings, token: str = TOKEN) -> None:
        self.app = create_app(store, settings, admin_token=token)

    def call(
        self, method: str, path: str, body: object = None, token: str = TOKEN
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        content = body if isinstance(body, bytes) or body is None else json.dumps(body)

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                return await c.request(method, path, headers=headers, content=content)

        return asyncio.run(go())


@pytest.fixture
def site(make_settings: Callable[..., Settings], now: datetime) -> tuple[Store, Settings]:
    return fill_site(make_settings, now)


def test_without_the_token_nothing_is_answered(site: tuple[Store, Settings]) -> None:
    api = Api(*site)
    for op in OPERATIONS:
        path = op.path.replace("{feed_id}", "1")
        for token in ("", "wrong", TOKEN + "x"):
            answer = api.call(op.method, path, {"digest": "daily", "email": "a@b.c"}, token)
            assert answer.status_code == 401, (op.method, path, token)
            assert answer.headers["www-authenticate"].startswith("Bearer")
    assert len(site[0].list_feeds()) == 2  # nothing was removed


def test_the_api_is_off_without_a_configured_token(site: tuple[Store, Settings]) -> None:
    off = Api(*site, token="")
    answer = off.call("GET", "/api/feeds", token="")
    assert answer.status_code == 404 and "AGGREGATOR_ADMIN_TOKEN" in answer.json()["error"]
    assert off.call("GET", "/api/feeds", token="anything").status_code == 404


def test_feeds_listed_added_and_removed(site: tuple[Store, Settings]) -> None:
    store, settings = site
    api = Api(store, settings)
    listed = api.call("GET", "/api/feeds").json()
    assert {f["url"] for f in listed} == {"https://tin.example/rss", "https://wire.example/atom"}
    assert all(f["state"] == "new" for f in listed)
    added = api.call("POST", "/api/feeds", {"url": "https://new.example/feed", "tags": ["x"]})
    assert added.status_code == 201 and added.json()["tags"] == ["x"]
    assert api.call("POST", "/api/feeds", {"url": "https://new.example/feed"}).status_code == 200
    assert api.call("POST", "/api/feeds", {"url": "ftp://x"}).status_code == 422
    bad_tags = {"url": "https://a.example", "tags": "x"}
    assert api.call("POST", "/api/feeds", bad_tags).status_code == 422
    gone = api.call("DELETE", f"/api/feeds/{added.json()['id']}")
    assert gone.status_code == 204
    assert "https://new.example/feed" not in {f.url for f in store.list_feeds()}
    assert api.call("DELETE", "/api/feeds/999").status_code == 404


def test_subscribers_added_listed_and_removed(site: tuple[Store, Settings]) -> None:
    store, settings = site
    api = Api(store, settings)
    added = api.call("POST", "/api/subscribers", {"digest": "daily", "email": "an@example.org"})
    assert added.status_code == 201
    assert [s.email for s in store.list_subscribers("daily")] == ["an@example.org"]
    listed = api.call("GET", "/api/subscribers?digest=daily").json()
    assert listed == [{"id": added.json()["id"], "digest": "daily", "email": "an@example.org"}]
    unknown = {"digest": "weekly", "email": "a@b.c"}
    assert api.call("POST", "/api/subscribers", unknown).status_code == 422
    assert api.call("POST", "/api/subscribers", b"not json").status_code == 422
    removed = api.call("DELETE", "/api/subscribers", {"digest": "daily", "email": "an@example.org"})
    assert removed.status_code == 204 and store.list_subscribers("daily") == []
    again = api.call("DELETE", "/api/subscribers", {"digest": "daily", "email": "an@example.org"})
    assert again.status_code == 404


def test_digests_report_their_last_issue(site: tuple[Store, Settings], now: datetime) -> None:
    store, settings = site
    issue_id = queue_issue(store, now)
    (daily,) = Api(store, settings).call("GET", "/api/digests").json()
    assert daily["name"] == "daily" and daily["title"] == "Bản tin sáng"
    assert daily["last_issue"]["id"] == issue_id and daily["last_issue"]["stories"] == 1


def test_openapi_document_lists_exactly_the_served_operations(
    site: tuple[Store, Settings],
) -> None:
    store, settings = site
    doc = Api(store, settings).call("GET", "/api/openapi.json", token="").json()
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == {(op.method, op.path) for op in OPERATIONS}
    app = create_app(store, settings, admin_token=TOKEN)
    served = {
        (method, route.path.replace(":int", ""))
        for route in app.routes
        if route.path.startswith("/api/") and route.path != "/api/openapi.json"
        for method in route.methods - {"HEAD"}  # type: ignore[attr-defined]
    }
    assert served == documented
    for ops in doc["paths"].values():
        for op in ops.values():
            assert op["summary"] and op["operationId"] and op["responses"]
