"""NanoMark settings, read from environment variables with typed defaults.

With nothing set: SQLite and media under ``var/``, the django-q2 ORM broker,
DEBUG off, the CPU, and a secret key generated once into ``var/secret_key``.
``DATABASE_URL`` selects PostgreSQL (psycopg 3), ``REDIS_URL`` a Redis broker,
``NANOMARK_S3_BUCKET`` an S3 bucket for media, ``NANOMARK_HTTPS=1`` the
HTTPS-only production hardening. All variables are documented in
``docker/.env.example``.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from nanomark.envvars import envbool, envfloat, envint, envlist, envpath, envstr
from nanomark.objectstorage import media_storage
from nanomark.secretkey import load_or_create_secret_key

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = envpath("NANOMARK_VAR_DIR", BASE_DIR / "var")

SECRET_KEY = envstr("DJANGO_SECRET_KEY") or load_or_create_secret_key(VAR_DIR / "secret_key")
DEBUG = envbool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "nanomark.accounts",
    "nanomark.workers",
    "nanomark.samples",
    "nanomark.imaging",
    "nanomark.registry",
    "nanomark.results",
    "nanomark.search",
    "nanomark.computations",
    "nanomark.exports",
    "nanomark.api",
    "nanomark.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the body (CSRF reads POST): oversized uploads are refused unread.
    "nanomark.uploadlimits.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "nanomark.urls"
WSGI_APPLICATION = "nanomark.wsgi.application"

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
                "nanomark.accounts.labcontext.lab_context",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------
DATABASE_URL = envstr("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "nanomark.sqlite3"}
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # The web server and the ORM-broker worker write at the same time:
            # WAL lets readers proceed, IMMEDIATE transactions avoid upgrade deadlocks.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
    # A file, not memory: tests start real worker processes against it (and are told
    # its name); one per test process, so that parallel test runs do not collide.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-nanomark-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = envstr("NANOMARK_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- files --------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Media on the filesystem (a local folder, or an NFS mount shared by every host) unless
# NANOMARK_S3_BUCKET names an S3 bucket (nanomark.objectstorage).
MEDIA_ROOT = envpath("NANOMARK_MEDIA_ROOT", VAR_DIR / "media")
# Media is never served as public files: every image goes through a lab-scoped view.
MEDIA_URL = "/media-not-public/"
STORAGES = {
    "default": media_storage(),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Larger files stream to temporary files, stopped at NANOMARK_MAX_UPLOAD_BYTES.
FILE_UPLOAD_HANDLERS = [
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "nanomark.uploadlimits.SizeLimitedUploadHandler",
]

# --- NanoMark -----------------------------------------------------------------
#: Largest image accepted, in pixels, checked from the header before decoding.
NANOMARK_MAX_IMAGE_PIXELS = envint("NANOMARK_MAX_IMAGE_PIXELS", 64_000_000)
#: Largest uploaded or imported file, in bytes.
NANOMARK_MAX_UPLOAD_BYTES = envint("NANOMARK_MAX_UPLOAD_BYTES", 512 * 1024 * 1024)
#: Largest request body (several files of one upload), in bytes, refused by its Content-Length.
NANOMARK_MAX_REQUEST_BYTES = envint("NANOMARK_MAX_REQUEST_BYTES", 2 * NANOMARK_MAX_UPLOAD_BYTES)
#: Torch device for model work: auto (CUDA when present), cpu or cuda.
NANOMARK_DEVICE = envstr("NANOMARK_DEVICE", "auto")

# --- background work (django-q2) ----------------------------------------------
# Dependent limits default from the task timeout, so setting it alone is consistent:
# retry = timeout + 300 s, xtb = 5/6 of the timeout. Set explicitly, they must still agree.
Q_TIMEOUT_S = envint("NANOMARK_TASK_TIMEOUT_S", 1800)
#: Seconds after which an unacknowledged task (its worker died) is delivered again.
Q_RETRY_S = envint("NANOMARK_TASK_RETRY_S", Q_TIMEOUT_S + 300)
#: Wall-time limit of one xtb run in seconds (below the task timeout).
NANOMARK_XTB_TIMEOUT_S = envint("NANOMARK_XTB_TIMEOUT_S", Q_TIMEOUT_S * 5 // 6)
#: Seconds a run's lease lasts without renewal; workers renew it every quarter of that,
#: and a run whose lease lapsed (its worker died) is queued again (nanomark.runs).
NANOMARK_LEASE_S = envint("NANOMARK_LEASE_S", 40)
if NANOMARK_LEASE_S < 8:
    raise ImproperlyConfigured("NANOMARK_LEASE_S must be at least 8 seconds")
if Q_RETRY_S <= Q_TIMEOUT_S:
    raise ImproperlyConfigured(
        "NANOMARK_TASK_RETRY_S must exceed NANOMARK_TASK_TIMEOUT_S, "
        "or a slow task would be delivered twice at once"
    )
Q_CLUSTER = {
    "name": "nanomark",
    "workers": envint("NANOMARK_WORKERS", 2),
    "timeout": Q_TIMEOUT_S,
    # django-q2 redelivers a task after `retry` seconds: it must exceed `timeout`,
    # or a slow task would run twice at once.
    "retry": Q_RETRY_S,
    # Prefetch no more than the cluster can start: a task waiting in a dead cluster's
    # memory is recovered only when its lease lapses (nanomark.workers.broker).
    "queue_limit": envint("NANOMARK_WORKERS", 2),
    "bulk": 1,
    # Failures and attempts are the run records' business (nanomark.runs): acknowledge
    # every task, so django-q2's own max_attempts never applies.
    "ack_failures": True,
    "catch_up": False,
    "label": "Background tasks",
}
if NANOMARK_XTB_TIMEOUT_S >= Q_TIMEOUT_S:
    raise ImproperlyConfigured(
        "NANOMARK_XTB_TIMEOUT_S must be below NANOMARK_TASK_TIMEOUT_S, "
        "so that a stuck xtb run is stopped before its task is redelivered"
    )
#: A search index is measured again and rebuilt once its collection has grown this many
#: times past the size it was measured at (nanomark.search.models.SearchIndex.retune_size).
NANOMARK_SEARCH_RETUNE_GROWTH = envfloat("NANOMARK_SEARCH_RETUNE_GROWTH", 2.0)
if NANOMARK_SEARCH_RETUNE_GROWTH <= 1:
    raise ImproperlyConfigured("NANOMARK_SEARCH_RETUNE_GROWTH must be above 1")
#: django-q2 cluster for model work (training, analysis); empty = the default cluster.
#: Set it to "gpu" where a worker runs with Q_CLUSTER_NAME=gpu (docker-compose's gpu-worker).
NANOMARK_GPU_CLUSTER = envstr("NANOMARK_GPU_CLUSTER") or None
Q_CLUSTER["ALT_CLUSTERS"] = {
    # One worker per GPU; models are loaded inside the worker process, after the fork.
    "gpu": {"workers": envint("NANOMARK_GPU_WORKERS", 1)},
}
REDIS_URL = envstr("REDIS_URL")
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
    Q_CLUSTER["broker_class"] = "nanomark.workers.broker.LeasingRedis"
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["broker_class"] = "nanomark.workers.broker.LeasingORM"

# --- REST API (Django REST Framework) -------------------------------------------
REST_FRAMEWORK = {
    # Token first: an anonymous API client gets 401 with a WWW-Authenticate header.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    # DRF's, but JSON holding NUL (which PostgreSQL cannot store) is a 400.
    "DEFAULT_PARSER_CLASSES": [
        "nanomark.nulchars.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "nanomark.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # drf-spectacular's, with the error responses every view can give.
    "DEFAULT_SCHEMA_CLASS": "nanomark.api.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "NanoMark API",
    "VERSION": "1.0.0",
    "DESCRIPTION": (
        "Samples, SEM images, annotations, analyses, model versions, computations, "
        "similar-material search and exports of the labs you belong to. "
        "Authenticate with a token (POST /api/auth/token/, then the header "
        "`Authorization: Token <key>`) or the web session."
    ),
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Separate request and response components, so uploads are described as multipart files.
    "COMPONENT_SPLIT_REQUEST": True,
    # One schema name per choice set (fields of different models share "kind" and "task").
    "ENUM_NAME_OVERRIDES": {
        "MaterialKindEnum": "nanomark.samples.choices.MaterialKind",
        "SynthesisKindEnum": "nanomark.samples.choices.SynthesisKind",
        "ModelTaskEnum": "nanomark.registry.choices.ModelTask",
        "XtbTaskEnum": "nanomark.computations.choices.XtbTaskKind",
        "PixelSizeSourceEnum": "nanomark.imaging.choices.PixelSizeSource",
    },
    # Swagger UI and ReDoc from drf-spectacular-sidecar's static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- security -------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
if envbool("NANOMARK_HTTPS", False):
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("NANOMARK_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # The preload directive only allows a later, manual submission to the browsers' list.
    SECURE_HSTS_PRELOAD = envbool("NANOMARK_HSTS_PRELOAD", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"refusals_in_one_line": {"()": "nanomark.logfilters.RefusalsInOneLine"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["refusals_in_one_line"],
        }
    },
    "root": {"handlers": ["console"], "level": envstr("NANOMARK_LOG_LEVEL", "INFO")},
    # FAISS logs which CPU build it loads on every import.
    "loggers": {"faiss.loader": {"level": "WARNING"}},
}
