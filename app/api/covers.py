"""Album art for the player: a track's embedded picture, else a generated cover."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
