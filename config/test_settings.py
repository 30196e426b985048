"""Settings for the test suite: the real settings, with a throwaway key and a fast hasher."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-never-used-in-production")
os.environ.setdefault("SITE_URL", "http://127.0.0.1:8000")

from .settings import *  # noqa: F403

# Hashing passwords with the production hasher costs most of a test's time.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
# Plain HTTP in tests; the HTTPS redirect is tested against the production settings.
SECURE_SSL_REDIRECT = False
# No `collectstatic` before the tests: static files come from the apps' and project's folders.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# The test client's `login()` authenticates without a request, which django-axes refuses; the
# lockout tests switch it on (tests/test_auth.py).
AXES_ENABLED = False
# The cache lives in the memory of each process running tests (`make test` runs one per core,
# pytest-xdist's workers; production shares a database table, and
# tests/test_password_reset_throttle.py runs the throttle on that table too).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# A replica alias that is the test database itself (TEST MIRROR), so tests/test_replica.py can
# switch reading from it on (READ_REPLICA); off for the rest of the suite.
if "replica" not in DATABASES:  # noqa: F405
    DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}  # noqa: F405
READ_REPLICA = None
# Files of each process in a folder of its own, removed when it ends, never the project's
# var/: every test moves MEDIA_ROOT to its own temporary folder (tests/conftest.py), and
# this is where anything before or outside a test writes. The databases are per worker too
# (pytest-django: test_<name>_gw0, …; SQLite in memory).
TEST_FILES = Path(
    tempfile.mkdtemp(prefix=f"pks-tests-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-")
)
atexit.register(shutil.rmtree, TEST_FILES, ignore_errors=True)
# A process the tests start (a task worker, a server) is handed the test's MEDIA_ROOT.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or TEST_FILES / "media")
STATIC_ROOT = TEST_FILES / "static"
FILE_UPLOAD_TEMP_DIR = str(TEST_FILES / "upload-tmp")
# Tests render PDFs in their own process, where spies on the fetcher see every request;
# tests/agreements/test_pdf.py switches the child process on for its own tests.
PDF_RENDER_IN_CHILD = False
