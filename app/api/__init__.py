"""HTTP routers, composed in one place."""

from fastapi import APIRouter

from app.api import (
    archive,
    covers,
    dashboard,
    docs,
    feeds,
    history_pages,
    hls,
    hosts,
    identity,
    library,
    listeners,
    live,
    live_ws,
    news,
    news_pages,
    observe,
    player,
    playlists,
    problems,
    public,
    queue,
    relays,
    requests,
    shows,
    skip,
    static,
)

router = APIRouter()
router.include_router(public.router)
router.include_router(archive.router)
router.include_router(hls.router)
router.include_router(observe.router)
router.include_router(hosts.router)
router.include_router(queue.router)
router.include_router(playlists.router)
router.include_router(library.router)
router.include_router(news.router)
router.include_router(listeners.router)
router.include_router(skip.router)
router.include_router(requests.router)
router.include_router(problems.router)
router.include_router(relays.router)
router.include_router(live.router)
router.include_router(live.icecast)
router.include_router(shows.router)
router.include_router(live_ws.router)
router.include_router(covers.router)
router.include_router(player.router)
router.include_router(dashboard.router)
router.include_router(docs.router)
# Feeds before the news pages: /news/feed.xml must not be taken for an article's /news/{slug}.
router.include_router(feeds.router)
router.include_router(identity.router)
router.include_router(static.router)
router.include_router(news_pages.router)
router.include_router(history_pages.router)
