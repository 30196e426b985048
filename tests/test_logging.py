"""Structured logs (config/logging.py, config.middleware.RequestLogMiddleware): one JSON line
per request with LOG_FORMAT=json, a request id on every line, gunicorn's access log in the same
shape, and no personal data in any line, a 500 on a participant page included."""

from __future__ import annotations

import datetime
import io
import json
import logging
import logging.config
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import IntegrityError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from gunicorn.config import Config

from config.logging import GunicornJsonLogger, logging_config, redact
from institutions.models import Membership
from tests import factories

pytestmark = pytest.mark.django_db

SECRET_NAME = "Budi Rahasia Santoso"
SECRET_NUMBER = "REG-RAHASIA-77"


@pytest.fixture(params=["text", "json"])
def log_output(request) -> Iterator[io.StringIO]:
    """What the console handler of the real logging configuration writes, in either format."""
    logging.config.dictConfig(logging_config(request.param, "INFO"))
    handler = logging.getLogger().handlers[0]
    output = io.StringIO()
    original = handler.setStream(output)  # type: ignore[attr-defined]
    yield output
    handler.setStream(original)  # type: ignore[attr-defined]
    logging.config.dictConfig(settings.LOGGING)


@pytest.fixture
def json_output() -> Iterator[io.StringIO]:
    logging.config.dictConfig(logging_config("json", "INFO"))
    handler = logging.getLogger().handlers[0]
    output = io.StringIO()
    original = handler.setStream(output)  # type: ignore[attr-defined]
    yield output
    handler.setStream(original)  # type: ignore[attr-defined]
    logging.config.dictConfig(settings.LOGGING)


def json_lines(output: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in output.getvalue().splitlines() if line.strip()]


def request_lines(output: io.StringIO) -> list[dict]:
    return [line for line in json_lines(output) if line["logger"] == "pks.request"]


def test_one_json_line_per_request_with_duration_queries_user_and_id(json_output):
    account = factories.user("staf.log", institution=factories.institution())
    browser = Client()
    browser.force_login(account)
    with CaptureQueriesContext(connection) as queries:
        response = browser.get(reverse("staff:home") + "?q=Budi+Rahasia")
    assert response.status_code == 200
    (line,) = request_lines(json_output)
    assert line["method"] == "GET"
    assert line["path"] == reverse("staff:home")  # never the query string
    assert "Budi" not in json_output.getvalue()
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    assert line["queries"] == len(queries.captured_queries)
    assert line["user"] == account.pk
    assert line["request_id"] == response["X-Request-ID"]
    assert line["level"] == "INFO"
    datetime.datetime.fromisoformat(line["time"])


def test_anonymous_requests_and_the_proxys_request_id(json_output):
    response = Client().get(reverse("public:registry"), HTTP_X_REQUEST_ID="proxy-abc.123")
    assert response["X-Request-ID"] == "proxy-abc.123"
    hostile = Client().get(reverse("public:registry"), HTTP_X_REQUEST_ID='x" y')
    assert hostile["X-Request-ID"] != 'x" y'
    assert len(hostile["X-Request-ID"]) == 32
    first, second = request_lines(json_output)
    assert (first["user"], first["request_id"]) == ("anonymous", "proxy-abc.123")
    assert second["request_id"] == hostile["X-Request-ID"]


def test_plain_text_is_the_default_with_the_request_id_and_no_request_lines():
    assert settings.LOG_FORMAT == "text"
    logging.config.dictConfig(logging_config("text", "INFO"))
    handler = logging.getLogger().handlers[0]
    output = io.StringIO()
    original = handler.setStream(output)  # type: ignore[attr-defined]
    try:
        response = Client().get(reverse("public:registry"))
        from config.logging import request_id_var

        token = request_id_var.set("req-1")
        logging.getLogger("agreements.test").warning("A warning")
        request_id_var.reset(token)
    finally:
        handler.setStream(original)  # type: ignore[attr-defined]
        logging.config.dictConfig(settings.LOGGING)
    assert response.status_code == 200
    assert output.getvalue() == "WARNING agreements.test A warning [request req-1]\n"


