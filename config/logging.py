"""Logging: plain text by default, one JSON object a line with LOG_FORMAT=json, and a filter that
keeps personal data out of every line.

Used by settings.LOGGING (`logging_config`), by config.middleware.RequestLogMiddleware (one
line per request on the `pks.request` logger) and by config/gunicorn.py (`GunicornJsonLogger`,
the access log in the same shape). Imports nothing of Django at module level, so gunicorn's
master process can load it.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import traceback
from contextvars import ContextVar
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger  # type: ignore[import-untyped]

#: The current request's id, added to every line logged while it is handled.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

#: Paths whose errors may carry detainees' data (participants, enrolments, screenings,
#: sessions, transfers, the rehabilitation admin): exception messages are withheld there.
PERSONAL_DATA_PATHS = (
    "/staff/participants/",
    "/staff/enrolments/",
    "/staff/sessions/",
    "/staff/transfers/",
    "/staff/programmes/",
    "/admin/rehabilitation/",
)
#: Field names whose values are masked wherever they appear as `name=value`, `name: value` or
#: in a PostgreSQL "Key (name)=(value)" detail.
REDACTED_FIELDS = (
    "full_name",
    "name",
    "nik",
    "register_number",
    "birth_date",
    "case_article",
    "substances",
    "notes",
    "note",
    "email",
    "username",
    "password",
    "otp_token",
    "q",
)
REDACTED = "[redacted]"
WITHHELD = "[message withheld: personal-data page]"

# A value runs to the next separator or the next "name=" (so "full_name=Siti Aminah" is masked
# whole), unless quoted.
_FIELD_VALUE = re.compile(
    r"(?i)\b(" + "|".join(REDACTED_FIELDS) + r")\b(\s*[=:]\s*)"
    r"(\"[^\"]*\"|'[^']*'|[^,;&)\n]+?)(?=\s+\w+\s*[=:]|[,;&)\n]|$)"
)
# PostgreSQL's details quote the values of a violated constraint and of the failing row.
_POSTGRES_KEY = re.compile(
    r"\)=\(.*?\)(?= already exists| is not present| is still referenced|\.?\s*$)", re.MULTILINE
)
_POSTGRES_ROW = re.compile(r"(Failing row contains \().*$", re.MULTILINE)

#: The attributes every LogRecord has; anything else was passed in `extra` and is logged.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


def redact(text: str) -> str:
    """`text` with the values of REDACTED_FIELDS and PostgreSQL's row details masked."""
    text = _FIELD_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _POSTGRES_KEY.sub(f")=({REDACTED})", text)
    return _POSTGRES_ROW.sub(lambda m: f"{m.group(1)}{REDACTED})", text)


def is_personal_data_path(path: str) -> bool:
    return path.startswith(PERSONAL_DATA_PATHS)


def _format_exception(exc_info: Any, withhold_messages: bool) -> str:
    """The traceback, with every exception's message withheld (only its type) if asked."""
    if not withhold_messages:
        return "".join(traceback.format_exception(*exc_info))
    lines: list[str] = []
    exception: BaseException | None = exc_info[1]
    chain: list[BaseException] = []
    while exception is not None and exception not in chain:
        chain.append(exception)
        exception = exception.__cause__ or exception.__context__
    for position, error in enumerate(reversed(chain)):
        if position:
            lines.append(
                "\nDuring handling of the above exception, another exception occurred:\n\n"
            )
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_tb(error.__traceback__))
        lines.append(f"{type(error).__module__}.{type(error).__qualname__}: {WITHHELD}\n")
    return "".join(lines)


class PersonalDataFilter(logging.Filter):
    """Removes personal data from a record before any handler writes it.

    The request object Django attaches to its error records (with the query string, the form
    data and the cookies) is replaced by its path; on PERSONAL_DATA_PATHS exception messages
    are withheld (an IntegrityError's message quotes the row); everywhere, values of
    REDACTED_FIELDS and PostgreSQL's row details are masked in the message and traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        path = getattr(request, "path", None)
        personal = False
        if isinstance(path, str):
            record.request = None
            record.path = path
            personal = is_personal_data_path(path)
        else:
            logged_path = getattr(record, "path", None)
            personal = isinstance(logged_path, str) and is_personal_data_path(logged_path)
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(_format_exception(record.exc_info, personal))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = WITHHELD if personal else redact(record.exc_text)
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, the fields passed in
    `extra` (e.g. the request line's method, path, status, duration_ms, queries, user,
    request_id), and the traceback as `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in entry and value is not None:
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The plain-text line for `make run`: level, logger, message and the request id."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} [request {request_id}]" if request_id else line


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """settings.LOGGING for `log_format` ("text" or "json") at `level`, to standard output."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"personal_data": {"()": "config.logging.PersonalDataFilter"}},
        "formatters": {
            "text": {"()": "config.logging.TextFormatter"},
            "json": {"()": "config.logging.JsonFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": log_format,
                "filters": ["personal_data"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # WeasyPrint narrates every rendering step at INFO.
            "weasyprint": {"level": "WARNING"},
            "fontTools": {"level": "WARNING"},
            # Failed logins and lockouts are warnings (names and addresses masked); the rest
            # is chatter.
            "axes": {"level": "WARNING"},
            # One line per request (config.middleware.RequestLogMiddleware): in JSON logs; in
            # plain text the development server already prints one.
            "pks.request": {"level": "INFO" if log_format == "json" else "WARNING"},
            # Django's own record of each 4xx/5xx: the request line says the same.
            "django.server": {"level": "INFO" if log_format == "text" else "WARNING"},
        },
    }


class GunicornJsonLogger(GunicornLogger):
    """gunicorn's access log as JSON lines shaped like the application's request lines, and its
    error log (start-up, worker timeouts) as JSON lines like every other."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())

    def access(self, resp: Any, req: Any, environ: dict, request_time: datetime.timedelta) -> None:
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        entry = {
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
            "level": "INFO",
            "logger": "gunicorn.access",
            "method": atoms["m"],
            "path": atoms["U"],  # without the query string
            "status": int(atoms["s"]),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "bytes": atoms["B"],
            "request_id": atoms.get("{x-request-id}o"),
        }
        try:
            self.access_log.info(json.dumps(entry, ensure_ascii=False))
        except Exception:  # as gunicorn's own access(): never fail the request over a log line
            self.error("Failed to write the access log line")
