"""Settings fail loudly, naming the variable, on a missing key or a malformed value."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_settings(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(s.DEBUG, s.TIME_ZONE)"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_secret_key_with_debug_off_is_an_error_that_says_what_to_set():
    result = load_settings(DEBUG="off")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_placeholder_secret_key_with_debug_off_is_refused():
    result = load_settings(DEBUG="off", SECRET_KEY="django-insecure-development-only-key")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_debug_on_runs_without_a_key():
    result = load_settings(DEBUG="on")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "Asia/Jakarta"]


@pytest.mark.parametrize(
    ("name", "value"),
    [("DATABASE_URL", "not a url at all"), ("EMAIL_URL", "nosuchscheme://x")],
)
def test_malformed_variable_is_named(name, value):
    result = load_settings(DEBUG="on", **{name: value})
    assert result.returncode != 0
    assert name in result.stderr


def test_production_settings_load_with_a_key():
    result = load_settings(DEBUG="off", SECRET_KEY="x" * 50, ALLOWED_HOSTS="pks.example.go.id")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "Asia/Jakarta"]