def test_a_500_on_a_participant_page_logs_no_name_or_number(log_output, monkeypatch):
    unit = factories.institution()
    staff = factories.user("staf.program", institution=unit, roles=(Membership.Role.PROGRAMME,))
    detainee = factories.participant(unit, full_name=SECRET_NAME, register_number=SECRET_NUMBER)

    def failing(**kwargs):
        try:
            raise ValueError(f"cannot log the view of {SECRET_NAME} ({SECRET_NUMBER})")
        except ValueError as cause:
            raise IntegrityError(
                'duplicate key value violates unique constraint "uniq"\n'
                f"DETAIL:  Key (register_number)=({SECRET_NUMBER}) already exists."
            ) from cause

    monkeypatch.setattr("rehabilitation.views.participants.record_access", failing)
    browser = Client(raise_request_exception=False)
    browser.force_login(staff)
    path = reverse("rehabilitation:participant", args=[detainee.pk])
    response = browser.get(path, {"q": SECRET_NAME})
    assert response.status_code == 500

    written = log_output.getvalue()
    assert "Internal Server Error" in written
    assert path in written
    assert "IntegrityError" in written and "ValueError" in written  # the context is kept
    assert "record_access" in written or "failing" in written  # and the frames
    for secret in (SECRET_NAME, SECRET_NUMBER, "Budi", "RAHASIA"):
        assert secret not in written
    assert response["X-Request-ID"] in written  # the error line names the request


def test_errors_elsewhere_keep_their_message_but_mask_named_fields(log_output):
    logger = logging.getLogger("agreements.test")
    try:
        raise IntegrityError(
            "DETAIL:  Key (number)=(PKS/1/2025) already exists. email=siti@example.go.id"
        )
    except IntegrityError:
        logger.exception("Saving failed for full_name=%s", "Siti Aminah")
    written = log_output.getvalue()
    assert "Saving failed" in written and "already exists" in written
    for secret in ("Siti Aminah", "siti@example.go.id", "PKS/1/2025"):
        assert secret not in written


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("full_name=Budi nik: 3201", "full_name=[redacted] nik: [redacted]"),
        ("for full_name=Siti Aminah", "for full_name=[redacted]"),
        ("full_name=Siti Aminah, email=a@b.id", "full_name=[redacted], email=[redacted]"),
        ('q="Budi Santoso" page=2', "q=[redacted] page=2"),
        ("Key (a, b)=(1, 2) already exists.", "Key (a, b)=([redacted]) already exists."),
        ("Key (a)=(x)", "Key (a)=([redacted])"),
        ("Failing row contains (7, Budi, 1990-01-01).", "Failing row contains ([redacted])"),
        ("GET /staff/participants/3/ 200", "GET /staff/participants/3/ 200"),
    ],
)
def test_redact(text, expected):
    assert redact(text) == expected


def test_gunicorns_access_log_is_a_json_line_in_the_same_shape():
    config = Config()
    config.set("accesslog", "-")
    access = GunicornJsonLogger(config)
    output = io.StringIO()
    for handler in access.access_log.handlers:
        handler.setStream(output)
    response = SimpleNamespace(
        status="200 OK", sent=1234, headers=[("X-Request-ID", "abc123"), ("Content-Type", "x")]
    )
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/staff/participants/",
        "QUERY_STRING": f"q={SECRET_NAME}",
        "RAW_URI": f"/staff/participants/?q={SECRET_NAME}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.5",
    }
    request = SimpleNamespace(headers=[("HOST", "pks.example.go.id")])
    access.access(response, request, environ, datetime.timedelta(milliseconds=12.5))
    (line,) = [json.loads(text) for text in output.getvalue().splitlines()]
    assert line == {
        "time": line["time"],
        "level": "INFO",
        "logger": "gunicorn.access",
        "method": "GET",
        "path": "/staff/participants/",
        "status": 200,
        "duration_ms": 12.5,
        "bytes": 1234,
        "request_id": "abc123",
    }
    errors = io.StringIO()
    for handler in access.error_log.handlers:
        handler.setStream(errors)
    access.error_log.critical("WORKER TIMEOUT (pid:%s)", 42)
    (error,) = [json.loads(text) for text in errors.getvalue().splitlines()]
    assert (error["level"], error["message"]) == ("CRITICAL", "WORKER TIMEOUT (pid:42)")
