"""Host accounts over HTTP: signing in and out, managing hosts (admins), personal tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from app.accounts import hosts as accounts
from app.accounts import profiles
from app.accounts.passwords import MAX_LENGTH, WeakPassword
from app.accounts.ratelimit import LoginThrottle
from app.accounts.sessions import (
    COOKIE_NAME,
    end_session,
    end_sessions_of,
    purge_expired,
    start_session,
)
from app.accounts.tokens import (
    LIFETIME_HELP,
    LIFETIME_PATTERN,
    issue_token,
    list_tokens,
    parse_lifetime,
    revoke_token,
)
from app.api.auth import AdminDep, AuthDep, CurrentHost, HostDep, unauthenticated
from app.api.dashboard import host_page
from app.api.deps import DbDep, RowId, SettingsDep, loads_json
from app.api.errors import error, retry_later
from app.api.limits import BODY_LIMIT
from app.api.templating import public_base_url
from app.config import Settings
from app.db import SessionFactory
from app.models import ApiToken, Host, HostRole

public = APIRouter(prefix="/api", tags=["hosts"])
guarded = APIRouter(prefix="/api", dependencies=[HostDep], tags=["hosts"])


# --- Schemas --------------------------------------------------------------------------------


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_LENGTH)


class HostOut(BaseModel):
    id: int
    username: str
    role: HostRole
    created_at: datetime


class SessionOut(BaseModel):
    host: HostOut
    via: Literal["session", "token"]
    csrf_token: str | None = None  # echo it in X-CSRF-Token on POST/PUT/PATCH/DELETE
    expires_at: datetime | None = None


class NewHost(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(max_length=MAX_LENGTH)
    role: HostRole = HostRole.host


class RoleChange(BaseModel):
    role: HostRole


class PasswordChange(BaseModel):
    password: str = Field(max_length=MAX_LENGTH)
    # required when changing one's own password
    current_password: str | None = Field(None, max_length=MAX_LENGTH)


class NewToken(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    # None: the token works until revoked.
    expires_in: str | None = Field(
        None, max_length=8, pattern=LIFETIME_PATTERN, description=LIFETIME_HELP
    )


class TokenOut(BaseModel):
    id: int
    host_id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime | None  # None: never


class IssuedTokenOut(TokenOut):
    token: str  # the secret: shown this once, never again


def _host_out(host: Host) -> HostOut:
    return HostOut(id=host.id, username=host.username, role=host.role, created_at=host.created_at)


def _token_out(token: ApiToken) -> TokenOut:
    return TokenOut.model_validate(token, from_attributes=True)


# --- Dependencies ---------------------------------------------------------------------------


def _throttle(request: Request) -> LoginThrottle:
    return request.state.login_throttle  # type: ignore[no-any-return]


Throttle = Annotated[LoginThrottle, Depends(_throttle)]


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _refuse(error: ValueError) -> HTTPException:
    if isinstance(error, accounts.HostNotFound):
        return HTTPException(status.HTTP_404_NOT_FOUND, str(error))
    if isinstance(error, accounts.HostExists | accounts.LastAdmin):
        return HTTPException(status.HTTP_409_CONFLICT, str(error))
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error))


def _host_by_id(db: Session, host_id: int) -> Host:
    host = db.get(Host, host_id)
    if host is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no host with id {host_id}")
    return host


# --- Signing in and out ---------------------------------------------------------------------

LOGIN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            media: {"schema": Credentials.model_json_schema()}
            for media in ("application/json", "application/x-www-form-urlencoded")
        },
    }
}


async def _read_credentials(request: Request) -> tuple[Credentials, str | None]:
    """From JSON (scripts, the dashboard) or a plain HTML form; a form may name the page to
    go to once signed in (`next`), so a browser without script lands on a page, not JSON."""
    try:
        if _is_json(request):
            data, after = loads_json(await request.body() or b"null"), None
        else:
            data = dict(await request.form())
            after = data.pop("next", None)
        return Credentials.model_validate(data), _local_path(after)
    except (ValueError, ValidationError) as error:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "send a username and a password, as JSON or as a form",
        ) from error


def _local_path(value: object) -> str | None:
    """Only a path on this site: never an open redirect to somebody else's."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return None


HTML_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def _is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("application/json")


