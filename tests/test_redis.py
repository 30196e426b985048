"""The shared cache on a real Redis (Debian's `redis-server`, started here on a free port):
two application servers share sessions, the login lockout and the password-reset counts, and a
Redis stopped mid-test leaves every page answering and `/readyz` naming the cache.

Skipped when `redis-server` is not installed, unless REDIS_REQUIRED is set (as CI does).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.core import mail
from django.core.cache import caches
from django.test import Client
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db

REDIS_SERVER = shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A throwaway `redis-server` without persistence, which a test may stop and start."""

    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.process = subprocess.Popen(  # noqa: S603 - a fixed binary with fixed arguments
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                assert self.process.poll() is None, "redis-server exited"
                assert time.monotonic() < deadline, "redis-server did not answer in time"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def stored_keys(self) -> list[bytes]:
        return redis.Redis(port=self.port).keys("*")


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        if os.environ.get("REDIS_REQUIRED"):
            pytest.fail("REDIS_REQUIRED is set but redis-server is not installed")
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def shared_cache(settings, redis_server):
    """The settings of every application server with CACHE_URL=redis://…: the cache on Redis
    through config.cache, sessions in the database and cached in Redis."""
    settings.CACHES = {
        "default": {"BACKEND": "config.cache.ResilientRedisCache", "LOCATION": redis_server.url}
    }
    settings.CACHE_IS_REDIS = True
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    return redis_server


def another_server() -> Client:
    """A client standing for another application server: its own cache client and connection
    pool (as in another process), nothing shared with the first but Redis and the database."""
    caches.close_all()
    del caches["default"]
    return Client(raise_request_exception=False)


def _settings_with(**env: str) -> dict:
    """The production settings' cache, session and lockout choices for `env`."""
    script = (
        "import json, config.settings as s; print(json.dumps({'backend': "
        "s.CACHES['default']['BACKEND'], 'location': s.CACHES['default'].get('LOCATION'), "
        "'sessions': s.SESSION_ENGINE, 'axes': s.AXES_HANDLER}))"
    )
    clean = {k: v for k, v in os.environ.items() if k not in {"CACHE_URL", "DEBUG"}}
    result = subprocess.run(  # noqa: S603 - this interpreter with a fixed script
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parent.parent,
        env={**clean, "DEBUG": "on", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def test_cache_url_redis_chooses_the_resilient_backend_and_cached_sessions():
    chosen = _settings_with(CACHE_URL="redis://127.0.0.1:6390/2")
    assert chosen == {
        "backend": "config.cache.ResilientRedisCache",
        "location": "redis://127.0.0.1:6390/2",
        "sessions": "django.contrib.sessions.backends.cached_db",
        "axes": "axes.handlers.database.AxesDatabaseHandler",
    }
    default = _settings_with()
    assert default["backend"] == "django.core.cache.backends.db.DatabaseCache"
    assert default["sessions"] == "django.contrib.sessions.backends.db"


def test_two_servers_share_a_session(shared_cache):
    account = factories.user("staf.bersama", institution=factories.institution())
    first = Client()
    first.force_login(account)
    session_key = first.cookies["sessionid"].value
    assert any(session_key.encode() in key for key in shared_cache.stored_keys())

    second = another_server()
    second.cookies["sessionid"] = session_key
    response = second.get(reverse("staff:home"))
    assert response.status_code == 200
    assert response.context["user"] == account


def test_two_servers_share_the_login_lockout(settings, shared_cache):
    settings.AXES_ENABLED = True
    factories.user("staf.terkunci", institution=factories.institution())
    first = Client()
    for n in range(settings.LOGIN_FAILURE_LIMIT):
        first.post(
            reverse("login"),
            {"username": "staf.terkunci", "password": "salah"},
            REMOTE_ADDR=f"10.5.0.{n}",
        )
    second = another_server()
    answer = second.post(
        reverse("login"),
        {"username": "staf.terkunci", "password": factories.PASSWORD},
        REMOTE_ADDR="10.5.9.9",
    )
    assert answer.status_code == 429
    # Kept in the database: a Redis that restarts empty does not lift it.
    shared_cache.stop()
    shared_cache.start()
    third = another_server()
    again = third.post(
        reverse("login"),
        {"username": "staf.terkunci", "password": factories.PASSWORD},
        REMOTE_ADDR="10.5.9.8",
    )
    assert again.status_code == 429
    assert "_auth_user_id" not in third.session


def test_two_servers_share_the_password_reset_counts(settings, shared_cache):
    settings.PASSWORD_RESET_LIMIT_PER_ADDRESS = 2
    factories.user("staf.reset", email="reset@example.go.id")
    for n in range(2):
        Client().post(
            reverse("password_reset"), {"email": "reset@example.go.id"}, REMOTE_ADDR=f"10.6.0.{n}"
        )
    assert len(mail.outbox) == 2
    assert any(b"password-reset:address:" in key for key in shared_cache.stored_keys())
    answer = another_server().post(
        reverse("password_reset"), {"email": "reset@example.go.id"}, REMOTE_ADDR="10.6.0.9"
    )
    assert answer.status_code == 302
    assert len(mail.outbox) == 2  # the other server counted the first two


def test_redis_stopped_mid_test_pages_answer_and_readiness_says_so(shared_cache, client):
    account = factories.user("staf.tahan", institution=factories.institution())
    browser = Client(raise_request_exception=False)
    browser.force_login(account)
    assert browser.get(reverse("staff:home")).status_code == 200
    assert client.get(reverse("readyz")).json()["cache"] == "ok"

    shared_cache.stop()
    started = time.monotonic()
    # The session comes from the database: still logged in, no error page.
    home = browser.get(reverse("staff:home"))
    assert home.status_code == 200
    assert home.context["user"] == account
    assert browser.get(reverse("public:registry")).status_code == 200
    # A login writes its session to the database: it works and is kept.
    other = factories.user("staf.masuk", institution=factories.institution())
    newcomer = Client(raise_request_exception=False)
    login = newcomer.post(
        reverse("login"), {"username": other.username, "password": factories.PASSWORD}
    )
    assert login.status_code == 302
    assert newcomer.get(reverse("staff:home")).context["user"] == other
    # The password-reset form still answers (the counts start again in a cache that is down).
    reset = newcomer.post(reverse("password_reset"), {"email": "nobody@example.go.id"})
    assert reset.status_code == 302
    ready = client.get(reverse("readyz"))
    assert ready.status_code == 200  # still serving: every server shares this Redis
    body = ready.json()
    assert body["status"] == "degraded"
    assert body["cache"] == "unavailable"
    assert body["degraded"] == ["cache"]
    assert time.monotonic() - started < 15  # misses are answered at once, not after timeouts

    shared_cache.start()
    time.sleep(2.1)  # config.cache.RETRY_AFTER
    assert client.get(reverse("readyz")).json()["cache"] == "ok"
    assert browser.get(reverse("staff:home")).context["user"] == account


def test_a_hung_redis_costs_a_request_half_a_second_not_a_timeout(shared_cache, client):
    account = factories.user("staf.beku", institution=factories.institution())
    browser = Client(raise_request_exception=False)
    browser.force_login(account)
    started = time.monotonic()
    assert browser.get(reverse("staff:home")).status_code == 200  # templates loaded, warm
    usual = time.monotonic() - started
    assert shared_cache.process is not None
    shared_cache.process.send_signal(signal.SIGSTOP)  # accepts connections, answers nothing
    try:
        started = time.monotonic()
        home = browser.get(reverse("staff:home"))
        elapsed = time.monotonic() - started
        assert home.status_code == 200
        assert home.context["user"] == account
        # One read timeout (0.5 s), then misses at once for RETRY_AFTER (2 s).
        assert elapsed < usual + 2
        body = client.get(reverse("readyz")).json()
        assert body["cache"] == "unavailable" and body["status"] == "degraded"
    finally:
        shared_cache.process.send_signal(signal.SIGCONT)
