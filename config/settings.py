"""Settings, read once from the environment (and an optional `.env` file) with django-environ.

Every variable is documented in `.env.example`. A malformed value stops start-up with an error
that names the variable; with DEBUG off, a missing or placeholder SECRET_KEY does too.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

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


DEBUG: bool = _read("DEBUG", env.bool, False)

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
    "institutions",
    "agreements",
    "rehabilitation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

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
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "staff:home"
LOGOUT_REDIRECT_URL = "public:registry"

LANGUAGE_CODE = "id"
LANGUAGES = [("id", _("Indonesian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Jakarta"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(_read("STATIC_ROOT", env.str, str(VAR_DIR / "static")))

# Uploaded files (signed scans) hold official documents: they live outside any public URL and
# are only served through views that check access.
MEDIA_ROOT = Path(_read("MEDIA_ROOT", env.str, str(VAR_DIR / "media")))

#: The largest signed scan accepted, in megabytes.
SIGNED_SCAN_MAX_MB: int = _read("SIGNED_SCAN_MAX_MB", env.int, 20)
#: The site's address as users reach it, for links in e-mails and calendar entries.
SITE_URL: str = _read("SITE_URL", env.str, "http://127.0.0.1:8000").rstrip("/")

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

SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": _read("LOG_LEVEL", env.str, "INFO")},
    # WeasyPrint narrates every rendering step at INFO.
    "loggers": {"weasyprint": {"level": "WARNING"}, "fontTools": {"level": "WARNING"}},
}
