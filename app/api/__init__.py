"""HTTP routers, composed in one place."""

from fastapi import APIRouter

from app.api import hosts, library, playlists, public, queue

router = APIRouter()
router.include_router(public.router)
router.include_router(hosts.router)
router.include_router(queue.router)
router.include_router(playlists.router)
router.include_router(library.router)