def from_this_site(request: Request, settings: Settings) -> bool:
    """Whether a browser says the post comes from one of the station's pages. Browsers name
    the page's origin in Origin on every POST (else the page in Referer, which the station's
    Referrer-Policy keeps for its own pages); a request with neither is not from a browser,
    so nobody's cookies are at stake. Origin "null" (a sandboxed frame, a data: page) is not
    this site. Hosts compared, not schemes: TLS may end at a proxy in front."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None:
        return True
    here = {request.headers.get("host", "")} - {""}
    here.add(urlsplit(public_base_url(request, settings)).netloc)  # as hosts or settings set it
    return urlsplit(source).netloc in here


SIGN_IN_ERRORS = {
    401: error("wrong username or password", html=True),
    403: error("a form posted from another site's page", html=True),
    422: error("a field is missing or not valid", html=True),
    429: retry_later("too many attempts for this name or from this address", html=True),
    503: retry_later("too many sign-ins are waiting for their password check"),
}


@public.post("/session", openapi_extra=LOGIN_BODY, response_model=SessionOut,
             responses=SIGN_IN_ERRORS)  # fmt: skip
async def sign_in(request: Request, settings: SettingsDep, throttle: Throttle) -> Response:
    """Sign in: sets the HttpOnly session cookie and returns the CSRF token to send with
    every POST/PUT/PATCH/DELETE made with that cookie.

    A form post (the dashboard's sign-in without script) must come from the station's own
    page, else another site could sign a visitor into an account of its choosing (login
    CSRF); a refused form sign-in answers with the sign-in page and the reason, not JSON.
    JSON needs no such check: another site's page cannot send it without CORS, which the
    station does not grant for POST."""
    if _is_json(request):
        return await _sign_in(request, settings, throttle)
    try:
        if not from_this_site(request, settings):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                "sign in from this station's own sign-in page")  # fmt: skip
        return await _sign_in(request, settings, throttle)
    except HTTPException as refused:
        if not request.headers.get("content-type", "").startswith(HTML_FORMS):
            raise  # not a browser's form: the plain JSON error
        form = await request.form()  # parsed once already; Starlette keeps it
        username = form.get("username")
        return host_page(request, settings, None, refused,
                         username[:64] if isinstance(username, str) else "")  # fmt: skip


async def _sign_in(request: Request, settings: Settings, throttle: LoginThrottle) -> Response:
    credentials, after = await _read_credentials(request)
    username, address = credentials.username.strip().lower(), _address(request)
    # The attempt is reserved before the password is checked: parallel guesses all count.
    if wait := throttle.attempt(address, username):
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed sign-ins: try again in {wait} seconds",
            headers={"Retry-After": str(wait)},
        )
    if not throttle.start_check():
        throttle.not_checked(address, username)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "too many sign-ins at once: try again in a second",
                            headers={"Retry-After": "1"})  # fmt: skip
    sessions: SessionFactory = request.state.station.sessions
    lifetime = timedelta(hours=settings.session_hours)
    try:
        started = await run_in_threadpool(_start, sessions, credentials, lifetime)
    finally:
        throttle.end_check()
    if started is None:
        # The same answer whether or not the name exists: it must not reveal who is a host.
        raise unauthenticated("wrong username or password")
    throttle.succeeded(address, username)
    out, secret = started
    response = Response(out.model_dump_json(), media_type="application/json")
    if after is not None:
        response = RedirectResponse(after, status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        COOKIE_NAME,
        secret,
        max_age=int(lifetime.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https"
        or public_base_url(request, settings).startswith("https:"),
    )
    return response


def _start(
    sessions: SessionFactory, credentials: Credentials, lifetime: timedelta
) -> tuple[SessionOut, str] | None:
    now = datetime.now(UTC)
    with sessions() as db:
        host = accounts.authenticate(db, credentials.username, credentials.password)
        if host is None:
            return None
        purge_expired(db, now)
        new = start_session(db, host, now, lifetime)
        db.commit()
        out = SessionOut(host=_host_out(host), via="session", csrf_token=new.session.csrf_token,
                         expires_at=new.session.expires_at)  # fmt: skip
        return out, new.secret


@guarded.get("/session")
def who_am_i(auth: AuthDep) -> SessionOut:
    """The signed-in host; for a browser session also its CSRF token (after a reload)."""
    if auth.session is None:
        return SessionOut(host=_host_out(auth.host), via="token")
    session = auth.session
    return SessionOut(
        host=_host_out(auth.host),
        via="session",
        csrf_token=session.csrf_token,
        expires_at=session.expires_at,
    )


@guarded.delete("/session", status_code=status.HTTP_204_NO_CONTENT)
def sign_out(auth: AuthDep, db: DbDep, response: Response) -> None:
    """Sign out this browser. (A personal token stays valid: revoke it instead.)"""
    if auth.session is not None:
        end_session(db, auth.session.id)
        db.commit()
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax")


# --- Hosts (admins) -------------------------------------------------------------------------

LAST_ADMIN = {409: error("the station's last admin stays an admin")}


@guarded.get("/hosts", dependencies=[AdminDep])
def hosts(db: DbDep) -> list[HostOut]:
    return [_host_out(host) for host in accounts.list_hosts(db)]


@guarded.post("/hosts", dependencies=[AdminDep], status_code=status.HTTP_201_CREATED,
              responses={409: error("a host with this name exists")})  # fmt: skip
def add_host(new: NewHost, db: DbDep) -> HostOut:
    try:
        host = accounts.create_host(db, new.username, new.password, new.role)
    except (accounts.AccountError, WeakPassword) as error:
        raise _refuse(error) from error
    db.commit()
    return _host_out(host)


@guarded.patch("/hosts/{host_id}", dependencies=[AdminDep], responses=LAST_ADMIN)
def change_role(host_id: RowId, change: RoleChange, db: DbDep) -> HostOut:
    host = _host_by_id(db, host_id)
    try:
        accounts.set_role(db, host, change.role)
    except accounts.AccountError as error:
        raise _refuse(error) from error
    db.commit()
    return _host_out(host)


@guarded.delete("/hosts/{host_id}", dependencies=[AdminDep], responses=LAST_ADMIN,
                status_code=status.HTTP_204_NO_CONTENT)  # fmt: skip
def remove_host(host_id: RowId, db: DbDep, settings: SettingsDep) -> None:
    """The host's stories stay, without the link to them; their picture goes."""
    host = _host_by_id(db, host_id)
    picture = host.picture_path
    try:
        accounts.remove_host(db, host)
    except accounts.AccountError as error:
        raise _refuse(error) from error
    db.commit()
    if picture:
        profiles.remove_file(picture, settings.media_dir)


@guarded.put("/hosts/{host_id}/password", status_code=status.HTTP_204_NO_CONTENT,
             responses={429: retry_later("too many wrong current passwords")})  # fmt: skip
def change_password(
    host_id: RowId, change: PasswordChange, auth: AuthDep, db: DbDep, throttle: Throttle,
    request: Request,
) -> None:  # fmt: skip
    """An admin sets anyone's password; a host changes their own with the current one.
    The host's other browser sessions end."""
    me = auth.host
    if me.id != host_id and me.role != HostRole.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "you may change only your own password")
    host = _host_by_id(db, host_id)
    if me.id == host_id:
        _check_current_password(db, me, change.current_password, throttle, _address(request))
    try:
        accounts.set_password(db, host, change.password)
    except WeakPassword as error:
        raise _refuse(error) from error
    end_sessions_of(db, host, keep=auth.session.id if auth.session else None)
    db.commit()


