"""Keyframes, episode media and preview audio, with range requests (owner: server helper)."""

from fastapi import APIRouter

router = APIRouter()
