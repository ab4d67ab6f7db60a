"""Named dependencies, shared parameter types and body parsing for the routers."""

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import Field
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import MAX_INTEGER
from app.station import Station

# What every supported database holds in an INTEGER column (app.db.MAX_INTEGER: 32 signed
# bits on PostgreSQL, SQLite keeps 64). A larger number names no row, and binding it as a
# parameter fails (SQLite: OverflowError; PostgreSQL: integer out of range). Every integer a
# request carries stays within these.
MAX_SQL_INT = MAX_INTEGER
RowId = Annotated[int, Field(ge=1, le=MAX_SQL_INT)]  # the id of a row: 1 and up
SqlInt = Annotated[int, Field(ge=-MAX_SQL_INT - 1, le=MAX_SQL_INT)]  # any storable integer


def _station(request: Request) -> Station:
    return request.state.station  # type: ignore[no-any-return]


def _settings(request: Request) -> Settings:
    return request.state.settings  # type: ignore[no-any-return]


def _database(request: Request) -> Iterator[Session]:
    with request.state.station.sessions() as db:
        yield db


StationDep = Annotated[Station, Depends(_station)]
SettingsDep = Annotated[Settings, Depends(_settings)]
DbDep = Annotated[Session, Depends(_database)]  # a session for the request, closed after it


def loads_json(body: bytes) -> Any:
    """A JSON request body, for the routes that read theirs by hand (forms or JSON). Nesting
    deeper than Python's recursion limit is malformed input like any other: a ValueError."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("the JSON document is nested too deeply") from None
