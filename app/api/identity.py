"""The station's identity over HTTP: hosts read and set its name, tagline, accent colour,
public URL and logo (/api/station/identity); every page links the stylesheet of its colours
(/station.css) and the logo (/station/logo/<file>), which anyone may load."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.api.auth import HostDep
from app.api.deps import StationDep
from app.api.errors import error
from app.api.templating import public_base_url
from app.identity import (
    ACCENT_PATTERN,
    LOGO_MAX_BYTES,
    MAX_NAME,
    MAX_TAGLINE,
    MAX_URL,
    Identity,
    checked_accent,
    checked_name,
    checked_public_url,
    checked_tagline,
)
from app.images import SUPPORTED, NotAnImage

hosts = APIRouter(prefix="/api/station/identity", dependencies=[HostDep], tags=["station"])
public = APIRouter(tags=["station"])

IMMUTABLE = "public, max-age=31536000, immutable"
LOGO_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


# --- Schemas ---------------------------------------------------------------------------------


class Defaults(BaseModel):
    name: str
    tagline: str
    accent: str
    public_url: str | None = Field(description="RADIO_PUBLIC_URL; null: where a request came")


class IdentityOut(BaseModel):
    name: str
    tagline: str
    accent: str = Field(description="#rrggbb")
    accent_text: str = Field(
        description="the colour of text on the accent: black or white, "
        "whichever contrasts more (always at least 4.5:1)"
    )
    accent_contrast: float = Field(description="the WCAG contrast of that text on the accent")
    public_url: str | None = Field(description="as hosts set it; null: the default")
    public_base: str = Field(description="what links and feeds start with now")
    logo_url: str | None = Field(description="the logo's path on this station; null: none")
    logo_width: int | None
    logo_height: int | None
    stored: list[str] = Field(description="the fields hosts set; the others are the defaults")
    defaults: Defaults = Field(description="what each field is when hosts have not set it")


class IdentityChange(BaseModel):
    """Only the fields given change; a field given as null goes back to its default."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=MAX_NAME * 4)
    tagline: str | None = Field(None, max_length=MAX_TAGLINE * 4)
    accent: str | None = Field(None, pattern=ACCENT_PATTERN, description="#rrggbb")
    public_url: str | None = Field(None, max_length=MAX_URL, description="an absolute http(s) URL")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else checked_name(value)

    @field_validator("tagline")
    @classmethod
    def _tagline(cls, value: str | None) -> str | None:
        return None if value is None else checked_tagline(value)

    @field_validator("accent")
    @classmethod
    def _accent(cls, value: str | None) -> str | None:
        return None if value is None else checked_accent(value)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        return None if value is None else checked_public_url(value)


def _out(identity: Identity, request: Request) -> IdentityOut:
    settings = identity.settings
    logo = identity.logo
    return IdentityOut(
        name=identity.name,
        tagline=identity.tagline,
        accent=identity.accent,
        accent_text=identity.accent_text,
        accent_contrast=identity.accent_contrast,
        public_url=identity.public_url,
        public_base=public_base_url(request, settings),
        logo_url=identity.logo_url,
        logo_width=logo.width if logo else None,
        logo_height=logo.height if logo else None,
        stored=sorted(identity.stored),
        defaults=Defaults(
            name=settings.station_name,
            tagline=settings.station_description,
            accent=settings.station_accent.lower(),
            public_url=settings.public_url or None,
        ),
    )


# --- Hosts -----------------------------------------------------------------------------------


@hosts.get("")
def read_identity(request: Request, station: StationDep) -> IdentityOut:
    """The station's name, tagline, accent colour, public URL and logo, and their defaults."""
    return _out(station.identity.current, request)


@hosts.patch("")
async def change_identity(
    body: IdentityChange, request: Request, station: StationDep
) -> IdentityOut:
    """Change the fields given; null puts one back to its RADIO_* default. Pages, feeds,
    playlist files and new stream connections show the change at once."""
    identity = await asyncio.to_thread(
        station.identity.update, body.model_dump(include=body.model_fields_set)
    )
    return _out(identity, request)


_LOGO_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": f"the picture's bytes ({SUPPORTED}, at most {LOGO_MAX_BYTES} bytes)",
        "content": {
            kind: {"schema": {"type": "string", "format": "binary"}} for kind in LOGO_TYPES
        },
    }
}


@hosts.put(
    "/logo",
    openapi_extra=_LOGO_BODY,
    max_body_size=LOGO_MAX_BYTES,
    responses={
        413: error(f"the picture is larger than {LOGO_MAX_BYTES // (1024 * 1024)} MiB"),
        415: error(
            f"the body is not a picture the station takes ({SUPPORTED}, 16 to "
            "4096 pixels a side), whatever its Content-Type"
        ),
        507: error("the station's disk is full: the logo was not stored"),
    },
)
async def set_logo(request: Request, station: StationDep) -> IdentityOut:
    """The station's logo: the picture's bytes as the body. Its type is judged by its content;
    it is stored under the state folder and shown as the pages' icon and link previews."""
    data = await request.body()
    if not data:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"the body is empty: send the picture's bytes ({SUPPORTED})",
        )
    try:
        identity = await asyncio.to_thread(station.identity.set_logo, data)
    except NotAnImage as exc:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(exc)) from exc
    except OSError as exc:
        raise HTTPException(
            status.HTTP_507_INSUFFICIENT_STORAGE,
            f"the logo could not be stored: {exc.strerror or exc}",
        ) from exc
    return _out(identity, request)


@hosts.delete("/logo")
async def remove_logo(request: Request, station: StationDep) -> IdentityOut:
    """No logo: the pages show the station's default icon again."""
    return _out(await asyncio.to_thread(station.identity.remove_logo), request)


# --- Public: what every page links ------------------------------------------------------------


@public.get("/station.css", response_class=Response, responses={200: {"content": {"text/css": {}}}})
def stylesheet(
    station: StationDep,
    v: Annotated[str | None, Query(max_length=16, description="the accent it is for")] = None,
) -> Response:
    """The station's colours as CSS custom properties (--accent, --accent-text,
    --accent-on-light, --accent-on-dark). Cached for good when `v` names the current accent,
    as the pages link it; revalidated otherwise."""
    identity = station.identity.current
    cache = IMMUTABLE if v == identity.accent[1:] else "no-cache"
    return Response(identity.stylesheet, media_type="text/css", headers={"Cache-Control": cache})


@public.get(
    "/station/logo/{name}",
    response_class=FileResponse,
    responses={200: {"content": {kind: {} for kind in LOGO_TYPES}}},
)
def logo(
    name: Annotated[str, Path(max_length=100, description="the file named by logo_url")],
    station: StationDep,
) -> FileResponse:
    """The station's logo. Its name changes with its content, so it is cached for good."""
    current = station.identity.current.logo
    path = station.identity.logo_path(name)
    if path is None or current is None or current.file != name:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the station has no logo of this name")
    return FileResponse(path, media_type=current.media_type, headers={"Cache-Control": IMMUTABLE})


router = APIRouter()
router.include_router(hosts)
router.include_router(public)
