"""Hourglass settings: one module, driven by the environment.

Every value has a safe development default; production sets DEBUG=false and a SECRET_KEY.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("HOURGLASS_VAR_DIR", BASE_DIR / "var")).resolve()


def env_bool(name: str, default: str = "false") -> bool:
    return os.environ.get(name, default).strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw.strip() else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def database_from_url(url: str) -> dict:
    """Turn DATABASE_URL into a Django DATABASES entry (sqlite:/// or postgres://)."""
    parsed = urlparse(url)
    options = dict(parse_qsl(parsed.query))
    if parsed.scheme == "sqlite":
        # sqlite:///relative/path, sqlite:////absolute/path, sqlite://:memory:
        name = unquote(parsed.path[1:] if parsed.path.startswith("/") else parsed.path)
        if parsed.netloc == ":memory:" or name == ":memory:":
            name = ":memory:"
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": name,
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so a writer waits on busy_timeout
                # instead of failing mid-transaction with "database is locked"; it also
                # serialises dispatchers on SQLite.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": ("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"),
            },
            "TEST": {"NAME": os.environ.get("HOURGLASS_TEST_SQLITE") or None},
        }
    if parsed.scheme in {"postgres", "postgresql", "pgsql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
            # Lets concurrent test runs on one server use separate test databases.
            "TEST": {"NAME": os.environ.get("HOURGLASS_TEST_DB") or None},
        }
    raise ImproperlyConfigured(f"DATABASE_URL scheme {parsed.scheme!r} is not supported")


DEBUG = env_bool("DEBUG", "true")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "hourglass-insecure-development-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "jobs",
    "history",
    "alerts",
]

