"""Settings, read once from the environment (and an optional `.env` file) with django-environ.

Every variable is documented in `.env.example`. A malformed value stops start-up with an error
that names the variable; with DEBUG off, a missing or placeholder SECRET_KEY, or a missing
SITE_URL, does too.
"""

import datetime
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from config.logging import logging_config

from .storage import private_storage_setting

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

# A placeholder that is only good enough for a developer's machine.
INSECURE_SECRET_KEY = "django-insecure-development-only-key"  # noqa: S105 - refused below


def _read(name: str, cast, default):
    """Read one variable, turning a malformed value into an error that names it."""
    try:
        return cast(name, default=default)
    except (ValueError, TypeError, ImproperlyConfigured) as exc:
        raise ImproperlyConfigured(f"Environment variable {name} is malformed: {exc}") from exc


_BOOLEANS = {
    **dict.fromkeys(("on", "true", "yes", "1"), True),
    **dict.fromkeys(("off", "false", "no", "0"), False),
}


def _read_bool(name: str, default: bool) -> bool:
    """Read an on/off variable; anything but on/off, true/false, yes/no or 1/0 is an error
    (django-environ would read a typo as off)."""
    value = env.str(name, default="")
    if value == "":
        return default
    try:
        return _BOOLEANS[value.strip().lower()]
    except KeyError:
        raise ImproperlyConfigured(
            f"Environment variable {name} is malformed: use on or off, not {value!r}"
        ) from None


def _read_int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    """Read a whole number within bounds; one outside them is an error that names it."""
    value: int = _read(name, env.int, default)
    if value < minimum or (maximum is not None and value > maximum):
        bounds = (
            f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        )
        raise ImproperlyConfigured(f"Environment variable {name} must be {bounds}, not {value}.")
    return value


DEBUG: bool = _read_bool("DEBUG", False)

SECRET_KEY: str = _read("SECRET_KEY", env.str, INSECURE_SECRET_KEY)
if not DEBUG and SECRET_KEY in ("", INSECURE_SECRET_KEY):
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. With DEBUG off, set SECRET_KEY in the environment or in .env "
        "to a long random value, e.g. the output of: "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )

ALLOWED_HOSTS: list[str] = _read(
    "ALLOWED_HOSTS", env.list, ["127.0.0.1", "localhost"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS: list[str] = _read("CSRF_TRUSTED_ORIGINS", env.list, [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_tasks_db",
    "institutions",
    "agreements",
    "rehabilitation",
    # Last: the demo scenario built on the apps above, and the task schedule's slots.
    "config",
]

MIDDLEWARE = [
    # First: it times the whole request and gives it the id every log line carries.
    "config.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.PermissionsPolicyMiddleware",
    # Static files are answered here, before sessions and the rest are set up.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Before anything reads the session, the user or the form data from the database.
    "config.middleware.HostileInputMiddleware",
    # The health checks answer here, without sessions or authentication; during a database
    # outage every other page answers 503 with Retry-After.
    "config.middleware.HealthCheckMiddleware",
    "config.middleware.DatabaseOutageMiddleware",
    # Reads of the public and report pages from the read replica (config.routers); after it,
    # so that a replica outage is answered from the primary before it counts as an outage.
    "config.middleware.ReplicaMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "config.middleware.TwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout noted during the request into the answer.
    "axes.middleware.AxesMiddleware",
]

#: Measurement aids for `manage.py bench`, off in production: BENCH_QUERY_COUNT adds the
#: X-Query-Count and X-Query-Time headers (config.middleware.QueryCountMiddleware, outermost, so
#: that the session and everything else is counted); BENCH_TRIVIAL_VIEW mounts /bench/trivial,
#: a response through the whole middleware stack that reads nothing.
BENCH_QUERY_COUNT: bool = _read_bool("BENCH_QUERY_COUNT", False)
BENCH_TRIVIAL_VIEW: bool = _read_bool("BENCH_TRIVIAL_VIEW", False)
if BENCH_QUERY_COUNT:
    MIDDLEWARE.insert(0, "config.middleware.QueryCountMiddleware")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                # The CSP nonce, for the admin's few inline tags (see SECURE_CSP).
                "django.template.context_processors.csp",
            ],
        },
    },
]

