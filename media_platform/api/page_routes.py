"""The editors' page: static files built into the package (owner: page helper)."""

from fastapi import APIRouter

router = APIRouter()