MIDDLEWARE = [
    # First: it turns any error Django answers on an API path (404, 500, bad Host; DEBUG pages) into problem+json.
    "config.problems.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "jobs.audit.AuditRequestMiddleware",
    # A query string holding a NUL or a lone surrogate is a 400 before any view reads it.
    "config.clean_input.CleanQueryMiddleware",
    "config.security.ContentSecurityPolicyMiddleware",
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
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if not DATABASE_URL:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASE_URL = f"sqlite:///{VAR_DIR / 'hourglass.sqlite3'}"
DATABASES = {"default": database_from_url(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Times to the second, year first, in the admin and wherever Django formats a date itself (config/formats).
FORMAT_MODULE_PATH = ["config.formats"]

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
if DEBUG:
    # Development serves the app folders through WhiteNoise's finders and collectstatic never runs,
    # so the folder is made here (empty): WhiteNoise warns on every start without it.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

LOGIN_URL = "login"

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "hourglass@localhost")

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", "true")
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", "true")
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Probes and scrapers inside the network speak plain HTTP; a redirect would read as healthy.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]

# --- Celery ---------------------------------------------------------------------------
# The broker: CELERY_BROKER_URL or BROKER_URL (amqp:// for RabbitMQ, redis://), else REDIS_URL,
# else the filesystem in var/. REDIS_URL alone also holds the shared cache (below).
REDIS_URL = os.environ.get("REDIS_URL", "")
BROKER_URL = os.environ.get("CELERY_BROKER_URL") or os.environ.get("BROKER_URL") or REDIS_URL
BROKER_SCHEMES = {"amqp", "pyamqp", "amqps", "redis", "rediss"}
if BROKER_URL and urlparse(BROKER_URL).scheme not in BROKER_SCHEMES:
    raise ImproperlyConfigured(f"broker URL scheme {urlparse(BROKER_URL).scheme!r} is not supported")
if BROKER_URL.startswith(("amqp", "pyamqp")):
    CELERY_BROKER_URL = BROKER_URL
    # Connect and heartbeat within seconds, so a broker that went away (or a cut link) is noticed
    # and the worker reconnects instead of waiting on a dead socket for minutes.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
    CELERY_BROKER_CONNECTION_TIMEOUT = 4
    CELERY_BROKER_HEARTBEAT = env_int("HOURGLASS_BROKER_HEARTBEAT_SECONDS", 10)
elif BROKER_URL:
    CELERY_BROKER_URL = BROKER_URL
    # Longer than the longest ETA (the dispatcher's look-ahead) plus the run lease, so Redis
    # never redelivers a message whose run is still legitimately in flight.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    BROKER_DIR = VAR_DIR / "broker"
    for folder in ("out", "control", "processed"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "out"),
        "data_folder_out": str(BROKER_DIR / "out"),
        "control_folder": str(BROKER_DIR / "control"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        "polling_interval": 0.1,
    }

# --- Cache: shared by every process (throttles, sign-in failure counts); see config/cache.py ------
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.FailOpenRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "hourglass-cache",
            # A Redis that stops answering costs a request at most this long, not a hang.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.FolderCache",
            "LOCATION": str(VAR_DIR / "cache"),
            # The throttles and sign-in counters live here: at the default 300 entries Django culls a
            # third of the files at random, counters included, and a throttle forgets what it counted.
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
# Sign-in throttle (every sign-in form): failures per username from one address, and per address
# across usernames (password spraying), within the window; then 429 until the window has passed.
LOGIN_FAILURE_LIMIT = env_int("HOURGLASS_LOGIN_FAILURE_LIMIT", 5)
LOGIN_ADDRESS_FAILURE_LIMIT = env_int("HOURGLASS_LOGIN_ADDRESS_FAILURE_LIMIT", 20)
LOGIN_FAILURE_WINDOW = env_int("HOURGLASS_LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60)

CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True  # safe because every task is idempotent
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The clock's ticks (dispatch, reap) have a queue of their own, so a dedicated worker
# (`make run` starts one) keeps dispatching while every executor process is busy with a
# batch that waits on slow targets. A worker started without -Q consumes both queues.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES: dict[str, dict[str, Any]] = {"celery": {}, "clock": {}}
CELERY_TASK_ROUTES = {
    "hourglass.dispatch": {"queue": "clock"},
    "hourglass.reap": {"queue": "clock"},
    # The sweep only publishes; the sending (hourglass.deliver_alerts) goes to the executors' queue.
    "hourglass.alerts_sweep": {"queue": "clock"},
}
# Runs are published with eta = their slot; the worker's timer otherwise sleeps up to 1 s
# before noticing a due message (measured: ~690 ms lateness on the filesystem broker,
# 4–10 ms with 0.05).
CELERY_WORKER_TIMER_PRECISION = 0.05
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", "false")

# --- Hourglass ------------------------------------------------------------------------
# The built-in echo endpoint (/echo/) that the demo jobs and tests call.
# Encrypts the secret header values jobs send (a Fernet key); empty derives one from SECRET_KEY (HKDF-SHA256).
HOURGLASS_ENCRYPTION_KEY = os.environ.get("HOURGLASS_ENCRYPTION_KEY", "")
HOURGLASS_ECHO_ENABLED = env_bool("HOURGLASS_ECHO_ENABLED", "true" if DEBUG else "false")
# Networks or host names that outbound requests may reach even though they are not global.
HOURGLASS_ALLOWED_TARGETS = env_list("HOURGLASS_ALLOWED_TARGETS")
HOURGLASS_ALLOW_LOOPBACK = env_bool("HOURGLASS_ALLOW_LOOPBACK", "true" if DEBUG else "false")
HOURGLASS_BASE_URL = os.environ.get("HOURGLASS_BASE_URL", "http://127.0.0.1:8000")
# Alert deliveries (alerts.delivery): per-attempt timeout, attempts before a delivery is failed, and the
# first retry's delay (doubling after each failed attempt, at most an hour).
HOURGLASS_ALERT_TIMEOUT_SECONDS = env_int("HOURGLASS_ALERT_TIMEOUT_SECONDS", 10)
HOURGLASS_ALERT_MAX_ATTEMPTS = env_int("HOURGLASS_ALERT_MAX_ATTEMPTS", 5)
HOURGLASS_ALERT_BACKOFF_SECONDS = env_int("HOURGLASS_ALERT_BACKOFF_SECONDS", 30)
# Engine tuning: how far ahead the dispatcher claims slots (the engines' staging horizon), how
# many runs one worker process keeps in flight (in all, per team, per team and target host), how
# long a run may stay silent, and how long a stopping worker waits for its in-flight runs.
HOURGLASS_DISPATCH_LOOKAHEAD_MS = env_int("HOURGLASS_DISPATCH_LOOKAHEAD_MS", 10000)
HOURGLASS_EXECUTOR_CONCURRENCY = env_int("HOURGLASS_EXECUTOR_CONCURRENCY", 500)
HOURGLASS_EXECUTOR_PER_TEAM = env_int("HOURGLASS_EXECUTOR_PER_TEAM", 250)
HOURGLASS_EXECUTOR_PER_HOST = env_int("HOURGLASS_EXECUTOR_PER_HOST", 50)
HOURGLASS_LEASE_GRACE_SECONDS = env_int("HOURGLASS_LEASE_GRACE_SECONDS", 30)
HOURGLASS_SHUTDOWN_GRACE_SECONDS = env_int("HOURGLASS_SHUTDOWN_GRACE_SECONDS", 25)
HOURGLASS_REPUBLISH_AFTER_SECONDS = env_int("HOURGLASS_REPUBLISH_AFTER_SECONDS", 30)
# Bounds on what one job may ask for, checked when it is saved (and, for run variables, triggered).
HOURGLASS_MAX_STEPS = env_int("HOURGLASS_MAX_STEPS", 20)
HOURGLASS_MAX_HEADERS = env_int("HOURGLASS_MAX_HEADERS", 50)
HOURGLASS_MAX_BODY_BYTES = env_int("HOURGLASS_MAX_BODY_BYTES", 256 * 1024)
HOURGLASS_MAX_RUN_VARIABLES_BYTES = env_int("HOURGLASS_MAX_RUN_VARIABLES_BYTES", 64 * 1024)
HOURGLASS_MIN_INTERVAL_SECONDS = env_int("HOURGLASS_MIN_INTERVAL_SECONDS", 10)
# Anomaly warnings: the defaults of a job's thresholds (jobs.engine.anomaly). A successful run is a
# warning when its duration leaves median ± K·MAD of the last WINDOW successful runs (once there are
# MIN_SAMPLES, and never for less than DURATION_FLOOR_MS either side), or its response size is more
# than SIZE_FACTOR times (or less than 1/SIZE_FACTOR of) their median and SIZE_FLOOR_BYTES away from it.
HOURGLASS_ANOMALY_WINDOW = env_int("HOURGLASS_ANOMALY_WINDOW", 30)
HOURGLASS_ANOMALY_MIN_SAMPLES = env_int("HOURGLASS_ANOMALY_MIN_SAMPLES", 10)
HOURGLASS_ANOMALY_DURATION_K = float(os.environ.get("HOURGLASS_ANOMALY_DURATION_K", "5"))
HOURGLASS_ANOMALY_SIZE_FACTOR = float(os.environ.get("HOURGLASS_ANOMALY_SIZE_FACTOR", "4"))
HOURGLASS_ANOMALY_DURATION_FLOOR_MS = env_int("HOURGLASS_ANOMALY_DURATION_FLOOR_MS", 100)
HOURGLASS_ANOMALY_SIZE_FLOOR_BYTES = env_int("HOURGLASS_ANOMALY_SIZE_FLOOR_BYTES", 64)

# --- Operations (/metrics, /healthz, logs) -----------------------------------------------
# prometheus_client's multiprocess mode: every process (gunicorn and Celery workers) writes its
# counters to files here and /metrics merges them. prometheus_client reads the variable when it
# is first imported, so it is set here, before anything imports it. Empty the folder when the
# whole service restarts (a tmpfs suits it); the files of dead processes keep their counts.
PROMETHEUS_MULTIPROC_DIR = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "prometheus")))
try:
    PROMETHEUS_MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)
