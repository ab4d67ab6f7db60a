"""The pages' style sheets, scripts and icons: one flat folder, web/static/."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from app.config import PROJECT_ROOT

router = APIRouter(tags=["news pages"])

STATIC_DIR = PROJECT_ROOT / "web" / "static"


@router.get("/static/{name}")
def static_file(name: str) -> FileResponse:
    """A plain route rather than a mounted StaticFiles app, so the route table stays one
    list whose access is decided."""
    folder = STATIC_DIR.resolve()
    if "\x00" in name:  # no file name holds one, and the OS refuses to look it up
        raise HTTPException(404, f"no static file {name!r}")
    path = (folder / name).resolve()
    if path.parent != folder or not path.is_file():
        raise HTTPException(404, f"no static file {name!r}")
    return FileResponse(path)