def _check_current_password(
    db: Session, me: Host, current: str | None, throttle: LoginThrottle, address: str
) -> None:
    if wait := throttle.attempt(address, me.username):
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f"too many wrong passwords: try again in {wait} seconds",
                            headers={"Retry-After": str(wait)})  # fmt: skip
    if not current or accounts.authenticate(db, me.username, current) is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the current password is wrong")
    throttle.succeeded(address, me.username)


# --- Personal API tokens --------------------------------------------------------------------


@guarded.post("/tokens", status_code=status.HTTP_201_CREATED)
def create_token(new: NewToken, host: CurrentHost, db: DbDep) -> IssuedTokenOut:
    """A new personal token for the signed-in host. The secret is in this answer only."""
    try:
        lifetime = parse_lifetime(new.expires_in) if new.expires_in is not None else None
        issued = issue_token(db, host, new.name, lifetime=lifetime)
    except ValueError as error:
        raise _refuse(error) from error
    db.commit()
    return IssuedTokenOut(**_token_out(issued.token).model_dump(), token=issued.secret)


@guarded.get("/tokens")
def tokens(host: CurrentHost, db: DbDep) -> list[TokenOut]:
    """Your tokens (an admin sees everyone's), revoked ones included; never the secrets."""
    mine = None if host.role == HostRole.admin else host
    return [_token_out(token) for token in list_tokens(db, mine)]


