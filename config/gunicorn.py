"""gunicorn settings for `make serve`, each overridable from the environment.

WEB_CONCURRENCY sets the number of worker processes (default two per core plus one); HOST and
PORT the address. Workers are replaced after a number of requests (with jitter, so they do not
all restart at once) to bound memory growth; a worker stuck past GUNICORN_TIMEOUT seconds is
killed and replaced. The access log goes to standard output, as JSON lines with LOG_FORMAT=json.
"""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


wsgi_app = "config.wsgi:application"
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{_int('PORT', 8000)}"
workers = _int("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1)
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 100)
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
accesslog = "-"
errorlog = "-"
# LOG_FORMAT=json: the access log in the application's JSON shape (config/logging.py), one
# object a line; the request id is the one the application answers in X-Request-ID.
if os.environ.get("LOG_FORMAT", "").strip().lower() == "json":
    logger_class = "config.logging.GunicornJsonLogger"
# Behind a reverse proxy on another machine, set FORWARDED_ALLOW_IPS to its address.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
