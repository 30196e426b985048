"""The production configuration: `check --deploy` reports nothing, and static files are collected
with hashed names and served by the application (WhiteNoise)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings

ROOT = Path(__file__).resolve().parent.parent

#: Variables of the configuration that a developer's shell or .env could set differently.
CONFIG_VARIABLES = {
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "SITE_URL",
    "PORT",
    "DATABASE_URL",
    "STATIC_ROOT",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_AGE",
    "DJANGO_SETTINGS_MODULE",
    # Set for the browser tests' own process; a production server never has it.
    "DJANGO_ALLOW_ASYNC_UNSAFE",
}


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a production server: DEBUG off, a real key, the host, nothing else."""
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="off",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="pks.example.go.id",
        SITE_URL="https://pks.example.go.id",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        STATIC_ROOT=str(tmp_path / "static"),
    )
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - the tests' own arguments
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_check_deploy_reports_nothing_with_production_settings(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stderr


def test_check_deploy_fails_when_https_is_switched_off(tmp_path):
    # The check above is not vacuous: the settings it relies on are what it inspects.
    env = production_env(tmp_path, SECURE_SSL_REDIRECT="off", SECURE_HSTS_SECONDS="0")
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "security.W004" in result.stderr + result.stdout
    assert "security.W008" in result.stderr + result.stdout


@pytest.fixture(scope="module")
def collected(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """`collectstatic` run once, as on a production server: its output folder and environment."""
    tmp_path = tmp_path_factory.mktemp("production")
    env = production_env(tmp_path)
    result = manage("collectstatic", "--noinput", env=env)
    assert result.returncode == 0, result.stderr
    return tmp_path / "static", env


def test_collectstatic_writes_hashed_files_and_a_manifest(collected):
    static_root, env = collected
    manifest = json.loads((static_root / "staticfiles.json").read_text())
    hashed = manifest["paths"]["css/site.css"]
    assert hashed != "css/site.css" and hashed.startswith("css/site.")
    assert (static_root / hashed).read_bytes() == (ROOT / "static/css/site.css").read_bytes()
    assert (static_root / f"{hashed}.gz").exists()  # compressed copies for WhiteNoise
    assert "admin/css/base.css" in manifest["paths"]

    # Pages link the hashed name.
    link = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); "
            "from django.templatetags.static import static; print(static('css/site.css'))",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert link.returncode == 0, link.stderr
    assert link.stdout.strip() == f"/static/{hashed}"


@pytest.mark.django_db
def test_whitenoise_serves_collected_files_with_a_long_cache(collected, settings):
    static_root, _env = collected
    hashed = json.loads((static_root / "staticfiles.json").read_text())["paths"]["css/site.css"]
    with override_settings(
        STATIC_ROOT=static_root,
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
        },
        WHITENOISE_USE_FINDERS=False,
        WHITENOISE_AUTOREFRESH=False,
    ):
        client = Client()  # a new handler: WhiteNoise reads STATIC_ROOT when it starts
        response = client.get(f"/static/{hashed}", headers={"accept-encoding": "gzip"})
        assert response.status_code == 200
        assert "immutable" in response["Cache-Control"]
        assert "max-age=315360000" in response["Cache-Control"]
        assert response["Content-Encoding"] == "gzip"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert client.get("/static/css/missing.css").status_code == 404
        # The unhashed name is served too, but briefly cached, for anything that links it.
        plain = client.get("/static/css/site.css")
        assert plain.status_code == 200
        assert "immutable" not in plain["Cache-Control"]


def test_a_production_server_without_site_url_does_not_start(tmp_path):
    env = production_env(tmp_path)
    del env["SITE_URL"]
    result = manage("check", "--deploy", env=env)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SITE_URL is not set" in result.stderr


def test_the_ci_deploy_check_sets_site_url():
    # The deploy check of the CI script runs with production settings, which need SITE_URL.
    script = (ROOT / ".ci" / "run").read_text()
    deploy = script[script.index("Deployment checks") :]
    deploy = deploy[: deploy.index("check --deploy")]
    assert "SITE_URL=https://" in deploy
