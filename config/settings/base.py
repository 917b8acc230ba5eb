"""Settings, read from the environment in this one place.

With no variable set at all the embedded default runs: SQLite under ``var/``, in-process event
fan-out, an in-memory channel layer, LocMem cache and a filesystem Celery broker (atomic
writes: config/filesystem_broker.py). Setting
``DATABASE_URL`` and ``REDIS_URL`` switches to PostgreSQL and Redis (see docs/deploy.md).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from gripcontrol import parse_grip_uri

from config.logging import component_levels


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("FLAGSTREAM_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _embedded_secret_key() -> str:
    """A random key kept in var/ so that sessions and tokens survive a restart of `make run`."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = os.environ.get("SECRET_KEY") or _embedded_secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# Browsers on other origins may call the SDK API and OFREP with a client key (config/cors.py):
# every origin by default ("*"), or only those listed ("https://app.example.com,…").
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", "*")
CORS_PATH_PREFIXES = ["/api/sdk/", "/ofrep/v1/"]

# Served over HTTPS (a TLS-terminating proxy in front): HTTPS=true turns on secure cookies, the
# redirect of plain HTTP and, with HSTS_SECONDS, Strict-Transport-Security. The embedded
# default serves plain HTTP on loopback. `manage.py check --deploy` is clean with the settings
# of docs/deploy.md.
HTTPS = env_bool("HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("HSTS_PRELOAD", False)
# The proxy says which scheme the client used; without it every request would look like HTTP
# and be redirected forever.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
# Load balancers' health checks come over plain HTTP from inside.
SECURE_REDIRECT_EXEMPT = [r"^api/health$", r"^stream/health$", r"^metrics$"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_eventstream",
    "django_celery_beat",
    "tenancy",
    "streaming",
    "flags",
    "analytics",
    "sessions_app",
    "companies",
]

MIDDLEWARE = [
    "config.api_errors.JsonErrorsMiddleware",
    "django_grip.GripMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

# Members who are not staff log in here (the live company dashboard); staff may use the admin's.
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'flagstream.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Server, worker, beat and commands share the file: WAL lets readers run beside the one
    # writer, IMMEDIATE takes the write lock up front so that two writers queue on the busy
    # timeout instead of failing with "database is locked" half-way through a transaction.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # A database that is away must answer fast (503, Retry-After), never hang a request.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5))
# What a request meeting an unavailable database is told (503): when to try again.
DATABASE_RETRY_AFTER_SECONDS = env_int("DATABASE_RETRY_AFTER_SECONDS", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis (optional) -----------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": REDIS_URL}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                  "CONFIG": {"hosts": [REDIS_URL]}}}
    _redis = urlparse(REDIS_URL)
    EVENTSTREAM_REDIS = {
        "host": _redis.hostname or "127.0.0.1",
        "port": _redis.port or 6379,
        "db": int((_redis.path or "/0").lstrip("/") or 0),
    }
    if _redis.password:
        EVENTSTREAM_REDIS["password"] = _redis.password
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Celery ---------------------------------------------------------------------------------
# Embedded: kombu's filesystem transport with atomic message writes (config/filesystem_broker.py).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL or "fsatomic://"
if CELERY_BROKER_URL in ("filesystem://", "fsatomic://"):
    _queue_dir = VAR_DIR / "celery" / "queue"
    _processed_dir = VAR_DIR / "celery" / "processed"
    _control_dir = VAR_DIR / "celery" / "control"  # kombu's default is ./control in the cwd
    for _d in (_queue_dir, _processed_dir, _control_dir):
        _d.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "control_folder": str(_control_dir),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_MAX_LOOP_INTERVAL = 1  # beat wakes at least every second (changes due within 2 s)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Auth, i18n, static ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]  # vendored front-end libraries shared by the pages
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # admin assets work even before collectstatic has run

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenancy.api.authentication.BearerJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["tenancy.api.throttling.PerUserThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "flags.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Flagstream API",
    "DESCRIPTION": "Feature flags, live streams, analytics and agent sessions.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Endpoints Django's URL resolver does not route to DRF: the SDK API and OFREP (plain
    # views) and every registered stream kind (served from ASGI).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "flags.api.openapi.add_sdk_paths",
                             "analytics.api.openapi.add_analytics_paths",
                             "sessions_app.api.openapi.add_session_paths",
                             "companies.openapi.add_company_paths",
                             "streaming.openapi.add_stream_paths",
                             "config.openapi.document_errors"],
}

# --- Flagstream -----------------------------------------------------------------------------
JWT_ACCESS_TTL_SECONDS = env_int("JWT_ACCESS_TTL_SECONDS", 15 * 60)
# Password guessing (POST /api/auth/token, /accounts/login/) and refresh-token guessing: failed
# attempts a minute before every attempt is refused with 429 until the minute ends (0 = off).
# Behind a proxy that does not pass the client's address, every client shares one address.
AUTH_FAILURES_PER_USERNAME_PER_MINUTE = env_int("AUTH_FAILURES_PER_USERNAME_PER_MINUTE", 10)
AUTH_FAILURES_PER_ADDRESS_PER_MINUTE = env_int("AUTH_FAILURES_PER_ADDRESS_PER_MINUTE", 100)
# Requests a minute per user on the management API, and per user or organization API key on the
# session read API, company publishing and the task endpoints (each its own budget; 0 = off).
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 1200)
# Guessing keys and tokens, on every endpoint and stream (tenancy.credential_guard): refused
# credentials a minute from one address before every request from it that carries one gets
# 429 until the minute ends (0 = off). Behind Pushpin or another proxy, serve --proxy-headers.
CREDENTIAL_FAILURES_PER_ADDRESS_PER_MINUTE = env_int("CREDENTIAL_FAILURES_PER_ADDRESS_PER_MINUTE",
                                                     100)
AUTHENTICATION_BACKENDS = ["tenancy.auth_backends.FailureLimitBackend",
                           "django.contrib.auth.backends.ModelBackend"]
JWT_REFRESH_TTL_SECONDS = env_int("JWT_REFRESH_TTL_SECONDS", 7 * 24 * 3600)
SDK_KEY_ROTATION_GRACE_SECONDS = env_int("SDK_KEY_ROTATION_GRACE_SECONDS", 24 * 3600)
STREAM_HEARTBEAT_SECONDS = env_int("STREAM_HEARTBEAT_SECONDS", 15)
# The company stream's own (dashboards): a comment line every so many seconds.
COMPANY_STREAM_HEARTBEAT_SECONDS = float(os.environ.get("COMPANY_STREAM_HEARTBEAT_SECONDS", "30"))
STREAM_EVENT_RETENTION_HOURS = env_int("STREAM_EVENT_RETENTION_HOURS", 24)
STREAM_POLL_SECONDS = float(os.environ.get("STREAM_POLL_SECONDS", "0.2"))  # embedded mode
STREAM_AUTH_RECHECK_SECONDS = float(os.environ.get("STREAM_AUTH_RECHECK_SECONDS", "2"))
STREAM_GAP_CHECK_SECONDS = float(os.environ.get("STREAM_GAP_CHECK_SECONDS", "5"))  # Redis mode
STREAM_QUEUE_SIZE = env_int("STREAM_QUEUE_SIZE", 256)  # events buffered per open stream
STREAM_DB_THREADS = env_int("STREAM_DB_THREADS", 2)  # DB connections all streams share
# Each server process writes what it serves (streams per kind and channel, its counters) to the
# database every STREAM_PRESENCE_SECONDS; /stream/stats, /stream/health and /metrics add up the
# reports younger than three intervals, so they are right across several processes.
STREAM_PRESENCE_SECONDS = float(os.environ.get("STREAM_PRESENCE_SECONDS", "5"))
# A stream that delivered no event (heartbeats do not count) for this long is closed; the client
# reconnects with Last-Event-ID. 0: never.
STREAM_IDLE_TIMEOUT_SECONDS = float(os.environ.get("STREAM_IDLE_TIMEOUT_SECONDS", "900"))
# A client that does not read: once this much is waiting in the server's socket buffer for it,
# the stream stops taking events (they wait in storage) for up to STREAM_SLOW_CLIENT_SECONDS,
# then it is closed.
STREAM_CLIENT_BUFFER_BYTES = env_int("STREAM_CLIENT_BUFFER_BYTES", 256 * 1024)
STREAM_SLOW_CLIENT_SECONDS = float(os.environ.get("STREAM_SLOW_CLIENT_SECONDS", "30"))
# A stream's event goes straight to its socket when nothing waits in the server's buffer for
# it (streaming/backpressure.py); off: every write goes through daphne and Twisted.
STREAM_DIRECT_WRITES = env_bool("STREAM_DIRECT_WRITES", True)
# Operators' bearer token for /stream/stats and /metrics (staff sessions work without it).
STREAM_OPS_TOKEN = os.environ.get("STREAM_OPS_TOKEN", "")
# The NATS bridge (manage.py nats_bridge; docs/companies.md). Unset NATS_URL: no bridge.
NATS_URL = os.environ.get("NATS_URL", "")
NATS_STREAM = os.environ.get("NATS_STREAM", "FLAGSTREAM_UPDATES")
NATS_DURABLE = os.environ.get("NATS_DURABLE", "flagstream-bridge")
NATS_SUBJECTS = env_list("NATS_SUBJECTS", "metrics.>,journey.>,q2q.>,sroi.>")
# subject pattern=event type, first match wins (NATS wildcards * and >).
NATS_EVENT_TYPES = env_list(
    "NATS_EVENT_TYPES", "metrics.calculated=metric_updated,metrics.updated=metric_updated,"
    "journey.>=journey_flag_updated,q2q.>=vis_updated,sroi.>=sroi_updated")
# Analytics (docs/analytics.md): SDK events kept raw this long, then only their rollups.
ANALYTICS_RAW_RETENTION_DAYS = env_int("ANALYTICS_RAW_RETENTION_DAYS", 7)
ANALYTICS_ROLLUP_RETENTION_DAYS = env_int("ANALYTICS_ROLLUP_RETENTION_DAYS", 90)
# Beat rolls up every ANALYTICS_ROLLUP_SECONDS what arrived up to ANALYTICS_ROLLUP_SETTLE_SECONDS
# ago (a batch still committing is not skipped): event to chart within about a minute.
ANALYTICS_ROLLUP_SECONDS = float(os.environ.get("ANALYTICS_ROLLUP_SECONDS", "60"))
ANALYTICS_ROLLUP_SETTLE_SECONDS = float(os.environ.get("ANALYTICS_ROLLUP_SETTLE_SECONDS", "5"))
# Payloads merged in one transaction of a rollup run (memory: ~8 MB per million contexts).
ANALYTICS_ROLLUP_CHUNK = env_int("ANALYTICS_ROLLUP_CHUNK", 5_000)
ANALYTICS_MAX_ITEMS = env_int("ANALYTICS_MAX_ITEMS", 10_000)  # per request (413 beyond)
ANALYTICS_MAX_BODY_BYTES = env_int("ANALYTICS_MAX_BODY_BYTES", 5 * 1024 * 1024)
# Per environment key: a client key is shared by every browser of a site (0 = no limit).
ANALYTICS_RATE_LIMIT_PER_MINUTE = env_int("ANALYTICS_RATE_LIMIT_PER_MINUTE", 60_000)
# With INGEST_GROUP_COMMIT the SDK analytics endpoints are served from ASGI and the batches of
# one moment stored in one transaction, up to this many events (analytics/writer.py).
ANALYTICS_GROUP_ITEMS = env_int("ANALYTICS_GROUP_ITEMS", 20_000)
NATS_BATCH = env_int("NATS_BATCH", 500)
# What a bridge that died held unacknowledged is delivered again after this (a new consumer's
# setting; a batch being stored longer is kept alive with "in progress").
NATS_ACK_WAIT_SECONDS = float(os.environ.get("NATS_ACK_WAIT_SECONDS", "10"))
# How long the bridge waits for more when fewer than NATS_BATCH messages are there: a little
# latency that makes every later step cheaper per event (docs/BENCHMARKS.md).
NATS_LINGER_SECONDS = float(os.environ.get("NATS_LINGER_SECONDS", "0.01"))
SDK_RATE_LIMIT_PER_MINUTE = env_int("SDK_RATE_LIMIT_PER_MINUTE", 6000)  # per key; 0 = off
# Agent sessions (per organization API key; 0 = off). The CLI never retries a 4xx, so an
# ingest limit must fit the busiest minute of all conversations a key carries: docs/sessions.md.
API_KEY_CACHE_SECONDS = env_int("API_KEY_CACHE_SECONDS", 5)  # ingest: a key read is reused
INGEST_RATE_LIMIT_PER_MINUTE = env_int("INGEST_RATE_LIMIT_PER_MINUTE", 100)
UPLOAD_RATE_LIMIT_PER_MINUTE = env_int("UPLOAD_RATE_LIMIT_PER_MINUTE", 10)
INGEST_MAX_BYTES = env_int("INGEST_MAX_BYTES", 1024 * 1024)
# One writer per server process commits the events arriving together
# (sessions_app/ingest_writer.py; the SDK analytics endpoints: analytics/writer.py).
INGEST_GROUP_COMMIT = env_bool("INGEST_GROUP_COMMIT", True)
INGEST_BATCH_SIZE = env_int("INGEST_BATCH_SIZE", 200)
# `manage.py serve` parses plain POSTs to these paths itself instead of through Twisted and
# daphne (streaming/http_lane.py); anything else on the connection goes to daphne. "" = none.
HTTP_LANE_PATHS = env_list("HTTP_LANE_PATHS", "/api/ingest")
TASK_MESSAGE_TTL_MINUTES = env_int("TASK_MESSAGE_TTL_MINUTES", 60)  # agent-to-agent tasks
STREAM_TOKEN_TTL_SECONDS = env_int("STREAM_TOKEN_TTL_SECONDS", 600)  # a task stream's token
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 64 * 1024 * 1024)
# No request body past this reaches the application, whatever the path (`manage.py serve`
# answers 413 and closes): just above the largest body an endpoint takes, the upload's.
MAX_REQUEST_BYTES = env_int("MAX_REQUEST_BYTES", UPLOAD_MAX_BYTES + 64 * 1024)
SDK_STREAM_TOKEN_TTL_SECONDS = env_int("SDK_STREAM_TOKEN_TTL_SECONDS", 24 * 3600)
OFREP_INACTIVITY_DELAY_SECONDS = env_int("OFREP_INACTIVITY_DELAY_SECONDS", 120)

EVENTSTREAM_STORAGE_CLASS = "streaming.storage.EventStorage"
EVENTSTREAM_CHANNELMANAGER_CLASS = "streaming.channelmanager.ChannelManager"
# Pushpin: its publish URL with its key, e.g. http://127.0.0.1:5561?iss=pushpin&key=<sig_key>;
# several edges (behind any TCP balancer): their URLs separated by commas. Every event is then
# published to every edge, and a stream any of them proxies is held there (see docs/deploy.md).
GRIP_URLS = [url.strip() for url in os.environ.get("GRIP_URL", "").split(",") if url.strip()]
# django-grip's form of the same: whose Grip-Sig its middleware trusts (a follow-up's view).
GRIP_PROXIES = [parse_grip_uri(url) for url in GRIP_URLS]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"redact": {"()": "streaming.logging.RedactSecretsFilter"},
                "routine": {"()": "config.logging.RoutineTasksFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain",
                             "filters": ["redact", "routine"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # LOG_LEVELS="celery=WARNING,flags=DEBUG": a level per component (logger name prefix).
    "loggers": {"django.db.backends": {"level": "WARNING"},
                **component_levels(os.environ.get("LOG_LEVELS", ""))},
}
