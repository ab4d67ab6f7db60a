"""The station's log: one line per event, plain (the default) or JSON lines, secrets hidden.

    RADIO_LOG_FORMAT=plain   2026-11-30 02:03:20,123 INFO app.stream.hub: dropping listener ...
    RADIO_LOG_FORMAT=json    {"ts": "2026-11-30T02:03:20.123Z", "level": "info", ...}

Every process of the station logs through `configure()` (the web process, uvicorn's own
loggers, the playout process), so one file holds one format. A JSON line has `ts`, `level`,
`logger`, `event` (the name a call gives with `extra={"event": ...}`, else its message
template: the same for every line of one kind, so it can be counted), `message` (rendered),
`pid`, any other `extra` fields, and `exc` (the traceback) when there is one. uvicorn's
access lines are `event: "http_request"` with `client`, `method`, `path`, `status`.

Secrets never reach the log, whatever a call passes: every value `configure()` is told about
(the settings' secret values) and everything shaped like one (API tokens, bearer
credentials, session cookies, a password in a URL, `token=`/`password=`-like query fields)
is replaced by `***` in the final line. Standard library only: the playout process imports it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterable
from typing import Any

FORMATS = ("plain", "json")
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
HIDDEN = "***"
MIN_SECRET_LENGTH = 4  # a shorter "secret" would hide ordinary words

# Shapes of secrets, wherever they turn up in a line: the group before the secret is kept.
_SECRET_SHAPES = [
    re.compile(r"(\bBearer\s+)[^\s\"',;]+", re.IGNORECASE),
    re.compile(r"(\b)radio_[A-Za-z0-9_\-]{20,}"),  # a personal API token (app.accounts.tokens)
    re.compile(r"(\bradio_session=)[^\s;&\"']+"),  # the session cookie
    re.compile(r"(://[^/\s:@]*:)[^/\s@]+(?=@)"),  # user:password@ in a URL
    re.compile(
        r"([?&;\s](?:access_token|token|password|passwd|secret|api_key|key|csrf_token|"
        r"session)=)[^&\s\"']+",
        re.IGNORECASE,
    ),
]
# LogRecord's own attributes: anything else on a record came from `extra=`.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")


class Redactor:
    """Hides known secret values and secret-shaped text in a finished line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
        # Longest first: a secret that contains another is hidden whole.
        self._values = sorted(values, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, HIDDEN)
        for shape in _SECRET_SHAPES:
            text = shape.sub(lambda m: m.group(1) + HIDDEN, text)
        return text


class PlainFormatter(logging.Formatter):
    """The readable line (`PLAIN_FORMAT`), with `extra` fields as key=value after it."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__(PLAIN_FORMAT)
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _extra_fields(record)
        fields.pop("event", None)
        if fields:
            line += " " + " ".join(f"{key}={_plain_value(value)}" for key, value in fields.items())
        return self._redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line (newlines inside values are escaped, so never a second line)."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        fields = _extra_fields(record)
        event: Any = fields.pop("event", None) or str(record.msg)
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            event = "http_request"
            fields.update(zip(_ACCESS_FIELDS, record.args, strict=False))
        entry: dict[str, Any] = {
            "ts": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": event,
            "message": record.getMessage(),
            "pid": record.process,
            **{key: value for key, value in fields.items() if key not in ("ts", "level")},
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(_redacted(entry, self._redact), default=str, ensure_ascii=False)


def configure(log_format: str = "plain", secrets: Iterable[str] = (),
              level: int = logging.INFO) -> None:  # fmt: skip
    """The process's one log handler (on stderr), replacing any earlier one."""
    if log_format not in FORMATS:
        raise ValueError(f"unknown log format {log_format!r}; known: {', '.join(FORMATS)}")
    redact = Redactor(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(redact) if log_format == "json" else PlainFormatter(redact))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's loggers tell the root (uvicorn's own config would give them handlers of their
    # own, in another format): `radio serve` starts uvicorn with log_config=None.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items()
            if k not in _RECORD_FIELDS and k[0] != "_" and k != "color_message"}  # fmt: skip


def _plain_value(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if not text or any(c.isspace() or c in '"=' for c in text) else text


def _redacted(value: Any, redact: Redactor) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item, redact) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item, redact) for item in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))


def _utc(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def log_format_from_env() -> str:
    """RADIO_LOG_FORMAT before the settings are read (the CLI's first lines), plain if unset
    or unknown: the settings validate it properly."""
    value = os.environ.get("RADIO_LOG_FORMAT", "plain").strip().lower()
    return value if value in FORMATS else "plain"
