"""``/labels``: examples, training through Dagster, evaluation, suggestions (owner: server helper)."""

from fastapi import APIRouter

router = APIRouter()
