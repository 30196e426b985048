"""The read replica (config.routers, config.middleware.ReplicaMiddleware): the public registry,
statistics and reports read from it; writes, sessions, staff pages and a browser that just
wrote read from the primary; a replica that is down is replaced by the primary and named by
`/readyz`.

The replica is the test database itself (TEST MIRROR in config/test_settings.py), reached over
its own connection: each query records which alias ran it. Transactional tests, so that the
replica's connection sees the committed rows, as a streaming replica would.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.db import connections
from django.test import Client
from django.urls import reverse

from agreements.models import Agreement
from config import routers
from config.middleware import PIN_PRIMARY_COOKIE
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


@pytest.fixture
def replica(settings) -> Iterator[None]:
    settings.READ_REPLICA = "replica"
    settings.REPLICA_PIN_SECONDS = 15
    routers.mark_replica_up()
    yield
    routers.mark_replica_up()


@contextlib.contextmanager
def recorded() -> Iterator[list[tuple[str, str]]]:
    """(alias, SQL) of every query run on either connection inside the block."""
    seen: list[tuple[str, str]] = []

    def recorder(alias: str):
        def record(execute, sql, params, many, context):
            seen.append((alias, sql))
            return execute(sql, params, many, context)

        return record

    with contextlib.ExitStack() as stack:
        for alias in ("default", "replica"):
            stack.enter_context(connections[alias].execute_wrapper(recorder(alias)))
        yield seen


def aliases_of(seen: list[tuple[str, str]], table: str) -> set[str]:
    return {alias for alias, sql in seen if f'"{table}"' in sql}


@pytest.fixture
def signed():
    own = factories.institution("Rumah Tahanan Negara Kelas IIA Replika")
    partner = factories.institution("Badan Narkotika Nasional Kabupaten Replika", kind="bnnk")
    return factories.agreement(own, partner, status=Agreement.Status.SIGNED, title="PKS Replika")


def test_the_public_registry_reads_from_the_replica(replica, signed):
    browser = Client()
    with recorded() as seen:
        response = browser.get(reverse("public:registry"))
    assert response.status_code == 200
    assert "PKS Replika" in response.content.decode()
    assert aliases_of(seen, "agreements_agreement") == {"replica"}
    assert all(alias == "replica" for alias, _sql in seen)

    with recorded() as seen:
        assert browser.get(reverse("public:agreement", args=[signed.pk])).status_code == 200
        assert browser.get(reverse("rehabilitation:public_statistics")).status_code == 200
    assert {alias for alias, _sql in seen} == {"replica"}


def test_without_a_replica_everything_reads_from_the_primary(settings, signed):
    settings.READ_REPLICA = None
    with recorded() as seen:
        assert Client().get(reverse("public:registry")).status_code == 200
    assert {alias for alias, _sql in seen} == {"default"}


def test_a_browser_that_just_wrote_reads_from_the_primary(replica, signed):
    browser = Client()
    # Any POST pins the browser's reads to the primary for a while (here: choosing a language).
    answer = browser.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert answer.cookies[PIN_PRIMARY_COOKIE]["max-age"] == 15
    with recorded() as seen:
        assert browser.get(reverse("public:registry")).status_code == 200
    assert aliases_of(seen, "agreements_agreement") == {"default"}
    assert "replica" not in {alias for alias, _sql in seen}

    # Another browser, which wrote nothing, still reads from the replica.
    with recorded() as seen:
        Client().get(reverse("public:registry"))
    assert aliases_of(seen, "agreements_agreement") == {"replica"}


def test_sessions_accounts_and_staff_pages_read_from_the_primary(replica, signed):
    account = factories.user("staf.replika", institution=signed.parties.first().institution)
    browser = Client()
    browser.force_login(account)
    with recorded() as seen:
        assert browser.get(reverse("public:registry")).status_code == 200
    assert aliases_of(seen, "agreements_agreement") == {"replica"}
    assert aliases_of(seen, "django_session") == {"default"}
    assert aliases_of(seen, "auth_user") == {"default"}

    with recorded() as seen:
        assert browser.get(reverse("staff:home")).status_code == 200
        assert browser.get(reverse("agreements:detail", args=[signed.pk])).status_code == 200
    assert {alias for alias, _sql in seen} == {"default"}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the probe is closed


@contextlib.contextmanager
def replica_down() -> Iterator[None]:
    """The replica's connection points at an address where nothing answers."""
    connection = connections["replica"]
    original = connection.settings_dict
    connection.close()
    if original["ENGINE"].endswith("sqlite3"):
        pytest.skip("an SQLite replica cannot be stopped; run on PostgreSQL")
    connection.settings_dict = {**original, "HOST": "127.0.0.1", "PORT": str(_closed_port())}
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict = original


def test_a_replica_that_is_down_is_replaced_by_the_primary(replica, signed, client):
    browser = Client(raise_request_exception=False)
    with replica_down():
        with recorded() as seen:
            response = browser.get(reverse("public:registry"))
        assert response.status_code == 200
        assert "PKS Replika" in response.content.decode()
        assert aliases_of(seen, "agreements_agreement") == {"default"}
        ready = client.get(reverse("readyz"))
        assert ready.status_code == 200  # the site serves from the primary
        assert ready.json()["replica"] == "unavailable"
        assert ready.json()["degraded"] == ["replica"]
        assert ready.json()["status"] == "degraded"
        # Marked down: the next pages do not try it again for a while (the registry's cached
        # results are dropped, so that the page reads its rows again).
        cache.clear()
        with recorded() as seen:
            assert browser.get(reverse("public:registry")).status_code == 200
        assert {alias for alias, _sql in seen} == {"default"}
    ready = client.get(reverse("readyz"))
    assert ready.json()["replica"] == "ok"
    assert ready.json()["status"] == "ok"
    cache.clear()
    with recorded() as seen:
        browser.get(reverse("public:registry"))
    assert aliases_of(seen, "agreements_agreement") == {"replica"}


def test_the_router_sends_writes_and_migrations_to_the_primary():
    router = routers.ReplicaRouter()
    with routers.reading_from_replica():
        assert router.db_for_write(Agreement) == "default"
    assert router.allow_migrate("default", "agreements") is True
    assert router.allow_migrate("replica", "agreements") is False
