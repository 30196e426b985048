"""`manage.py bench` end to end: the production server on a small database, every page kind
answered 200 as its user, with query counts and a ratio to the trivial view; a page that does
not answer 200 is reported as an error, not hidden."""

from __future__ import annotations

import io
import json

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client, override_settings

from config import bench
from tests.conftest import build_world

pytest.importorskip("gunicorn")

#: What the bench must cover, whatever the objects it picks are called.
PAGE_KINDS = [
    "trivial view",
    "registry, first page",
    "registry, page",
    "registry search",
    "agreement (public)",
    "agreement PDF render (draft)",
    "issued PDF download",
    "verify",
    "statistics",
    "staff home (busy unit)",
    "staff agreements, filtered",
    "staff agreements, page",
    "agreement (staff)",
    "meeting",
    "participants",
    "participant",
    "enrolments (busy unit)",
    "enrolments (superuser)",
    "enrolment",
    "programme",
    "institution report",
    "agreements export CSV",
    "agreements export XLSX",
    "participants export CSV",
    "participants export XLSX",
    "calendar feed",
    "admin agreements",
    "admin enrolments",
    "admin participants",
    "admin institutions",
    "admin access log",
]


@pytest.fixture
def committed_world(transactional_db, settings, tmp_path):
    """The world of the permission matrix, committed, so that the server sees it."""
    if connection.vendor == "sqlite":
        pytest.skip("The server cannot share the in-memory SQLite test database.")
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("createcachetable")
    return build_world()


def _run(tmp_path, *extra: str) -> tuple[str, dict]:
    out = io.StringIO()
    error: CommandError | None = None
    try:
        call_command(
            "bench",
            "--rounds=1",
            "--warmup=0",
            "--connections=4",
            "--seconds=1",
            f"--output={tmp_path / 'results'}",
            *extra,
            stdout=out,
        )
    except CommandError as exc:
        error = exc
    files = list((tmp_path / "results").glob("results-*.json"))
    assert len(files) == 1
    results = json.loads(files[0].read_text())
    results["error"] = str(error) if error else None
    return out.getvalue(), results


def test_every_page_kind_answers_200_and_a_page_that_does_not_is_an_error(
    committed_world, tmp_path, monkeypatch
):
    picked = bench.pick_pages

    def with_a_missing_page(accounts):
        return [*picked(accounts), bench.Page("missing page", "/no-such-page/", bench.ANONYMOUS)]

    monkeypatch.setattr(bench, "pick_pages", with_a_missing_page)
    output, results = _run(tmp_path)
    *pages, missing = results["pages"]
    names = [page["name"] for page in pages]
    for kind in PAGE_KINDS:
        assert any(name.startswith(kind) for name in names), f"{kind} missing from {names}"
    for page in pages:
        assert page["statuses"] == [200], (page, output)
        assert page["queries"] != "?", page  # the server counted them
        assert page["ratio_to_trivial"] > 0
        assert page["name"][:44] in output
    trivial = pages[0]
    assert trivial["name"] == "trivial view"
    assert trivial["queries"] == "0"
    # Counted by the server, not guessed: the staff pages read the session and the user.
    staff_home = next(page for page in pages if page["name"].startswith("staff home"))
    assert int(staff_home["queries"]) >= 2
    users = {page["name"]: page["user"] for page in pages}
    assert users["statistics"] == "anonymous"
    assert users["admin enrolments"] == "superuser"
    assert users["participants"] == "busy_staff"
    assert [run["connections"] for run in results["throughput"]] == [4, 4]
    assert all(run["requests"] > 0 and run["errors"] == 0 for run in results["throughput"])
    # The page that is not there is reported, and makes the command fail.
    assert (missing["name"], missing["statuses"], missing["errors"]) == ("missing page", [404], 1)
    assert "ERR 404" in output
    assert "ERRORS: missing page" in output
    assert results["error"] and "errors" in results["error"]


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_sqlite_is_refused_without_allow_sqlite(settings, tmp_path):
    # The command refuses before it touches the database.
    settings.DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "x.sqlite3")}
    }
    with pytest.raises(CommandError, match="PostgreSQL"):
        call_command("bench", "--rounds=1")


@pytest.mark.django_db
def test_query_count_header_only_when_switched_on():
    with override_settings(
        MIDDLEWARE=["config.middleware.QueryCountMiddleware", *settings.MIDDLEWARE]
    ):
        response = Client().get("/healthz")
    assert response["X-Query-Count"] == "1"  # SELECT 1
    assert float(response["X-Query-Time"]) >= 0
    assert "X-Query-Count" not in Client().get("/healthz")


def test_percentile_and_growth():
    assert bench.percentile([], 95) == 0.0
    assert bench.percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert bench.percentile([float(n) for n in range(1, 101)], 95) == 95.0
    big = {"pages": [{"name": "registry, page 40", "p50_ms": 30.0, "ratio_to_trivial": 15.0}]}
    small = {
        "database": {},
        "pages": [{"name": "registry, page 4", "p50_ms": 20.0, "ratio_to_trivial": 5.0}],
    }
    bench.add_growth(big, small)
    assert big["pages"][0]["growth"] == pytest.approx(1.5)
    assert big["pages"][0]["growth_vs_trivial"] == pytest.approx(3.0)


def test_a_response_without_the_query_header_does_not_stop_the_summary():
    # A run of 36 minutes at national size ended in a traceback on one "?" count.
    assert bench._query_summary(["7+", "?", "7"]) == "?–7+"
    assert bench._query_summary(["12", "9"]) == "9–12"
