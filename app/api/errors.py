"""The error answers of the HTTP API, as the OpenAPI schema documents them.

Every error is `{"detail": ...}`: a sentence for people (HTTPException), or the list of
FastAPI's validation errors. The answers every route may give because of its shape are
added to the schema here, from the schema itself, so no new route can forget them:

- a route that takes parameters or a body: 400 (a body that cannot be read), 422;
- a route that takes a body: 413 (larger than the route's limit, app.api.limits; JSON from
  the route, plain text from the framework when the body is over the app's own limit);
- a route with path parameters: 404 (no such id, slug or file), and if it changes
  something, 409 when another request removed the thing while this one worked on it;
- a host route (it names the bearer scheme): 401 without valid credentials, 403 for a
  signed-in browser without its CSRF token, and for a host on an admin's route.

What only some routes answer (409 for a conflict, 429 and 503 with `Retry-After`, ...)
each route documents itself with `responses=` and the helpers below.

Validation errors carry what was sent only when it is text: a body of bytes that is not
UTF-8 cannot be put in JSON, and FastAPI's own handler failed on it with a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError


class ErrorOut(BaseModel):
    detail: str | list[dict[str, Any]] = Field(
        description="what went wrong: a sentence, or the list of fields that are not valid"
    )


def error(description: str, html: bool = False, **headers: str) -> dict[str, Any]:
    """One documented error answer, for a route's `responses=`: JSON, or also the page again
    (`html`) for a form posted without script; `headers`: the headers it sends, and why."""
    answer: dict[str, Any] = {"model": ErrorOut, "description": description}
    if html:
        answer["content"] = {"text/html": {}}
    if headers:
        answer["headers"] = {
            name.replace("_", "-").title(): {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return answer


def retry_later(description: str, html: bool = False) -> dict[str, Any]:
    """429 or 503: try again after `Retry-After` seconds."""
    return error(description, html, retry_after="seconds to wait before trying again")


_BY_SHAPE = {
    "400": "the body could not be read (not valid JSON, form data or UTF-8)",
    "404": "nothing with this id, slug or name",
    "409": "another request removed or changed it meanwhile; the change was not made",
    "413": "the body is larger than this route's limit",
    "422": "a parameter or a field of the body is not valid",
    "401": "no valid credentials: sign in, or send a personal API token",
    "403": "a signed-in browser did not send its CSRF token, or only an admin may do this",
}


def document_errors(app: FastAPI) -> None:
    """Make `app.openapi()` document the answers every route gives by its shape."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ErrorOut"] = ErrorOut.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        for operations in schema.get("paths", {}).values():
            for method, operation in operations.items():
                _document(method, operation)
        # FastAPI's validation error shapes are no longer used by any operation.
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document(method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    codes = []
    if parameters or has_body:
        codes += ["400", "422"]
    if has_body:
        codes.append("413")
    if any(parameter.get("in") == "path" for parameter in parameters):
        codes.append("404")
        if method != "get":
            codes.append("409")
    if operation.get("security"):
        codes += ["401", "403"]
    for code in codes:
        known = responses.setdefault(code, {"description": _BY_SHAPE[code]})
        known.setdefault("content", {})
    for code, answer in responses.items():
        if code[0] in "45" and (not answer.get("content") or _is_validation(answer)):
            answer["content"] = {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}
            }
    if "413" in responses:  # the framework's own answer, before the route: plain text
        responses["413"]["content"].setdefault("text/plain", {})


def _is_validation(answer: dict[str, Any]) -> bool:
    schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


async def validation_failed(request: Request, exc: Exception) -> JSONResponse:
    """422 with the fields that are not valid; an input of bytes as text only if it is."""
    assert isinstance(exc, RequestValidationError)
    errors = []
    for found in exc.errors():
        found = dict(found)
        if isinstance(found.get("input"), bytes | bytearray):
            try:
                found["input"] = bytes(found["input"]).decode()
            except UnicodeDecodeError:
                found.pop("input")
        errors.append(found)
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


# What SQLAlchemy raises when a row this request loaded was deleted by another request before
# this one wrote to it or read it again (a host's password set while an admin deletes them).
CONCURRENT_CHANGES = (StaleDataError, ObjectDeletedError)


async def changed_meanwhile(request: Request, exc: Exception) -> JSONResponse:
    """409: the thing went away under this request; nothing of this request was kept."""
    return JSONResponse({"detail": _BY_SHAPE["409"]}, status_code=409)
