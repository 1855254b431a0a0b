"""The editors' page: static files built into the package (owner: page helper).

``GET /`` answers ``index.html``; ``GET /static/{name}`` answers one of the files shipped in
``media_platform/api/static`` (package data). The set of files is read once, at import, from
the package: a request names an entry of that set and nothing else, so no path from a request
reaches the file system. The page loads nothing from elsewhere (no CDN, no fonts, no network at
run time); a Content-Security-Policy of ``'self'`` says so to the browser too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

router = APIRouter(include_in_schema=False)

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".png": "image/png",
}
# Everything the page needs comes from this origin; media and keyframes too (blob: for nothing).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; script-src 'self'; "
    "style-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class StaticFile:
    name: str
    body: bytes
    media_type: str
    etag: str


def _load() -> dict[str, StaticFile]:
    files: dict[str, StaticFile] = {}
    folder = resources.files("media_platform.api").joinpath("static")
    for entry in folder.iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        if not entry.is_file() or suffix not in _TYPES:
            continue
        body = entry.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        files[entry.name] = StaticFile(entry.name, body, _TYPES[suffix], etag)
    return files


STATIC_FILES = _load()


def _answer(request: Request, file: StaticFile, cache: str) -> Response:
    headers = {
        "ETag": file.etag,
        "Cache-Control": cache,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if file.media_type.startswith("text/html"):
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    if file.etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(content=file.body, media_type=file.media_type, headers=headers)


@router.get("/")
def editors_page(request: Request) -> Response:
    """The editors' page (search, play, label, train, suggestions)."""
    return _answer(request, STATIC_FILES["index.html"], "no-cache")


@router.get("/static/{name}")
def static_file(name: str, request: Request) -> Response:
    """One of the page's files; anything else is a 404 (the name is only a key into the set)."""
    file = STATIC_FILES.get(name)
    if file is None:
        raise HTTPException(status_code=404, detail="no such file")
    # Revalidated on each load (ETag): a new package version is picked up at once, an unchanged
    # one costs a 304.
    return _answer(request, file, "no-cache")
