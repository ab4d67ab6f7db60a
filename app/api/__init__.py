"""HTTP routers, composed in one place."""

from fastapi import APIRouter

from app.api import host, public

router = APIRouter()
router.include_router(public.router)
router.include_router(host.router)
