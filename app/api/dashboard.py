"""The host dashboard page (/host): a sign-in screen that drives the HTTP API."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
