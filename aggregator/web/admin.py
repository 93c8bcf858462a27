"""The admin JSON API: feeds, subscribers and digests, for scripts and dashboards.

Every ``/api/*`` route but the OpenAPI document wants ``Authorization: Bearer TOKEN``
with the token from ``AGGREGATOR_ADMIN_TOKEN``; without that variable the API answers
404 to everything (it is off), so a server never runs with an open admin API by
accident. The token is compared in constant time.

The OpenAPI 3.1 document at ``/api/openapi.json`` is built from the same table of
operations (:data:`OPERATIONS`) the routes are, so the two cannot drift apart.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aggregator.config import Settings
from aggregator.errors import NotFoundError
from aggregator.model import Feed
from aggregator.store import Store

ADMIN_TOKEN_ENV = "AGGREGATOR_ADMIN_TOKEN"
Clock = Callable[[], datetime]
Handler = Callable[["Context", Request, dict[str, Any]], Response]


@dataclass(frozen=True, slots=True)
class Context:
    store: Store
    settings: Settings
    clock: Clock


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    summary: str
    handler: Handler
    body: dict[str, Any] | None = None  # JSON Schema of the request body
    response: dict[str, Any] = field(default_factory=dict)  # of the 2xx answer
    status: int = 200
    parameters: tuple[dict[str, Any], ...] = ()


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _feed_json(feed: Feed, ctx: Context) -> dict[str, Any]:
    stale = timedelta(hours=ctx.settings.fetch.stale_after_hours)
    return {
        "id": feed.id,
        "url": feed.url,
        "title": feed.title,
        "tags": list(feed.tags),
        "kind": feed.kind,
        "state": feed.state(ctx.clock(), stale),
        "last_success_at": _stamp(feed.last_success_at),
        "next_check_at": _stamp(feed.next_check_at),
        "error_count": feed.error_count,
        "last_error": feed.last_error,
    }


def list_feeds(ctx: Context, request: Request, body: dict[str, Any]) -> Response:
    return JSONResponse([_feed_json(f, ctx) for f in ctx.store.list_feeds()])


def add_feed(ctx: Context, request: Request, body: dict[str, Any]) -> Response:
    url = body.get("url")
    tags = body.get("tags", [])
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return _error(422, "url: an http or https URL is required")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return _error(422, "tags: a list of strings")
    feed, created = ctx.store.add_feed(
        url, now=ctx.clock(), title=str(body.get("title", "")), tags=tags
    )
    return JSONResponse(_feed_json(feed, ctx), status_code=201 if created else 200)


def remove_feed(ctx: Context, request: Request, body: dict[str, Any]) -> Response:
    try:
        ctx.store.remove_feed(str(request.path_params["feed_id"]))
    except NotFoundError as exc:
        return _error(404, str(exc))
    return Response(status_code=204)


def list_subscribers(ctx: Context, request: Request, body: dict[str, Any]) -> Response:
    digest = request.query_params.get("digest")
    subscribers = ctx.store.list_subscribers(digest)
    return JSONResponse([{"id": s.id, "digest": s.digest, "email": s.email} for s in subscribers])


def _subscriber_fields(ctx: Context, body: dict[str, Any]) -> tuple[str, str] | JSONResponse:
    digest, email = body.get("digest"), body.get("email")
    if not isinstance(digest, str) or ctx.settings.digest(digest) is None:
        return _error(422, "digest: the name of a configured digest is required")
    if not isinstance(email, str) or "@" not in email:
        return _error(422, "email: an email address is required")
    return digest, email.strip()


def add_subscriber(ctx: Context, request: Request, body: dict[str, Any]) -> Response:
    fields = _subscriber_fields(ctx, body)
    if isinstance(fields, JSONResponse):
        return fields
    subscriber, created = ctx.store.add_subscriber(*fields, now=ctx.clock())
    answer = {"id": subscriber.id, "digest": subscriber.digest, "email": subscriber.email}
    return JSONResponse(answer, status_code=201 if created else 200)


def remove_subscriber(ctx: Context, request: Request, body: dict[str, Any]) -> Response:
    fields = _subscriber_fields(ctx, body)
    if isinstance(fields, JSONResponse):
        return fields
    try:
        ctx.store.remove_subscriber(*fields, now=ctx.clock())
    except NotFoundError as exc:
        return _error(404, str(exc))
    return Response(status_code=204)


def list_digests(ctx: Context, request: Request, body: dict[str, Any]) -> Response:
    answer = []
    for digest in ctx.settings.digests:
        state = ctx.store.digest_state(digest.name)
        last = ctx.store.latest_issue(digest.name)
        answer.append(
            {
                "name": digest.name,
                "title": digest.title,
                "schedule": digest.schedule,
                "subscribers": len(ctx.store.list_subscribers(digest.name)),
                "next_run_at": _stamp(state.next_run_at),
                "last_issue": None
                if last is None
                else {
                    "id": last.id,
                    "title": last.title,
                    "created_at": last.created_at.isoformat(),
                    "stories": len(last.stories),
                    "deliveries": ctx.store.delivery_counts(last.id),
                },
            }
        )
    return JSONResponse(answer)


_FEED = {
    "type": "object",
    "required": ["id", "url", "title", "tags", "state"],
    "properties": {
        "id": {"type": "integer"},
        "url": {"type": "string"},
        "title": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "kind": {"type": "string", "enum": ["feed", "page"]},
        "state": {"type": "string", "enum": ["new", "ok", "failing", "stale", "gone"]},
        "last_success_at": {"type": ["string", "null"], "format": "date-time"},
        "next_check_at": {"type": ["string", "null"], "format": "date-time"},
        "error_count": {"type": "integer"},
        "last_error": {"type": "string"},
    },
}
_SUBSCRIBER = {
    "type": "object",
    "required": ["id", "digest", "email"],
    "properties": {
        "id": {"type": "integer"},
        "digest": {"type": "string"},
        "email": {"type": "string"},
    },
}
_SUBSCRIBER_BODY = {
    "type": "object",
    "required": ["digest", "email"],
    "properties": {"digest": {"type": "string"}, "email": {"type": "string", "format": "email"}},
}
_DIGEST = {
    "type": "object",
    "required": ["name", "schedule", "subscribers", "last_issue"],
    "properties": {
        "name": {"type": "string"},
        "title": {"type": "string"},
        "schedule": {"type": "string"},
        "subscribers": {"type": "integer"},
        "next_run_at": {"type": ["string", "null"], "format": "date-time"},
        "last_issue": {"type": ["object", "null"]},
    },
}

OPERATIONS = (
    Operation(
        "GET",
        "/api/feeds",
        "Every feed with its polling state",
        list_feeds,
        response={"type": "array", "items": _FEED},
    ),
    Operation(
        "POST",
        "/api/feeds",
        "Subscribe to a feed URL (as given: no discovery)",
        add_feed,
        body={
            "type": "object",
            "required": ["url"],
            "properties": {
                "url": {"type": "string", "format": "uri"},
                "title": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
        },
        response=_FEED,
        status=201,
    ),
    Operation(
        "DELETE",
        "/api/feeds/{feed_id}",
        "Unsubscribe a feed and delete its entries",
        remove_feed,
        status=204,
        parameters=(
            {"name": "feed_id", "in": "path", "required": True, "schema": {"type": "integer"}},
        ),
    ),
    Operation(
        "GET",
        "/api/subscribers",
        "Active subscribers",
        list_subscribers,
        response={"type": "array", "items": _SUBSCRIBER},
        parameters=(
            {"name": "digest", "in": "query", "required": False, "schema": {"type": "string"}},
        ),
    ),
    Operation(
        "POST",
        "/api/subscribers",
        "Subscribe an address (no confirmation asked)",
        add_subscriber,
        body=_SUBSCRIBER_BODY,
        response=_SUBSCRIBER,
        status=201,
    ),
    Operation(
        "DELETE",
        "/api/subscribers",
        "Unsubscribe an address, effective at once",
        remove_subscriber,
        body=_SUBSCRIBER_BODY,
        status=204,
    ),
    Operation(
        "GET",
        "/api/digests",
        "Digests, next runs and their last issue",
        list_digests,
        response={"type": "array", "items": _DIGEST},
    ),
)


def openapi_document(settings: Settings) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        answer: dict[str, Any] = {"description": "OK" if op.status != 204 else "Done"}
        if op.response:
            answer["content"] = {"application/json": {"schema": op.response}}
        entry: dict[str, Any] = {
            "summary": op.summary,
            "operationId": op.handler.__name__,
            "responses": {
                str(op.status): answer,
                "401": {"description": "Missing or wrong bearer token"},
                "422": {"description": "The request body is not what the operation takes"},
            },
        }
        if op.parameters:
            entry["parameters"] = list(op.parameters)
        if op.body:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": op.body}},
            }
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{settings.publish.title} admin API", "version": "1"},
        "servers": [{"url": settings.publish.base_url.rstrip("/")}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": paths,
    }


def _authorized(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


def admin_routes(store: Store, settings: Settings, clock: Clock, token: str) -> list[Route]:
    """The API's routes; with an empty ``token`` every one answers 404 (the API is off)."""
    ctx = Context(store, settings, clock)
    by_path: dict[str, dict[str, Operation]] = {}
    for op in OPERATIONS:
        by_path.setdefault(op.path, {})[op.method] = op

    def endpoint(operations: dict[str, Operation]) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            if not token:
                return _error(404, f"the admin API is off: set {ADMIN_TOKEN_ENV}")
            if not _authorized(request, token):
                return JSONResponse(
                    {"error": "a bearer token is required"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="admin"'},
                )
            op = operations[request.method]
            body: dict[str, Any] = {}
            if op.body is not None:
                try:
                    parsed = await request.json()
                except ValueError:
                    return _error(422, "the body must be JSON")
                if not isinstance(parsed, dict):
                    return _error(422, "the body must be a JSON object")
                body = parsed
            return await run_in_threadpool(op.handler, ctx, request, body)

        return answer

    def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document(settings))

    routes = [Route("/api/openapi.json", openapi)]
    for path, operations in by_path.items():
        starlette_path = path.replace("{feed_id}", "{feed_id:int}")
        routes.append(Route(starlette_path, endpoint(operations), methods=list(operations)))
    return routes