except OSError as exc:
    raise ImproperlyConfigured(f"PROMETHEUS_MULTIPROC_DIR must be a writable folder: {exc}") from exc
# /metrics: with a token, only `Authorization: Bearer <token>`; without, loopback and private clients.
HOURGLASS_METRICS_TOKEN = os.environ.get("HOURGLASS_METRICS_TOKEN", "")
# /healthz turns 503 when the dispatcher has not run for longer than this.
HOURGLASS_HEALTH_MAX_DISPATCH_AGE_SECONDS = env_int("HOURGLASS_HEALTH_MAX_DISPATCH_AGE_SECONDS", 30)
# plain (default) or json: one JSON object per line.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain").strip().lower()

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.problems.exception_handler",
    # Keys first: its Bearer challenge is what a 401 carries in WWW-Authenticate.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "jobs.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Authenticated, then what the view says each action needs, by the caller's role (core.permissions).
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated", "core.permissions.TeamRole"],
    # JSON with finite numbers and bounded nesting (config/parsers.py); every body refused if it holds a NUL
    # or a lone UTF-16 surrogate (config/clean_input.py).
    "DEFAULT_PARSER_CLASSES": [
        "config.clean_input.CleanJSONParser",
        "config.clean_input.CleanFormParser",
        "config.clean_input.CleanMultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "jobs.auth.ApiKeyRateThrottle",
        "jobs.auth.SessionUserRateThrottle",
        "jobs.auth.AnonymousAddressThrottle",
    ],
    # Generous for callers with credentials; tighten per deployment, e.g. HOURGLASS_THROTTLE_KEY=600/minute.
    # Requests without valid credentials (no key, a bad key) are limited per client address.
    "DEFAULT_THROTTLE_RATES": {
        "apikey": os.environ.get("HOURGLASS_THROTTLE_KEY", "20000/minute"),
        "user": os.environ.get("HOURGLASS_THROTTLE_USER", "20000/minute"),
        "anon": os.environ.get("HOURGLASS_THROTTLE_ANON", "60/minute"),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Hourglass API",
    "DESCRIPTION": (
        "HTTP cron jobs and their run history. Errors are RFC 9457 application/problem+json. Text, in bodies and"
        " query strings, names and values alike, must not hold NUL characters or lone UTF-16 surrogates: such"
        " input answers 400."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.strict.refuse_additional_properties",
        "config.openapi.json_request_bodies",
    ],
    # No internet on the servers: Swagger UI is served from the sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": ["pending", "running", "ended"],
        "ProgressStatusEnum": [("success", "success"), ("error", "error"), ("warning", "warning")],
        "ScopeEnum": "jobs.roles.PERMISSIONS",
        "AlertSeverityEnum": ["info", "warning", "error", "critical"],
        "DeliveryStatusEnum": ["pending", "sending", "delivered", "failed", "suppressed"],
        "IncidentStatusEnum": ["open", "closed"],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"()": "config.logging.PlainFormatter", "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.logging.JsonFormatter"},
    },
    "filters": {"clock_tasks_at_debug": {"()": "config.logging.ClockTasksAtDebug"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["clock_tasks_at_debug"],
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's default config gives `django` a console handler of its own (when DEBUG) and it also
        # propagates to the root's: every django.request line was printed twice. The root's is enough.
        "django": {"handlers": [], "level": os.environ.get("LOG_LEVEL", "INFO"), "propagate": True},
        "django.db.backends": {"level": "WARNING"},
    },
}
