"""News desk routes (feeds)."""

from fastapi import APIRouter

router = APIRouter()
