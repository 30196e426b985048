import pytest
from django.db import DatabaseError
from django.urls import reverse


@pytest.mark.django_db
def test_healthz_ok(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.django_db
def test_healthz_503_when_the_database_does_not_answer(client, monkeypatch):
    from django.db import connection

    def broken_cursor(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["database"] == "unavailable"


def _database_down(monkeypatch):
    """Every new query raises OperationalError, as when the database server is stopped."""
    from django.db import OperationalError, connection

    def broken_cursor(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(connection, "cursor", broken_cursor)


@pytest.fixture
def logged_in_client(django_user_model):
    from django.test import Client

    user = django_user_model.objects.create_user("siti.rahma", password="x", first_name="Siti")
    # The test client re-raises a request's exception; during an outage it must be answered.
    client = Client(raise_request_exception=False)
    client.force_login(user)
    assert client.cookies.get("sessionid")
    return client


@pytest.mark.django_db
def test_readyz_ok_and_leaves_no_probe_file(client, settings):
    response = client.get(reverse("readyz"))
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "migrations": "ok",
        "storage": "ok",
        "cache": "ok",
        "queue": "ok",
    }
    private = settings.MEDIA_ROOT / "private"
    assert not private.exists() or not any(private.iterdir())
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_503_with_unapplied_migrations(client, monkeypatch):
    from django.db.migrations import Migration
    from django.db.migrations.executor import MigrationExecutor

    pending = Migration("0099_not_applied", "agreements")
    monkeypatch.setattr(
        MigrationExecutor, "migration_plan", lambda self, targets: [(pending, False)]
    )
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "database": "ok",
        "migrations": "unapplied",
        "storage": "ok",
        "cache": "ok",
        "queue": "ok",
        "down": ["migrations"],
    }


@pytest.mark.django_db
def test_readyz_503_when_the_cache_does_not_answer(client, settings):
    # The production default: a table of the database, here never created.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "no_such_cache_table",
        }
    }
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    body = response.json()
    assert body["cache"] == "unavailable" and body["down"] == ["cache"]


@pytest.mark.django_db
def test_readyz_503_with_unwritable_storage(client, settings, tmp_path):
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    settings.MEDIA_ROOT = not_a_folder / "media"  # no folder can be made below a file
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    body = response.json()
    assert body["storage"] == "unwritable"
    assert body["database"] == "ok"
    assert body["down"] == ["storage"]


@pytest.mark.django_db
def test_readyz_503_when_the_database_does_not_answer(client, monkeypatch):
    _database_down(monkeypatch)
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "unavailable"
    assert body["migrations"] == "unknown"
    assert body["queue"] == "unavailable"  # its table is in the database
    assert body["down"] == ["database", "migrations", "queue"]


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["healthz", "readyz"])
def test_health_checks_with_a_session_cookie_during_an_outage_answer_503(
    logged_in_client, monkeypatch, name
):
    _database_down(monkeypatch)
    response = logged_in_client.get(reverse(name))
    assert response.status_code == 503
    assert response.json()["database"] == "unavailable"
    assert "Set-Cookie" not in str(response.cookies.output())


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["healthz", "readyz"])
def test_health_checks_touch_no_session(logged_in_client, name):
    response = logged_in_client.get(reverse(name))
    assert response.status_code == 200
    assert not response.cookies  # the session is neither read nor saved again
    assert "Cookie" not in response.get("Vary", "")


def _assert_outage_page(response):
    assert response.status_code == 503
    assert response["Retry-After"].isdigit()
    content = response.content.decode()
    assert "Layanan sementara tidak tersedia" in content
    assert "Temporarily unavailable" in content
    assert "Traceback" not in content
    assert "OperationalError" not in content
    assert "server closed the connection" not in content


@pytest.mark.django_db
def test_a_page_during_an_outage_answers_503_with_retry_after(monkeypatch):
    """The view's own query fails (no session to load): process_exception answers."""
    from django.test import Client

    client = Client(raise_request_exception=False)
    _database_down(monkeypatch)
    response = client.get(reverse("public:registry"))
    _assert_outage_page(response)


@pytest.mark.django_db
def test_a_page_with_a_session_cookie_during_an_outage_answers_503(logged_in_client, monkeypatch):
    """Loading the session fails in a middleware, before any view: also 503, no traceback and
    nothing of the account."""
    _database_down(monkeypatch)
    response = logged_in_client.get(reverse("staff:home"))
    _assert_outage_page(response)
    assert "siti" not in response.content.decode().lower()


@pytest.mark.django_db
def test_a_form_post_during_an_outage_answers_503(logged_in_client, monkeypatch):
    _database_down(monkeypatch)
    response = logged_in_client.post(reverse("logout"))
    _assert_outage_page(response)


@pytest.mark.django_db
def test_other_errors_still_answer_500(monkeypatch):
    from django.db import ProgrammingError, connection
    from django.test import Client

    def broken_cursor(*args, **kwargs):
        raise ProgrammingError("no such table")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = Client(raise_request_exception=False).get(reverse("public:registry"))
    assert response.status_code == 500
    assert "Retry-After" not in response
