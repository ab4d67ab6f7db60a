"""News desk routes (pages)."""

from fastapi import APIRouter

router = APIRouter()
