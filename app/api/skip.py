"""Skip: a listener's skip is a vote; a signed-in host's skip is at once."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
