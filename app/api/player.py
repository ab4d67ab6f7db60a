"""The listeners' front page (/) and the embeddable player (/embed)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
