"""Host authentication. Until host accounts exist, one bearer token guards host actions."""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.config import Settings

log = logging.getLogger(__name__)

TOKEN_FILE = "admin-token"


def ensure_admin_token(settings: Settings) -> str:
    """RADIO_ADMIN_TOKEN, or one generated once and kept in the state folder (mode 600)."""
    if settings.admin_token:
        return settings.admin_token
    path = settings.state_dir / TOKEN_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(32))
    log.info("host token: see %s (or set RADIO_ADMIN_TOKEN)", path)
    return path.read_text().strip()


bearer = HTTPBearer(auto_error=False)


def require_host(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    expected: str = request.state.admin_token
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "host authentication required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "wrong token")


HostDep = Depends(require_host)
