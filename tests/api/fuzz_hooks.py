"""Schemathesis hooks for tests/api/test_fuzz_api.py, loaded by the `schemathesis` command
through SCHEMATHESIS_HOOKS.

The host run signs in as FUZZER with FUZZER_TOKEN. The run itself may demote that host,
revoke the token or delete the host (an admin it created may do so): before every request
the host, its admin role and its token are put back in the station's database (the folder
in FUZZ_STATE_DIR), as `radio hosts add` and `radio tokens create` would make them. So no
route needs to be left out for the run to keep its credentials.

The `security_headers` check holds every answer of the run to the security headers'
rules (tests/api/test_security_headers.py): whatever the status, method and credentials."""

from __future__ import annotations

import ast
import os
import threading
from functools import cache
from pathlib import Path
from typing import Any

import schemathesis

FUZZER = "fuzzer"
FUZZER_PASSWORD = "the fuzzer's long password"
FUZZER_TOKEN = "radio_fuzzer-token-of-the-schemathesis-run"
STATE_ENV = "FUZZ_STATE_DIR"


def _one_ast_parse_at_a_time() -> None:
    """CPython 3.11 keeps the AST constructor's recursion depth per interpreter, not per
    thread: two threads parsing at once (Hypothesis describes the lambdas in Schemathesis's
    strategies with `ast.parse`, and the run has two workers) can fail with "AST constructor
    recursion depth mismatch" (python/cpython#106905), an error of the tool, not of the
    station. The run's parses take turns."""
    parse = ast.parse
    turn = threading.RLock()

    def parse_in_turn(*args: Any, **kwargs: Any) -> Any:
        with turn:
            return parse(*args, **kwargs)

    ast.parse = parse_in_turn  # type: ignore[assignment]


_one_ast_parse_at_a_time()


@cache
def _sessions(state: str) -> Any:
    from app.config import Settings
    from app.db import make_engine, make_sessions

    return make_sessions(make_engine(Settings(state_dir=Path(state)).sqlalchemy_url))


def restore_fuzzer(state: str) -> None:
    from app.accounts.hosts import create_host, find_host
    from app.accounts.tokens import find_token, issue_token
    from app.models import HostRole

    with _sessions(state)() as db:
        host = find_host(db, FUZZER) or create_host(db, FUZZER, FUZZER_PASSWORD, HostRole.admin)
        host.role = HostRole.admin
        token = find_token(db, FUZZER_TOKEN)
        if token is None:
            issue_token(db, host, "schemathesis", secret=FUZZER_TOKEN)
        else:
            token.revoked_at = None
        db.commit()


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    state = os.environ.get(STATE_ENV)
    if state:
        restore_fuzzer(state)


@schemathesis.check
def security_headers(ctx: Any, response: Any, case: Any) -> bool | None:
    import httpx

    from tests.api.test_security_headers import problems_with

    pairs = [(name, value) for name, values in response.headers.items() for value in values]
    wrong = problems_with(case.path, httpx.Response(response.status_code, headers=pairs))
    assert wrong == [], f"{response.status_code}: {wrong}"
    return None
