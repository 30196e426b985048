"""Settings for the test suite: the real settings, with a throwaway key and a fast hasher."""

import os

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
# One process runs the tests: the cache lives in its memory (production shares a database table;
# tests/test_password_reset_throttle.py runs the throttle on that table too).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Tests render PDFs in their own process, where spies on the fetcher see every request;
# tests/agreements/test_pdf.py switches the child process on for its own tests.
PDF_RENDER_IN_CHILD = False
