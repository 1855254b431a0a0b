"""``/shots``, ``/episodes`` and ``/titles``: search and browse (owner: search helper)."""

from fastapi import APIRouter

router = APIRouter()
