"""Django settings. Every value that differs between machines comes from the
environment (see ``.env.example`` and the README's table); a bad value stops
start-up with a message that names the variable."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from project.cache import cache_from_url
from project.db import database_from_url
from project.env import env_bool, env_choice, env_int, env_list, env_str, load_env_file

BASE_DIR = Path(__file__).resolve().parent.parent
# A local .env (see .env.example) fills in variables the environment lacks.
load_env_file(env_str("ENV_FILE", str(BASE_DIR / ".env")))
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
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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

# --- Public pages ------------------------------------------------------------
# Site CSS lives in the top-level static/ folder (no CDN: the site works offline).
STATICFILES_DIRS = [BASE_DIR / "static"]
LOGIN_URL = "users:login"
LOGIN_REDIRECT_URL = "posts:home"
LOGOUT_REDIRECT_URL = "posts:home"

# --- Database engines (PostgreSQL, MariaDB/MySQL) ---------------------------
# Django cannot build the LOWER(username)/LOWER(email) unique constraints on
# MariaDB (check models.W044); users migration 0002 enforces the same rule
# there through the columns' case-insensitive collation, so the warning is
# answered, not ignored.
if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    SILENCED_SYSTEM_CHECKS = [*globals().get("SILENCED_SYSTEM_CHECKS", []), "models.W044"]

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


# --- REST API ----------------------------------------------------------------
# Throttle counters and other shared state live in Django's cache, which every
# server process must share: Redis when CACHE_URL (or REDIS_URL) is set, else a
# file-based cache under VAR_DIR that needs nothing but Python.
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
            # DRF's TokenAuthentication, its one query written as SQL once (project/api.py).
            "project.api.TokenAuthentication",
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
        "NUM_PROXIES": env_int("API_NUM_PROXIES", 0, minimum=0),
    }
)
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
    ],
}
