"""News desk routes (news)."""

from fastapi import APIRouter

router = APIRouter()