@guarded.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke(token_id: RowId, host: CurrentHost, db: DbDep) -> None:
    """Revoke a token: it stops working at once. Admins may revoke anyone's."""
    token = db.get(ApiToken, token_id)
    if token is None or (token.host_id != host.id and host.role != HostRole.admin):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no token with id {token_id}")
    revoke_token(db, token, datetime.now(UTC))
    db.commit()


# --- Your public profile ---------------------------------------------------------------------


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: str = Field(
        max_length=profiles.DISPLAY_NAME_MAX * 2,
        description="shown under your stories; empty: no public profile",
    )
    bio: str = Field(
        "",
        max_length=profiles.BIO_MAX * 2,
        description="a few sentences; paragraphs separated by a blank line",
    )


class ProfileOut(BaseModel):
    display_name: str
    bio: str
    picture_url: str | None = Field(description="null: no picture")
    url: str | None = Field(description="your public page; null without a display name")


def _profile_out(host: Host) -> ProfileOut:
    shown = profiles.public_profile(host)
    return ProfileOut(display_name=host.display_name, bio=host.bio,
                      picture_url=profiles.picture_url(host),
                      url=shown.url if shown else None)  # fmt: skip


def _me(db: Session, host: Host) -> Host:
    return _host_by_id(db, host.id)  # in this request's database session, to change it


@guarded.get("/profile")
def my_profile(host: CurrentHost, db: DbDep) -> ProfileOut:
    """Your public profile: what listeners see in the "Written by" box and on your page."""
    return _profile_out(_me(db, host))


@guarded.put("/profile", responses={422: error("the display name or the bio is too long")})
def set_my_profile(change: ProfileIn, host: CurrentHost, db: DbDep) -> ProfileOut:
    me = _me(db, host)
    try:
        me.display_name = profiles.validate_display_name(change.display_name)
        me.bio = profiles.validate_bio(change.bio)
    except profiles.ProfileError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    db.commit()
    return _profile_out(me)


PICTURE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": f"the image's bytes, at most {profiles.PICTURE_MAX_BYTES} bytes",
        "content": {kind: {"schema": {"type": "string", "format": "binary"}}
                    for kind in ("image/png", "image/jpeg", "image/webp")},
    }
}  # fmt: skip


@guarded.put("/profile/picture", openapi_extra=PICTURE_BODY,
             max_body_size=profiles.PICTURE_MAX_BYTES + BODY_LIMIT,
             responses={422: error("not a PNG, JPEG or WebP image, or empty"),
                        413: error("larger than the picture limit")})  # fmt: skip
async def set_my_picture(request: Request, host: CurrentHost, settings: SettingsDep) -> ProfileOut:
    """Your picture: the body is the image itself (PNG, JPEG or WebP, checked by its bytes,
    whatever the Content-Type says). It replaces the one before."""
    data = await request.body()
    if len(data) > profiles.PICTURE_MAX_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"the picture is too large (at most "
                            f"{profiles.PICTURE_MAX_BYTES // 1024} kB)")  # fmt: skip
    try:
        profiles.picture_kind(data)
    except profiles.ProfileError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    return await run_in_threadpool(_store_picture, request, host.id, data, settings)


def _store_picture(request: Request, host_id: int, data: bytes, settings: Settings) -> ProfileOut:
    sessions: SessionFactory = request.state.station.sessions
    with sessions() as db:
        me = _host_by_id(db, host_id)
        profiles.save_picture(me, data, settings.media_dir)
        db.commit()
        return _profile_out(me)


@guarded.delete("/profile/picture")
def remove_my_picture(host: CurrentHost, db: DbDep, settings: SettingsDep) -> ProfileOut:
    me = _me(db, host)
    profiles.remove_picture(me, settings.media_dir)
    db.commit()
    return _profile_out(me)


router = APIRouter()
router.include_router(public)
router.include_router(guarded)
