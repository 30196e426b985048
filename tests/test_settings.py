"""Settings fail loudly, naming the variable, on a missing key or a malformed value; the
production settings are secure by default and follow the environment."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_settings(**env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "SITE_URL", "PORT"}
    }
    clean.update(env)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import config.settings as s; print(s.DEBUG, s.TIME_ZONE, s.SITE_URL)",
        ],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_secret_key_with_debug_off_is_an_error_that_says_what_to_set():
    result = load_settings(DEBUG="off", SITE_URL="https://pks.example.go.id")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_placeholder_secret_key_with_debug_off_is_refused():
    result = load_settings(
        DEBUG="off",
        SECRET_KEY="django-insecure-development-only-key",
        SITE_URL="https://pks.example.go.id",
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_debug_on_runs_without_a_key():
    result = load_settings(DEBUG="on")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "Asia/Jakarta", "http://127.0.0.1:8000"]


def test_missing_site_url_with_debug_off_is_an_error_that_names_it():
    # The verification link and QR code of an issued PDF are printed once, for ever.
    result = load_settings(DEBUG="off", SECRET_KEY="x" * 50, ALLOWED_HOSTS="pks.example.go.id")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SITE_URL is not set" in result.stderr


def test_an_empty_site_url_with_debug_off_is_refused_too():
    result = load_settings(DEBUG="off", SECRET_KEY="x" * 50, SITE_URL="  ")
    assert result.returncode != 0
    assert "SITE_URL is not set" in result.stderr


def test_a_site_url_that_is_not_an_address_is_named():
    result = load_settings(DEBUG="on", SITE_URL="pks.example.go.id")
    assert result.returncode != 0
    assert "SITE_URL is malformed" in result.stderr


def test_with_debug_on_the_site_url_follows_the_port():
    result = load_settings(DEBUG="on", PORT="8123")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "http://127.0.0.1:8123"


def test_a_given_site_url_is_used_without_its_trailing_slash():
    result = load_settings(
        DEBUG="off", SECRET_KEY="x" * 50, SITE_URL="https://pks.example.go.id/", PORT="8123"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "https://pks.example.go.id"


@pytest.mark.parametrize(
    ("name", "value"),
    [("DATABASE_URL", "not a url at all"), ("EMAIL_URL", "nosuchscheme://x")],
)
def test_malformed_variable_is_named(name, value):
    result = load_settings(DEBUG="on", **{name: value})
    assert result.returncode != 0
    assert name in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "bounds"),
    [
        ("NOTICE_HOUR", "24", "between 0 and 23"),
        ("TASK_MAX_ATTEMPTS", "0", "at least 1"),
        ("TASK_RETRY_DELAY", "-1", "at least 0"),
        ("REPLICA_RETRY_SECONDS", "0", "at least 1"),
        ("SCAN_CHECK_SECONDS", "0", "at least 1"),
        ("ORPHAN_FILE_GRACE_HOURS", "0", "at least 1"),
    ],
)
def test_a_number_out_of_bounds_is_named_with_its_bounds(name, value, bounds):
    result = load_settings(DEBUG="on", **{name: value})
    assert result.returncode != 0
    assert f"Environment variable {name} must be {bounds}, not {value}." in result.stderr


def test_production_settings_load_with_a_key():
    result = load_settings(
        DEBUG="off",
        SECRET_KEY="x" * 50,
        ALLOWED_HOSTS="pks.example.go.id",
        SITE_URL="https://pks.example.go.id",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "Asia/Jakarta", "https://pks.example.go.id"]


# --- Security settings, read in a fresh interpreter as a server would -----------------------------

PRODUCTION = {
    "DEBUG": "off",
    "SECRET_KEY": "k" * 50,
    "ALLOWED_HOSTS": "pks.example.go.id",
    "SITE_URL": "https://pks.example.go.id",
}
SECURITY_NAMES = [
    "PASSWORD_HASHERS",
    "AUTH_PASSWORD_VALIDATORS",
    "SESSION_COOKIE_AGE",
    "SESSION_SAVE_EVERY_REQUEST",
    "SESSION_EXPIRE_AT_BROWSER_CLOSE",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SECURE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "AXES_FAILURE_LIMIT",
    "AXES_COOLOFF_TIME",
    "TRUSTED_PROXY_COUNT",
    "ADMIN_REQUIRE_2FA",
    "STORAGES",
    "FILE_UPLOAD_PERMISSIONS",
    "FILE_UPLOAD_DIRECTORY_PERMISSIONS",
]
_SETTINGS_VARIABLES = {
    "SESSION_COOKIE_AGE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "LOGIN_FAILURE_LIMIT",
    "LOGIN_LOCKOUT_MINUTES",
    "TRUSTED_PROXY_COUNT",
    "ADMIN_REQUIRE_2FA",
}


def read_settings(**env: str) -> dict:
    """The security settings as config.settings computes them from `env` (and nothing else)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "SITE_URL", *_SETTINGS_VARIABLES}
    }
    clean.update(env, DJANGO_SETTINGS_MODULE="config.settings")
    script = (
        "import json; from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {SECURITY_NAMES!r}}}, default=str))"
    )
    result = subprocess.run(  # noqa: S603 - the test's own script
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_settings_hash_with_argon2_and_demand_ten_characters():
    found = read_settings(**PRODUCTION)
    assert found["PASSWORD_HASHERS"][0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    (length,) = [v for v in found["AUTH_PASSWORD_VALIDATORS"] if "MinimumLength" in v["NAME"]]
    assert length["OPTIONS"] == {"min_length": 10}


def test_production_settings_are_https_only_with_idle_sessions():
    found = read_settings(**PRODUCTION)
    assert found["SECURE_SSL_REDIRECT"] is True
    assert found["SECURE_HSTS_SECONDS"] == 31536000
    assert found["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert found["SECURE_HSTS_PRELOAD"] is True
    assert found["SECURE_PROXY_SSL_HEADER"] is None
    assert found["SESSION_COOKIE_SECURE"] is True
    assert found["CSRF_COOKIE_SECURE"] is True
    assert found["SESSION_COOKIE_HTTPONLY"] is True
    assert found["SESSION_COOKIE_AGE"] == 1800
    assert found["SESSION_SAVE_EVERY_REQUEST"] is True
    assert found["SESSION_EXPIRE_AT_BROWSER_CLOSE"] is True
    assert found["AXES_FAILURE_LIMIT"] == 5
    assert found["AXES_COOLOFF_TIME"] == "0:15:00"
    assert found["TRUSTED_PROXY_COUNT"] == 0
    assert found["ADMIN_REQUIRE_2FA"] is False
    assert found["STORAGES"]["staticfiles"]["BACKEND"] == (
        "whitenoise.storage.CompressedManifestStaticFilesStorage"
    )
    # Uploaded documents are not world-readable.
    assert found["FILE_UPLOAD_PERMISSIONS"] == 0o640
    assert found["FILE_UPLOAD_DIRECTORY_PERMISSIONS"] == 0o750


def test_debug_settings_do_not_force_https():
    found = read_settings(DEBUG="on")
    assert found["SECURE_SSL_REDIRECT"] is False
    assert found["SECURE_HSTS_SECONDS"] == 0
    assert found["SESSION_COOKIE_SECURE"] is False
    assert found["STORAGES"]["staticfiles"]["BACKEND"] == (
        "django.contrib.staticfiles.storage.StaticFilesStorage"
    )


def test_security_settings_follow_the_environment():
    found = read_settings(
        **PRODUCTION,
        SESSION_COOKIE_AGE="600",
        SECURE_SSL_REDIRECT="off",
        SECURE_HSTS_SECONDS="3600",
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
        LOGIN_FAILURE_LIMIT="3",
        LOGIN_LOCKOUT_MINUTES="60",
        TRUSTED_PROXY_COUNT="1",
        ADMIN_REQUIRE_2FA="on",
    )
    assert found["SESSION_COOKIE_AGE"] == 600
    assert found["SECURE_SSL_REDIRECT"] is False
    assert found["SECURE_HSTS_SECONDS"] == 3600
    assert found["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert found["AXES_FAILURE_LIMIT"] == 3
    assert found["AXES_COOLOFF_TIME"] == "1:00:00"
    assert found["TRUSTED_PROXY_COUNT"] == 1
    assert found["ADMIN_REQUIRE_2FA"] is True


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SECURE_PROXY_SSL_HEADER", "HTTP_X_FORWARDED_PROTO"),
        ("LOGIN_FAILURE_LIMIT", "five"),
        ("LOGIN_FAILURE_LIMIT", "0"),
        ("LOGIN_LOCKOUT_MINUTES", "-1"),
        ("TRUSTED_PROXY_COUNT", "-1"),
        ("SESSION_COOKIE_AGE", "half an hour"),
        ("SESSION_COOKIE_AGE", "0"),
        ("SECURE_HSTS_SECONDS", "-5"),
        ("ADMIN_REQUIRE_2FA", "perhaps"),
        ("DEBUG", "of"),
    ],
)
def test_malformed_security_variable_is_named(name, value):
    result = load_settings(**(PRODUCTION | {name: value}))
    assert result.returncode != 0
    assert name in result.stderr
