"""The interactive API reference (/docs): Swagger UI from the swagger-ui-bundle-v2 wheel,
served by the station itself, so it works offline and loads nothing from other sites.

FastAPI's own /docs pulls Swagger UI from a CDN and starts it with an inline script; this
page has neither, so it lives under the same Content-Security-Policy as every other page
(app.headers). /redoc is off: no wheel ships ReDoc."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

from app.api.deps import SettingsDep
from app.api.templating import render_page

router = APIRouter(tags=["docs"])

# Only what the page uses: the wheel's folder holds more (source maps, other bundles).
ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js"})


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
def api_docs(request: Request, settings: SettingsDep) -> HTMLResponse:
    return render_page(request, settings, "docs.html")


@router.get("/docs/{name}", include_in_schema=False)
def api_docs_asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404, f"no such file of the API reference: {name!r}")
    return FileResponse(Path(str(swagger_ui_path)) / name)
