"""The FastAPI app: routers, the request context, health and metrics (owner: server helper)."""

from __future__ import annotations

from fastapi import FastAPI, Request

from media_platform.api import file_routes, label_routes, page_routes, search_routes
from media_platform.api.context import ApiContext


def create_app(context: ApiContext | None = None) -> FastAPI:
    """The app over ``context`` (default: from the settings)."""
    app = FastAPI(title="media-platform", summary="Search shots, browse episodes, teach labels.")
    app.state.context = context or ApiContext.from_settings()
    for module in (search_routes, file_routes, label_routes, page_routes):
        app.include_router(module.router)
    return app


def get_context(request: Request) -> ApiContext:
    """The dependency every route uses: ``ctx: ApiContext = Depends(get_context)``."""
    return request.app.state.context