DATABASES = {
    "default": _read("DATABASE_URL", env.db_url, f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if "DATABASE_URL" not in env:
    VAR_DIR.mkdir(exist_ok=True)  # the default SQLite file lives there
if not DATABASES["default"].get("ENGINE"):
    raise ImproperlyConfigured(
        "Environment variable DATABASE_URL is malformed: use e.g. "
        "postgres://user:password@host:5432/name or sqlite:////absolute/path.sqlite3"
    )
#: Seconds a database connection is kept open between requests (0: one per request), checked
#: before reuse so a restarted server costs one failed query at most.
DATABASES["default"]["CONN_MAX_AGE"] = _read("DATABASE_CONN_MAX_AGE", env.int, 0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# A streaming replica of the primary (PostgreSQL hot standby), for the read-heavy public pages
# and reports (config.routers): unset, every query goes to the primary. In the tests the
# replica is the primary itself (TEST MIRROR).
_replica_url: str = _read("DATABASE_REPLICA_URL", env.str, "")
if _replica_url:
    DATABASES["replica"] = {
        **_read("DATABASE_REPLICA_URL", env.db_url, None),
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"MIRROR": "default"},
    }
    if DATABASES["replica"]["ENGINE"].endswith("postgresql"):
        # A replica that is down is given up quickly and the primary answers instead.
        DATABASES["replica"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 2)
#: The alias the router reads from on replica pages; None without a replica.
READ_REPLICA: str | None = "replica" if _replica_url else None
DATABASE_ROUTERS = ["config.routers.ReplicaRouter"]
#: The pages (URL names) whose reads go to the replica: public and read-heavy. Every other page,
#: and every write, uses the primary.
REPLICA_VIEWS = [
    "public:registry",
    "public:agreement",
    "rehabilitation:public_statistics",
    "rehabilitation:programme_report",
    "rehabilitation:institution_report",
]
#: After a POST (any write) the browser reads from the primary for this many seconds, so a user
#: sees what they just changed even when the replica lags (config.middleware.ReplicaMiddleware).
REPLICA_PIN_SECONDS = _read_int("REPLICA_PIN_SECONDS", 15)
#: After a failed connection to the replica, the primary answers for this many seconds.
REPLICA_RETRY_SECONDS = _read_int("REPLICA_RETRY_SECONDS", 30, minimum=1)

# The cache holds counts every server must share (the password-reset throttle): by default a
# table of the database (`manage.py createcachetable`, which `make run` and `make serve` run),
# so that several workers and servers count together without another service; CACHE_URL
# (e.g. redis://host:6379/0 or locmem://) chooses another. Redis is read through
# config.cache.ResilientRedisCache: while it is down, reads miss instead of failing the page.
CACHES = {"default": _read("CACHE_URL", env.cache_url, "dbcache://django_cache")}
CACHE_IS_REDIS: bool = CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
if CACHE_IS_REDIS:
    CACHES["default"]["BACKEND"] = "config.cache.ResilientRedisCache"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication -------------------------------------------------------------------------

# Argon2 for new and changed passwords; the others only verify older hashes, which are rehashed
# with Argon2 at the next successful login.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The lockout check runs before any password is compared (django-axes).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "staff:home"
LOGOUT_REDIRECT_URL = "public:registry"
#: How long a link to choose a password (reset, or a new account's) stays valid, in seconds;
#: the reset e-mail and page say "24 hours".
PASSWORD_RESET_TIMEOUT = 24 * 60 * 60

# Login throttling (django-axes, attempts kept in the database so that every worker process
# sees them). An account is locked after LOGIN_FAILURE_LIMIT failures from any address, and an
# address after as many failures on any accounts, for LOGIN_LOCKOUT_MINUTES after the last one.
LOGIN_FAILURE_LIMIT: int = _read("LOGIN_FAILURE_LIMIT", env.int, 5)
LOGIN_LOCKOUT_MINUTES: int = _read("LOGIN_LOCKOUT_MINUTES", env.int, 15)
if LOGIN_FAILURE_LIMIT < 1 or LOGIN_LOCKOUT_MINUTES < 1:
    raise ImproperlyConfigured(
        "Environment variables LOGIN_FAILURE_LIMIT and LOGIN_LOCKOUT_MINUTES must be at least 1."
    )
#: Reverse proxies in front of the site that append to X-Forwarded-For (0: use REMOTE_ADDR).
TRUSTED_PROXY_COUNT: int = _read("TRUSTED_PROXY_COUNT", env.int, 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("Environment variable TRUSTED_PROXY_COUNT must not be negative.")
#: Password-reset requests answered with a mail, per address asked for and per client address,
#: in a window of PASSWORD_RESET_WINDOW_MINUTES; over a limit the page is the same, no mail.
PASSWORD_RESET_LIMIT_PER_ADDRESS: int = _read("PASSWORD_RESET_LIMIT_PER_ADDRESS", env.int, 3)
PASSWORD_RESET_LIMIT_PER_CLIENT: int = _read("PASSWORD_RESET_LIMIT_PER_CLIENT", env.int, 10)
PASSWORD_RESET_WINDOW_MINUTES: int = _read("PASSWORD_RESET_WINDOW_MINUTES", env.int, 60)
if (
    min(
        PASSWORD_RESET_LIMIT_PER_ADDRESS,
        PASSWORD_RESET_LIMIT_PER_CLIENT,
        PASSWORD_RESET_WINDOW_MINUTES,
    )
    < 1
):
    raise ImproperlyConfigured(
        "Environment variables PASSWORD_RESET_LIMIT_PER_ADDRESS, PASSWORD_RESET_LIMIT_PER_CLIENT "
        "and PASSWORD_RESET_WINDOW_MINUTES must be at least 1."
    )
# The attempts and lockouts are kept in the database (django-axes' database handler), not in
# the cache: every server shares them, and neither a Redis restart nor a Redis outage can lift
# a lockout or let an attacker start counting again.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = datetime.timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own
AXES_RESET_ON_SUCCESS = True
# Attempts during a lockout are refused without extending it, so the time shown stays true.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "config.middleware.client_ip"
AXES_LOCKOUT_CALLABLE = "config.middleware.lockout_response"
AXES_VERBOSE = False
# Masked in the logs and in the request data django-axes keeps with each failed attempt.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp_token", "csrfmiddlewaretoken"]

# Two-factor authentication with time-based codes (django-otp). Any account may enrol a device.
# An account required to use it (each setting below) has, until its session is verified with a
# code, no more power than an anonymous visitor (config.middleware.TwoFactorMiddleware).
#: is_staff accounts, in the Django admin only.
ADMIN_REQUIRE_2FA: bool = _read_bool("ADMIN_REQUIRE_2FA", False)
#: Superusers, everywhere.
REQUIRE_2FA_SUPERUSERS: bool = _read_bool("REQUIRE_2FA_SUPERUSERS", False)
#: is_staff accounts (those that may open the admin), everywhere.
REQUIRE_2FA_STAFF: bool = _read_bool("REQUIRE_2FA_STAFF", False)
#: Holders of a role that sees detainees' personal data (programme staff, institution
#: administrators), everywhere.
REQUIRE_2FA_PERSONAL_DATA: bool = _read_bool("REQUIRE_2FA_PERSONAL_DATA", False)
OTP_TOTP_ISSUER = _read("OTP_TOTP_ISSUER", env.str, "PKS Registry")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# --- Sessions and cookies ---------------------------------------------------------------------

#: Inactivity after which a session ends, in seconds: every request pushes the expiry forward.
SESSION_COOKIE_AGE: int = _read("SESSION_COOKIE_AGE", env.int, 30 * 60)
if SESSION_COOKIE_AGE < 60:
    raise ImproperlyConfigured("Environment variable SESSION_COOKIE_AGE must be at least 60.")
SESSION_SAVE_EVERY_REQUEST = True
# Sessions live in the database, which every server shares; with Redis as the cache they are
# also cached there (`cached_db`): reads come from Redis, writes go to both, so a restarted or
# unreachable Redis logs nobody out and loses nothing (the plain `cache` engine would).
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db"
    if CACHE_IS_REDIS
    else "django.contrib.sessions.backends.db"
)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
LANGUAGE_COOKIE_SECURE = not DEBUG
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"

# --- HTTPS and response headers ---------------------------------------------------------------

SECURE_SSL_REDIRECT: bool = _read_bool("SECURE_SSL_REDIRECT", not DEBUG)
# The health checks answer the load balancer and the process supervisor over plain HTTP on the
# private network, where no proxy sets X-Forwarded-Proto; they carry no cookie and no data.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS: int = _read("SECURE_HSTS_SECONDS", env.int, 0 if DEBUG else 365 * 24 * 3600)
if SECURE_HSTS_SECONDS < 0:
    raise ImproperlyConfigured("Environment variable SECURE_HSTS_SECONDS must not be negative.")
SECURE_HSTS_INCLUDE_SUBDOMAINS: bool = _read_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD: bool = _read_bool("SECURE_HSTS_PRELOAD", True)
# Behind a proxy that terminates HTTPS: the header it sets and the value meaning "https",
# e.g. HTTP_X_FORWARDED_PROTO,https. Only when the proxy always sets (or strips) that header.
_proxy_ssl_header: list[str] = _read("SECURE_PROXY_SSL_HEADER", env.list, [])
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured(
        "Environment variable SECURE_PROXY_SSL_HEADER is malformed: use HEADER,value, "
        "e.g. HTTP_X_FORWARDED_PROTO,https"
    )
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if _proxy_ssl_header else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
#: Browser features no page of the site uses, refused to every page (the Permissions-Policy
#: header, config.middleware.PermissionsPolicyMiddleware).
PERMISSIONS_POLICY = [
    "accelerometer",
    "autoplay",
    "camera",
    "display-capture",
    "encrypted-media",
    "fullscreen",
    "geolocation",
    "gyroscope",
    "magnetometer",
    "microphone",
    "midi",
    "payment",
    "picture-in-picture",
    "publickey-credentials-get",
    "screen-wake-lock",
    "serial",
    "usb",
    "xr-spatial-tracking",
]
# Only the site's own files; no inline script or style. The nonce is added to the header only
# on pages whose template asked for it (the Django admin's few inline tags).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],  # data: for the two-factor enrolment QR code
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

LANGUAGE_CODE = "id"
LANGUAGES = [("id", _("Indonesian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Jakarta"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(_read("STATIC_ROOT", env.str, str(VAR_DIR / "static")))
# Uploaded and issued files (signed scans, issued PDFs, institution logos) hold official
# documents: they live outside any public URL (there is no MEDIA_URL) and are only served through
# views that check access. STORAGE_URL chooses where (config/storage.py): by default the local
# private folder MEDIA_ROOT/private, or an S3-compatible object store (s3://bucket/prefix?…).
MEDIA_ROOT = Path(_read("MEDIA_ROOT", env.str, str(VAR_DIR / "media")))
#: Seconds a signed URL of the object store would stay valid (the site streams files itself).
S3_SIGNED_URL_SECONDS = _read_int("S3_SIGNED_URL_SECONDS", 60, minimum=1)
#: Seconds to wait for the object store to connect or answer before the request gives up.
STORAGE_TIMEOUT_SECONDS = _read_int("STORAGE_TIMEOUT_SECONDS", 10, minimum=1)
_private_files = private_storage_setting(
    _read("STORAGE_URL", env.str, ""),
    access_key=_read("S3_ACCESS_KEY_ID", env.str, ""),
    secret_key=_read("S3_SECRET_ACCESS_KEY", env.str, ""),
    signed_url_seconds=S3_SIGNED_URL_SECONDS,
    timeout_seconds=STORAGE_TIMEOUT_SECONDS,
)
# In production the application server answers for static files (WhiteNoise), from
# `collectstatic`'s output with content-hashed names, so they can be cached for ever.
# "default" is the private store too: a file saved through Django's default storage is never
# put anywhere public.
STORAGES = {
    "default": _private_files,
    "private": _private_files,
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Readable by the application's own account and group only.
FILE_UPLOAD_PERMISSIONS = 0o640
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750
#: Uploads larger than 2.5 MB are spooled to disk while the request is read: into this private
#: folder, not the system's temporary one; `sweep_files` removes what a crashed request left.
FILE_UPLOAD_TEMP_DIR = str(
    Path(_read("FILE_UPLOAD_TEMP_DIR", env.str, str(VAR_DIR / "upload-tmp"))).resolve()
)
#: Files that no row names (left by a crash between writing a file and committing its row)
#: are removed by `sweep_files` once older than this many hours.
ORPHAN_FILE_GRACE_HOURS = _read_int("ORPHAN_FILE_GRACE_HOURS", 24, minimum=1)

#: The largest signed scan accepted, in megabytes.
SIGNED_SCAN_MAX_MB: int = _read("SIGNED_SCAN_MAX_MB", env.int, 20)
#: The most pages a signed scan may have; a file declaring more is refused before it is read.
SIGNED_SCAN_MAX_PAGES = _read_int("SIGNED_SCAN_MAX_PAGES", 500, minimum=1)
#: Seconds the check of one scan may take (in a child process, stopped when over): well under
#: the application server's timeout, so no upload can hold a worker.
SCAN_CHECK_SECONDS = _read_int("SCAN_CHECK_SECONDS", 20, minimum=1)
#: Optional PAdES signing of issued PDFs: a PKCS#12 file (key and chain) and its password.
PDF_SIGNING_PKCS12: str = _read("PDF_SIGNING_PKCS12", env.str, "")
PDF_SIGNING_PASSWORD: str = _read("PDF_SIGNING_PASSWORD", env.str, "")
#: Render each PDF after a process's first in a forked child process, so that WeasyPrint's
#: memory growth (about 0.3 MB a document) does not stay in the server process.
PDF_RENDER_IN_CHILD: bool = _read_bool("PDF_RENDER_IN_CHILD", True)
#: The site's address as users reach it, for links in e-mails and calendar entries, and for the
#: verification link and QR code of issued PDFs. A PDF is issued once, so with DEBUG off the
#: address is never guessed; with DEBUG on it defaults to the development server's PORT.
if DEBUG:
    SITE_URL: str = _read("SITE_URL", env.str, f"http://127.0.0.1:{_read('PORT', env.int, 8000)}")
else:
    SITE_URL = _read("SITE_URL", env.str, "")
    if not SITE_URL.strip():
        raise ImproperlyConfigured(
            "SITE_URL is not set. With DEBUG off, set SITE_URL in the environment or in .env "
            "to the address users reach the site at, e.g. https://pks.example.go.id: it is "
            "printed in the verification link and QR code of every issued PDF."
        )
SITE_URL = SITE_URL.strip().rstrip("/")
if not SITE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(
        f"Environment variable SITE_URL is malformed: an http:// or https:// address, not "
        f"{SITE_URL!r}"
    )

# Outgoing e-mail from one URL: smtp://user:password@host:587/?tls=True, or consolemail://
_email = _read("EMAIL_URL", env.email_url, "consolemail://" if DEBUG else "smtp://localhost:25")
_smtp_options = {
    "host": _email.get("EMAIL_HOST"),
    "port": _email.get("EMAIL_PORT"),
    "username": _email.get("EMAIL_HOST_USER") or None,
    "password": _email.get("EMAIL_HOST_PASSWORD") or None,
    "use_tls": _email.get("EMAIL_USE_TLS", False),
    "use_ssl": _email.get("EMAIL_USE_SSL", False),
    "timeout": 30,
}
MAILERS = {
    "default": {
        "BACKEND": _email["EMAIL_BACKEND"],
        "OPTIONS": _smtp_options if _email["EMAIL_BACKEND"].endswith("smtp.EmailBackend") else {},
    }
}
DEFAULT_FROM_EMAIL = _read("DEFAULT_FROM_EMAIL", env.str, "pks@localhost")

#: "text" (default) or "json": one JSON object a line on standard output, with one line per
#: request (method, path, status, duration, query count, user id, request id); config/logging.py.
LOG_FORMAT: str = _read("LOG_FORMAT", env.str, "text").strip().lower()
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(
        f"Environment variable LOG_FORMAT is malformed: use text or json, not {LOG_FORMAT!r}"
    )
LOGGING_CONFIG = "logging.config.dictConfig"
LOGGING = logging_config(LOG_FORMAT, _read("LOG_LEVEL", env.str, "INFO"))

# --- Background tasks (django.tasks) ----------------------------------------------------------

# Issuing PDFs after a signing, notices and the daily schedule run as tasks. TASK_BACKEND=database
# (the default) puts them in a table of the project's own database, where any number of workers
# (`manage.py run_worker`, on any machine) take them; `make run` starts one beside the
# development server. TASK_BACKEND=immediate runs each task inside the request that asks for it.
_TASK_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "immediate": "django.tasks.backends.immediate.ImmediateBackend",
}
_task_backend: str = _read("TASK_BACKEND", env.str, "database")
if _task_backend not in _TASK_BACKENDS:
    raise ImproperlyConfigured(
        f"Environment variable TASK_BACKEND is malformed: use database or immediate, not "
        f"{_task_backend!r}"
    )
TASKS = {"default": {"BACKEND": _TASK_BACKENDS[_task_backend], "QUEUES": ["default"]}}
#: How often a failing task is tried in all, and the wait before the second try, in seconds
#: (doubled before each further one).
TASK_MAX_ATTEMPTS = _read_int("TASK_MAX_ATTEMPTS", 5, minimum=1)
TASK_RETRY_DELAY = _read_int("TASK_RETRY_DELAY", 60)
#: A task still "running" this long after it started lost its worker (killed, machine gone):
#: the schedule marks it failed and queues its next try. Longer than any task takes, in seconds.
TASK_STALLED_AFTER = _read_int("TASK_STALLED_AFTER", 30 * 60, minimum=1)
#: The hour of the day (WIB) the daily notices go out.
NOTICE_HOUR = _read_int("NOTICE_HOUR", 7, maximum=23)
#: A notice whose sending began this long ago and was never marked sent may have reached its
#: recipients: it is not sent again automatically, but listed in the admin for a person to decide
#: (resend, or mark as sent), in minutes.
NOTICE_ATTEMPT_WINDOW_MINUTES = _read_int("NOTICE_ATTEMPT_WINDOW_MINUTES", 30, minimum=1)
