"""The FastAPI app: routers, the request context, health, metrics, the token and the error
shapes every route shares (owner: server helper).

- ``GET /healthz``: the process answers, and whether the metadata database exists yet.
- ``GET /metrics``: Prometheus text (requests and latency per route template).
- ``GET /openapi.json`` and ``/docs``: the OpenAPI document (FastAPI's).
- Errors: 422 ``{"detail": [{"loc": [where, name], "msg": ...}]}`` naming the parameter (FastAPI's
  own validation shape; routes raise :func:`bad_input`), 404 for an unknown id, 503 while the
  metadata database does not exist yet (:class:`MetadataUnavailable`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from media_platform.api.context import ApiContext, MetadataUnavailable
from media_platform.keys import printable


def get_context(request: Request) -> ApiContext:
    """The dependency every route uses: ``ctx: ApiContext = Depends(get_context)``."""
    return request.app.state.context


def bad_input(where: str, name: str, problem: str) -> HTTPException:
    """A 422 in FastAPI's validation shape naming the parameter: ``where`` is ``query``,
    ``path`` or ``body``; ``problem`` is printed safely (untrusted text never goes out raw)."""
    return HTTPException(status_code=422, detail=[
        {"loc": [where, name], "msg": printable(problem), "type": "value_error"},
    ])


def not_found(what: str) -> HTTPException:
    return HTTPException(status_code=404, detail=printable(what))


async def _metadata_unavailable(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=503, content={"detail": str(exc)}, headers={"Retry-After": "30"})


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 shape, less the raw ``input`` (untrusted text never goes back raw)."""
    assert isinstance(exc, RequestValidationError)
    detail = [{"loc": list(e.get("loc", ())), "msg": printable(str(e.get("msg", ""))), "type": e.get("type", "")}
              for e in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": detail})


def create_app(context: ApiContext | None = None) -> FastAPI:
    """The app over ``context`` (default: from the settings)."""
    from media_platform.api import file_routes, label_routes, page_routes, search_routes
    from media_platform.api.auth import (
        LoopbackHostMiddleware,
        SameOriginMiddleware,
        TokenMiddleware,
    )
    from media_platform.api.metrics import ApiMetrics, MetricsMiddleware

    app = FastAPI(title="media-platform", summary="Search shots, browse episodes, teach labels.",
                  description="The search API of the media platform and its editors' page. When the server "
                  "binds beyond loopback, every request carries `Authorization: Bearer <token>`.")
    ctx = context or ApiContext.from_settings()
    app.state.context = ctx
    metrics = ApiMetrics()
    app.state.metrics = metrics
    app.add_exception_handler(MetadataUnavailable, _metadata_unavailable)
    app.add_exception_handler(RequestValidationError, _invalid_request)

    @app.get("/healthz", tags=["service"], summary="liveness, and whether the metadata database exists")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "metadata_db": ctx.metadata_db.is_file()}

    @app.get("/metrics", tags=["service"], summary="Prometheus metrics", response_class=Response)
    def prometheus_metrics() -> Response:
        body, content_type = metrics.exposition()
        return Response(content=body, media_type=content_type)

    for module in (search_routes, file_routes, label_routes, page_routes):
        app.include_router(module.router)
    app.add_middleware(SameOriginMiddleware)
    token = ctx.settings.api_token
    if token is not None:
        app.add_middleware(TokenMiddleware, token=token.get_secret_value())
    else:  # loopback only (serve refuses another address): loopback names only, too
        app.add_middleware(LoopbackHostMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: 401s are counted too
    return app
