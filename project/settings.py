"""Django settings, grouped by topic; each setting is defined once, here.

Every value that differs between machines comes from the environment (see
``.env.example``); a bad value stops start-up with a message that names the
variable (``project/env.py``). Importing this module reads the environment
and nothing else: it creates no folder and opens no file or connection. The
folders under ``VAR_DIR`` are made by the code that first writes into them
(the SQLite backend for the default database, the cache store, backups).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import global_settings
from django.core.exceptions import ImproperlyConfigured

from dbtools.engines import engine_class
from dbtools.replication import check_duration
from dbtools.replication import check_url as check_replica_url
from project.cache import cache_from_url
from project.db import database_from_url
from project.dbconnect import missing_driver, use_pool
from project.env import env_bool, env_bytes, env_choice, env_int, env_list, env_rate, env_str, load_project_env
from project.mail import email_from_url
from project.serving import server_threads, server_timeout

# --- Paths and the environment ------------------------------------------------
BASE_DIR = Path(__file__).resolve().parent.parent
# A local .env (see .env.example) fills in variables the environment lacks.
load_project_env(BASE_DIR)
# The project's own files (the default database, cache, backups); created when first written.
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

# --- Core -----------------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)
# Everything in "Security" below is on when DEBUG is off.
_SECURE = not DEBUG

_secret_key = env_str("SECRET_KEY")
if not _secret_key and not DEBUG:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set it in the environment (for example: "
        "export SECRET_KEY=\"$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')\"), "
        "or set DEBUG=true for local development only."
    )
# Development only: never used with DEBUG off.
SECRET_KEY = _secret_key or "django-insecure-development-only-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- Applications and the request path -----------------------------------------
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
    # django-csp: its system checks and the {% csp_nonce %} template tag.
    "csp",
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
    # The Content-Security-Policy header (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
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

# --- Database -------------------------------------------------------------------
# A SQLite file under VAR_DIR unless DATABASE_URL says otherwise (the SQLite
# backend creates that folder when it first connects; a folder named in
# DATABASE_URL must exist). sqlite:///relative/path is relative to the project
# folder; sqlite:////abs/path is absolute.
DATABASE_URL = env_str("DATABASE_URL") or ""
DATABASES = {
    "default": database_from_url(
        DATABASE_URL or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        base_dir=BASE_DIR,
        # Persistent connections, checked before reuse (CONN_HEALTH_CHECKS).
        conn_max_age=env_int("CONN_MAX_AGE", 600, minimum=0),
        create_folder=not DATABASE_URL,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# A DATABASE_URL whose driver is not installed stops here with one line naming
# the package (project/dbconnect.py), rather than Django's traceback later.
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
# Django cannot build the LOWER(username)/LOWER(email) unique constraints on
# MariaDB (check models.W044); users migration 0002 enforces the same rule
# there through the columns' case-insensitive collation, so the warning is
# answered, not ignored.
SILENCED_SYSTEM_CHECKS = ["models.W044"] if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql" else []
# SQLite's WAL-reset bug (project.checks): set true only after reading the documentation's section on it.
SQLITE_WAL_RESET_RISK_ACCEPTED = env_bool("SQLITE_WAL_RESET_RISK_ACCEPTED", False)

# --- Cache ----------------------------------------------------------------------
# Throttle counters, API pages and other shared state live in Django's cache,
# which every server process must share: Redis when CACHE_URL (or REDIS_URL)
# is set, else SQLite files under VAR_DIR (diskcache; atomic across processes,
# see project/cache.py).
CACHE_URL = env_str("CACHE_URL") or env_str("REDIS_URL") or f"file://{VAR_DIR / 'cache'}"
CACHES = {"default": cache_from_url(CACHE_URL)}

# --- Users, log-in and passwords ------------------------------------------------
AUTH_USER_MODEL = "users.User"
# Brute-force lockout (users.lockout) for every authenticate() call.
AUTHENTICATION_BACKENDS = ["users.lockout.LockoutBackend"]
LOCKOUT_MAX_FAILURES = env_int("LOCKOUT_MAX_FAILURES", 5, minimum=1)
LOCKOUT_SECONDS = env_int("LOCKOUT_SECONDS", 900, minimum=1)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Argon2 first; older hashes still verify and are re-hashed with Argon2 at the user's next log-in.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# Seconds a password-reset or email-change link stays valid.
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3 * 3600, minimum=60)
LOGIN_URL = "users:login"
LOGIN_REDIRECT_URL = "posts:home"
# The site's log-out goes home (users/urls.py); the admin's keeps its own "Logged out" page.

# --- Client address -------------------------------------------------------------
# How many reverse proxies in front append to X-Forwarded-For; 0 trusts none
# and uses the socket's address (project.clientaddr). One fact, one setting, one
# rule: the lockout, the request log and the API throttles all ask project.clientaddr
# (NUM_PROXIES below says the same to DRF, for anything of DRF's that reads it).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)

# --- Security -------------------------------------------------------------------
# `manage.py check --deploy --fail-level WARNING` is clean with these values.
# HTTPS. Behind a proxy that terminates TLS, set TLS_PROXY=true so the
# proxy's X-Forwarded-Proto tells Django the request was HTTPS (otherwise the
# redirect below loops). Only do that when the proxy overwrites that header.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("TLS_PROXY", False) else None
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

# Content-Security-Policy, sent by django-csp (csp.middleware.CSPMiddleware).
# The shape is the one Django 6 adopted for SECURE_CSP, so moving to Django's
# own middleware is a rename. Everything is served by this site, nothing
# inline. A view that needs more decorates itself with
# csp.decorators.csp_update({"img-src": ["https://images.example"]}); an inline
# <script> would carry nonce="{{ request.csp_nonce }}" and csp.constants.NONCE
# would join script-src. CSP_REPORT_ONLY=true sends the same policy as
# Content-Security-Policy-Report-Only instead: reported, not enforced.
_CSP_POLICY = {
    "DIRECTIVES": {
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
}
_CSP_REPORT_ONLY = env_bool("CSP_REPORT_ONLY", False)
CONTENT_SECURITY_POLICY = None if _CSP_REPORT_ONLY else _CSP_POLICY
CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP_POLICY if _CSP_REPORT_ONLY else None

# --- Request size limits ----------------------------------------------------------
# Requests under API_PATH_PREFIX over a limit get a JSON 413 or 400.
API_PATH_PREFIX = "/api/"
# Form bodies of the site's pages and the admin (Django's own limit).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_bytes("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440, minimum=1024)
# The one limit of an API request body, JSON parser included (project.api.ORJSONParser);
# e.g. API_MAX_BODY_BYTES=5MB.
API_MAX_BODY_BYTES = env_bytes("API_MAX_BODY_BYTES", DATA_UPLOAD_MAX_MEMORY_SIZE, minimum=1024)

# --- REST API ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_PAGINATION_CLASS": "project.api.PageOrCursorPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's, with its one query (the token joined with its user) written in SQL (users/authentication.py).
        "users.authentication.TokenAuthentication",
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
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}
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

# --- Full-text search of posts (posts/search/) -------------------------------------
# A search considers at most this many of the most recently added matching
# posts: the bound that keeps counts and pages cheap on a large table.
SEARCH_MAX_RESULTS = env_int("SEARCH_MAX_RESULTS", 1000, minimum=1)

# --- Static files and templates' language ------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Site CSS lives in the top-level static/ folder (no CDN: the site works offline).
STATICFILES_DIRS = [BASE_DIR / "static"]
# WhiteNoise serves STATIC_ROOT (filled by collectstatic) with far-future
# cache headers for the hashed names. STATIC_MANIFEST=false keeps plain names
# (tests and the development server, where nothing is collected).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("STATIC_MANIFEST", _SECURE)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Database backups: dbbackup, dbrestore, listbackups, dbcleanup -----------------
# Folder for backups and their manifests (created owner-only by the first
# backup); a relative path is relative to the project folder.
_backup_dir = Path(env_str("BACKUP_DIR", str(VAR_DIR / "backups")))
BACKUP_DIR = _backup_dir if _backup_dir.is_absolute() else BASE_DIR / _backup_dir
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

# --- Mail: password reset, email change (users/accounts.py) ------------------------
# EMAIL_URL (project/mail.py): smtp://user:pass@host:587 (STARTTLS),
# smtps://user:pass@host:465 (implicit TLS) or console://. Unset: console://
# with DEBUG on (`make run` prints the messages, reset links included, in its
# terminal); with DEBUG off, plain SMTP to localhost:25, and `check --deploy`
# warns (project.W002). A console URL leaves the SMTP settings at Django's defaults.
EMAIL_URL = env_str("EMAIL_URL") or ""
_mail = email_from_url(EMAIL_URL or ("console://" if DEBUG else "smtp://localhost:25?starttls=false"))
EMAIL_BACKEND = _mail["EMAIL_BACKEND"]
EMAIL_HOST = _mail.get("EMAIL_HOST", global_settings.EMAIL_HOST)
EMAIL_PORT = _mail.get("EMAIL_PORT", global_settings.EMAIL_PORT)
EMAIL_HOST_USER = _mail.get("EMAIL_HOST_USER", global_settings.EMAIL_HOST_USER)
EMAIL_HOST_PASSWORD = _mail.get("EMAIL_HOST_PASSWORD", global_settings.EMAIL_HOST_PASSWORD)
EMAIL_USE_TLS = _mail.get("EMAIL_USE_TLS", global_settings.EMAIL_USE_TLS)
EMAIL_USE_SSL = _mail.get("EMAIL_USE_SSL", global_settings.EMAIL_USE_SSL)
EMAIL_TIMEOUT = _mail.get("EMAIL_TIMEOUT", global_settings.EMAIL_TIMEOUT)
# Sender of the site's messages; `check --deploy` warns while it is Django's placeholder (project.W003).
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL") or "webmaster@localhost"

# --- Logging ----------------------------------------------------------------------
# One line per request from project.request, every line with its request id.
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "project.middleware.RequestIdFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    # 4xx answers are already in the request line; keep django.request for 5xx tracebacks.
    "loggers": {"django.request": {"level": "ERROR"}},
}
