"""Django settings. Every value that differs between machines comes from the
environment (see ``.env.example`` and the README's table); a bad value stops
start-up with a message that names the variable."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from dbtools.engines import engine_class
from dbtools.replication import check_duration
from dbtools.replication import check_url as check_replica_url
from project.cache import cache_from_url
from project.db import database_from_url
from project.dbconnect import missing_driver, use_pool
from project.env import env_bool, env_choice, env_int, env_list, env_str, load_project_env
from project.mail import email_from_url
from project.serving import server_threads, server_timeout

BASE_DIR = Path(__file__).resolve().parent.parent
# A local .env (see .env.example) fills in variables the environment lacks.
load_project_env(BASE_DIR)
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (for example: "
            "export SECRET_KEY=\"$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')\"), "
            "or set DEBUG=true for local development only."
        )
    # Development only: never used with DEBUG off.
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "users",
    "posts",
    "dbtools",
    "project.apps.ProjectConfig",
]

MIDDLEWARE = [
    # First, so every request (even a redirect to HTTPS) gets an id and a log line.
    "project.middleware.RequestLogMiddleware",
    # A database that cannot be reached: a 503 and one log line (project/dbconnect.py).
    "project.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "project.middleware.ContentSecurityPolicyMiddleware",
    # Static files straight after the security headers, before sessions and auth.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "project.middleware.ApiRequestLimitsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "users.lockout.LockoutMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"
ASGI_APPLICATION = "project.asgi.application"

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

# Database: SQLite file under var/ unless DATABASE_URL says otherwise.
# sqlite:///relative/path is relative to the project folder; sqlite:////abs/path is absolute.
DATABASE_URL = env_str("DATABASE_URL")
if not DATABASE_URL:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASE_URL = f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {
    "default": database_from_url(
        DATABASE_URL,
        base_dir=BASE_DIR,
        # Persistent connections, checked before reuse (CONN_HEALTH_CHECKS).
        conn_max_age=env_int("CONN_MAX_AGE", 600, minimum=0),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "users.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# REST_FRAMEWORK is completed in the "REST API" block at the end of this file.
REST_FRAMEWORK = {
    "DEFAULT_PAGINATION_CLASS": "project.api.PageOrCursorPagination",
    "PAGE_SIZE": 20,
}

LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "plain"}},
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
}


# --- Production serving and hardening -------------------------------------
# Everything below is on when DEBUG is off; `manage.py check --deploy
# --fail-level WARNING` is clean with these values (README, "Running in production").
_SECURE = not DEBUG

# HTTPS. Behind a proxy that terminates TLS, set TLS_PROXY=true so the
# proxy's X-Forwarded-Proto tells Django the request was HTTPS (otherwise the
# redirect below loops). Only do that when the proxy overwrites that header.
if env_bool("TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _SECURE)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if _SECURE else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _SECURE)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", _SECURE)
SESSION_COOKIE_SECURE = _SECURE
CSRF_COOKIE_SECURE = _SECURE
SESSION_COOKIE_HTTPONLY = True
# The admin's and the pages' JavaScript never read the CSRF cookie (they use
# the form field), so it can be HttpOnly too.
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Content-Security-Policy (project.middleware.ContentSecurityPolicyMiddleware):
# directive -> sources. Everything is served by this site, nothing inline.
# A feature that needs more adds to this dict, e.g.
#   CONTENT_SECURITY_POLICY["img-src"].append("https://images.example")
# or decorates its view with project.middleware.csp_update(...).
CONTENT_SECURITY_POLICY: dict[str, list[str]] = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    # The hash allows exactly the small <style> block of drf-spectacular's
    # Swagger UI page (0.30.0), nothing else inline. The docs must be served by
    # SpectacularSwaggerSplitView, whose script is a file, not inline.
    "style-src": ["'self'", "'sha256-MMpT0iDxyjALd9PdfepImGX3DBfJPXZ4IlDWdPAgtn0='"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
CONTENT_SECURITY_POLICY_REPORT_ONLY = env_bool("CSP_REPORT_ONLY", False)

# Static files: WhiteNoise serves STATIC_ROOT (filled by collectstatic) with
# far-future cache headers for the hashed names. STATIC_MANIFEST=false keeps
# plain names (tests and the development server, where nothing is collected).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("STATIC_MANIFEST", _SECURE)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Passwords: Argon2 first; older hashes still verify and are re-hashed with
# Argon2 at the user's next log-in.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

# Brute-force lockout (users.lockout) for every authenticate() call.
AUTHENTICATION_BACKENDS = ["users.lockout.LockoutBackend"]
LOCKOUT_MAX_FAILURES = env_int("LOCKOUT_MAX_FAILURES", 5, minimum=1)
LOCKOUT_SECONDS = env_int("LOCKOUT_SECONDS", 900, minimum=1)
# How many reverse proxies in front append to X-Forwarded-For; 0 trusts none
# and uses the socket's address (project.clientaddr).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)

# Request size limits; API requests over them get a JSON 413.
API_PATH_PREFIX = "/api/"
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440, minimum=1024)
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", DATA_UPLOAD_MAX_MEMORY_SIZE, minimum=1024)

# SQLite's WAL-reset bug (project.checks): set true only after reading the README's section on it.
SQLITE_WAL_RESET_RISK_ACCEPTED = env_bool("SQLITE_WAL_RESET_RISK_ACCEPTED", False)

# Logs: one line per request from project.request, every line with its request id.
LOGGING["filters"] = {"request_id": {"()": "project.middleware.RequestIdFilter"}}
LOGGING["formatters"]["plain"]["format"] = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
LOGGING["handlers"]["stdout"]["filters"] = ["request_id"]
# 4xx answers are already in the request line; keep django.request for 5xx tracebacks.
LOGGING["loggers"] = {"django.request": {"level": "ERROR"}}
# --- Public pages ------------------------------------------------------------
# Site CSS lives in the top-level static/ folder (no CDN: the site works offline).
STATICFILES_DIRS = [BASE_DIR / "static"]
LOGIN_URL = "users:login"
LOGIN_REDIRECT_URL = "posts:home"
# The site's log-out goes home (users/urls.py); the admin's keeps its own "Logged out" page.

# --- Database engines (PostgreSQL, MariaDB/MySQL) ---------------------------
# Django cannot build the LOWER(username)/LOWER(email) unique constraints on
# MariaDB (check models.W044); users migration 0002 enforces the same rule
# there through the columns' case-insensitive collation, so the warning is
# answered, not ignored.
if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    SILENCED_SYSTEM_CHECKS = [*globals().get("SILENCED_SYSTEM_CHECKS", []), "models.W044"]

# --- Database connections: drivers, PostgreSQL's pool -----------------------
# (project/dbconnect.py). A DATABASE_URL whose driver is not installed stops
# here with one line naming the package, rather than Django's traceback later.
_missing_driver = missing_driver(DATABASES["default"]["ENGINE"])
if _missing_driver:
    raise ImproperlyConfigured(_missing_driver)
# Django's connection pool (psycopg_pool), PostgreSQL only; one pool per server
# process, shared by its threads. Off by default: persistent connections
# (CONN_MAX_AGE) stay the default until `make bench-pool` has measured both.
# With the pool on, CONN_MAX_AGE is set to 0, which Django's pool requires.
DATABASE_POOL = env_bool("DATABASE_POOL", False)
if DATABASE_POOL:
    _pool_min = env_int("DATABASE_POOL_MIN_SIZE", 1, minimum=0)
    use_pool(
        DATABASES["default"],
        min_size=_pool_min,
        # Each thread of a worker holds one connection during a request.
        max_size=env_int("DATABASE_POOL_MAX_SIZE", max(server_threads(), _pool_min), minimum=1),
        # A request waits this long for a free connection, then gets a 503.
        timeout=env_int("DATABASE_POOL_TIMEOUT", min(10, max(1, server_timeout() // 2)), minimum=1),
        worker_timeout=server_timeout(),
    )

# --- Full-text search of posts (posts/search.py) ----------------------------
# A search considers at most this many of the most recently added matching
# posts: the bound that keeps counts and pages cheap on a large table.
SEARCH_MAX_RESULTS = env_int("SEARCH_MAX_RESULTS", 1000, minimum=1)

# --- Database backups: dbbackup, dbrestore, listbackups, dbcleanup -----------
# Folder for backups and their manifests (created owner-only); a relative path
# is relative to the project folder.
BACKUP_DIR = Path(env_str("BACKUP_DIR", str(VAR_DIR / "backups")))
if not BACKUP_DIR.is_absolute():
    BACKUP_DIR = BASE_DIR / BACKUP_DIR
# `migrate` takes a backup first when it has migrations to apply to a database holding data.
BACKUP_BEFORE_MIGRATE = env_bool("BACKUP_BEFORE_MIGRATE", True)
# Retention for dbcleanup and dbbackup --clean: the newest N, plus the newest of each
# of the last D days, W weeks and M months.
BACKUP_KEEP_LAST = env_int("BACKUP_KEEP_LAST", 10, minimum=0)
BACKUP_KEEP_DAILY = env_int("BACKUP_KEEP_DAILY", 7, minimum=0)
BACKUP_KEEP_WEEKLY = env_int("BACKUP_KEEP_WEEKLY", 4, minimum=0)
BACKUP_KEEP_MONTHLY = env_int("BACKUP_KEEP_MONTHLY", 6, minimum=0)

# --- Continuous replication (Litestream, SQLite only; docs/replication.md) ----
# file:///absolute/folder or s3://bucket/prefix; unset, nothing replicates.
# Anything else stops start-up here, naming the variable.
REPLICA_URL = check_replica_url(env_str("REPLICA_URL", "") or "")
_replicated_engine = engine_class(DATABASES["default"]["ENGINE"])
if REPLICA_URL and _replicated_engine is not None and _replicated_engine.point_in_time_recovery:
    raise ImproperlyConfigured(
        f"REPLICA_URL replicates a SQLite database with Litestream; DATABASE_URL names "
        f"{_replicated_engine.label}. Use {_replicated_engine.point_in_time_recovery} (docs/replication.md)."
    )
# Litestream looks at the WAL and ships new changes this often: a commit is on
# the replica within two intervals (the loss window of a lost disk). 1s is
# Litestream's own default; on a store billed per request (S3 PUTs) a busy
# site sends at most one upload per interval.
REPLICA_SYNC_INTERVAL = check_duration("REPLICA_SYNC_INTERVAL", env_str("REPLICA_SYNC_INTERVAL", "1s") or "1s")
# A full snapshot this often (restores replay changes from the newest snapshot
# before the chosen time, so this bounds restore time), kept for the
# retention: the point-in-time window. 72h covers a weekend noticed on Monday.
REPLICA_SNAPSHOT_INTERVAL = check_duration(
    "REPLICA_SNAPSHOT_INTERVAL", env_str("REPLICA_SNAPSHOT_INTERVAL", "24h") or "24h"
)
REPLICA_RETENTION = check_duration("REPLICA_RETENTION", env_str("REPLICA_RETENTION", "72h") or "72h")
# dbcheck and /healthz warn when the replica's newest change is this far
# behind the database's last write: 30 sync intervals, longer than Litestream's
# retries of a passing network error, short enough for a cron check each minute.
REPLICA_MAX_LAG_SECONDS = env_int("REPLICA_MAX_LAG_SECONDS", 30, minimum=1)
# A listing of the replica that takes longer counts as "unreachable" (Litestream
# itself retries a store that does not answer for about two minutes).
REPLICA_TIMEOUT_SECONDS = env_int("REPLICA_TIMEOUT_SECONDS", 30, minimum=1)
# S3-compatible stores: the endpoint (MinIO, R2, ...; empty for AWS) and the
# region. Credentials stay in the environment (AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY), where Litestream reads them itself.
REPLICA_S3_ENDPOINT = env_str("LITESTREAM_S3_ENDPOINT", "") or ""
REPLICA_S3_REGION = env_str("AWS_REGION", env_str("AWS_DEFAULT_REGION", "")) or ""


# --- REST API ----------------------------------------------------------------
# Throttle counters and other shared state live in Django's cache, which every
# server process must share: Redis when CACHE_URL (or REDIS_URL) is set, else
# SQLite files under VAR_DIR (diskcache; atomic across processes, see project/cache.py).
CACHE_URL = env_str("CACHE_URL") or env_str("REDIS_URL") or f"file://{VAR_DIR / 'cache'}"
CACHES = {"default": cache_from_url(CACHE_URL)}


def env_rate(name: str, default: str) -> str:
    """A throttle rate such as ``120/minute``; a typo stops start-up instead of failing each request."""
    value = (env_str(name, default) or "").strip()
    count, _, period = value.partition("/")
    if not count.isdigit() or period not in {"s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"}:
        raise ImproperlyConfigured(f"{name}={value!r} is not a rate like 120/minute (per second, minute, hour or day).")
    return value


REST_FRAMEWORK.update(
    {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            # One query per request: the token joined with its user.
            "rest_framework.authentication.TokenAuthentication",
            # Session log-in, for the browsable API.
            "rest_framework.authentication.SessionAuthentication",
        ],
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
        "DEFAULT_RENDERER_CLASSES": ["project.api.ORJSONRenderer", "rest_framework.renderers.BrowsableAPIRenderer"],
        "DEFAULT_PARSER_CLASSES": [
            "project.api.ORJSONParser",
            "rest_framework.parsers.FormParser",
            "rest_framework.parsers.MultiPartParser",
        ],
        "DEFAULT_THROTTLE_CLASSES": ["project.api.AnonThrottle", "project.api.UserThrottle"],
        "DEFAULT_THROTTLE_RATES": {
            # "<count>/<second|minute|hour|day>"; one fixed window per period.
            "anon": env_rate("API_THROTTLE_ANON", "120/minute"),
            "user": env_rate("API_THROTTLE_USER", "1200/minute"),
        },
        "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
        "EXCEPTION_HANDLER": "project.api.exception_handler",
        # Throttling counts the client's address: REMOTE_ADDR, or the address that many proxies in front
        # of the server wrote into X-Forwarded-For. Unset, a client could spoof X-Forwarded-For.
        # One fact, one setting: the proxies in front are the same for the
        # throttles and for the log-in lockout (project/clientaddr.py).
        "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    }
)
# HTTP caching of API answers (project/httpcache.py): ETags and 304s always;
# rendered JSON list pages kept in the cache above for this many seconds (0:
# none), keyed by the data version that every write changes.
API_PAGE_CACHE_SECONDS = env_int("API_PAGE_CACHE_SECONDS", 300, minimum=0)
SPECTACULAR_SETTINGS = {
    "TITLE": "Posts and users API",
    "DESCRIPTION": "Posts written by users. Token or session authentication; page-number or cursor pagination.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs UI loads its JavaScript and CSS from this site's static files, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "users.api.schema_email_is_optional_in_answers",
        # Every error per operation (one error body), 304s, cache and rate-limit headers, JSON bodies only.
        "project.schema.document_errors_and_caching",
    ],
}

# --- Mail: password reset, email change (users/accounts.py) -----------------
# EMAIL_URL (project/mail.py): smtp://user:pass@host:587 (STARTTLS),
# smtps://user:pass@host:465 (implicit TLS) or console://. It sets EMAIL_BACKEND,
# EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS,
# EMAIL_USE_SSL and EMAIL_TIMEOUT. Unset: console:// with DEBUG on (`make run`
# prints the messages, reset links included, in its terminal); with DEBUG off,
# plain SMTP to localhost:25, and `check --deploy` warns (project.W002).
EMAIL_URL = env_str("EMAIL_URL") or ""
globals().update(email_from_url(EMAIL_URL or ("console://" if DEBUG else "smtp://localhost:25?starttls=false")))
# Sender of the site's messages; `check --deploy` warns while it is Django's placeholder (project.W003).
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL") or "webmaster@localhost"
# Seconds a password-reset or email-change link stays valid.
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3 * 3600, minimum=60)
