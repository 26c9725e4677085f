"""Settings shared by every environment.

Every value that differs between deployments comes from the environment (django-environ); the
README lists them all. Sections follow cookiecutter-django; each links to the upstream reference.
"""

from pathlib import Path

import environ
from celery.schedules import crontab

# PATHS
# ------------------------------------------------------------------------------
BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("TOKENLEDGER_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

# GENERAL
# ------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#debug
DEBUG = env.bool("DJANGO_DEBUG", default=False)
# https://docs.djangoproject.com/en/5.2/ref/settings/#secret-key
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
# https://docs.djangoproject.com/en/5.2/ref/settings/#allowed-hosts
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
# All datetimes are timezone-aware UTC (DESIGN.md: Time).
TIME_ZONE = "UTC"
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = True
LOCALE_PATHS = [BASE_DIR / "locale"]

# DATABASES
# ------------------------------------------------------------------------------
# PostgreSQL only: never SQLite, which stores decimals as floats.
# https://docs.djangoproject.com/en/5.2/ref/settings/#databases
DATABASES = {"default": env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/tokenledger")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5))
# A second connection to the same database, in autocommit, for progress that must be visible
# while a long run works inside its own transaction (usage.services.progress).
DATABASES["progress"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
# https://docs.djangoproject.com/en/5.2/ref/settings/#std-setting-DEFAULT_AUTO_FIELD
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# CACHES
# ------------------------------------------------------------------------------
# Shared by all web processes (login throttling and API throttling count across them).
# https://docs.djangoproject.com/en/5.2/ref/settings/#caches
CACHES = {"default": env.cache_url("CACHE_URL", default="dbcache://tokenledger_cache")}

# URLS
# ------------------------------------------------------------------------------
ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

# APPS
# ------------------------------------------------------------------------------
DJANGO_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django.forms",
]
THIRD_PARTY_APPS = [
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tables2",
    "django_htmx",
    "django_celery_beat",
    "simple_history",
    "csp",
]
# Bottom layer first; an app imports only apps listed before it (DESIGN.md: Architecture).
LOCAL_APPS = [
    "core",
    "accounts",
    "procurement",
    "contracts",
    "usage",
    "billing",
    "insights",
]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS

# AUTHENTICATION
# ------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#authentication-backends
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "insights:dashboard"

# PASSWORDS
# ------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#password-hashers
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# MIDDLEWARE
# ------------------------------------------------------------------------------
MIDDLEWARE = [
    # first: counts every answer, the other middlewares' included (GET /metrics)
    "core.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.RejectNulCharactersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.MFAEnforcementMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

# STATIC
# ------------------------------------------------------------------------------
# Front-end libraries come from npm (package.json) and are served straight out of node_modules.
# https://docs.djangoproject.com/en/5.2/ref/settings/#static-files
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/tabler", NODE_MODULES / "@tabler/core/dist"),
    ("vendor/tabler-icons", NODE_MODULES / "@tabler/icons-sprite/dist"),
    ("vendor/htmx", NODE_MODULES / "htmx.org/dist"),
    ("vendor/chartjs", NODE_MODULES / "chart.js/dist"),
]
# Uploaded and generated files (signed contracts, feeds, PDFs): in PostgreSQL by default so
# every machine shares them; FILE_STORAGE=s3 uses an S3-compatible store (django-storages).
FILE_STORAGE = env.str("FILE_STORAGE", default="database")
_FILE_BACKENDS = {
    "database": {"BACKEND": "core.storage.DatabaseStorage"},
    "filesystem": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "s3": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("AWS_STORAGE_BUCKET_NAME", default=""),
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default=None),
            "access_key": env.str("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default=None),
            "region_name": env.str("AWS_S3_REGION_NAME", default=None),
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    },
}
STORAGES = {
    "default": _FILE_BACKENDS[FILE_STORAGE],
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# MEDIA
# ------------------------------------------------------------------------------
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"

# TEMPLATES
# ------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#templates
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.shell",
            ],
        },
    }
]
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"
DJANGO_TABLES2_TEMPLATE = "core/tables/table.html"
DJANGO_TABLES2_TABLE_ATTRS = {"class": "table table-vcenter card-table table-striped"}

# SECURITY
# ------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#security
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
CSRF_COOKIE_HTTPONLY = True  # htmx sends the token from the page (hx-headers), never from the cookie
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp 4): nothing is loaded from outside this site.
# https://django-csp.readthedocs.io/en/latest/configuration.html
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# Secrets stored in the database (a source's vendor API key) are encrypted with these Fernet
# keys: the first encrypts, all decrypt (rotation). Unset: one key derived from SECRET_KEY (core.crypto).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
# Biggest request body Django reads into memory for forms; usage uploads are streamed to files.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=64 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# EMAIL
# ------------------------------------------------------------------------------
# EMAIL_URL: smtp://user:pass@host:587 (smtp+tls://, smtps://), filemail:///var/mail, consolemail://
# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-email-url
_email = env.email_url("EMAIL_URL", default="smtp://127.0.0.1:25")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST") or "127.0.0.1"
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
if _email.get("EMAIL_FILE_PATH") is not None:
    # filemail:///var/mail means <project>/var/mail; filemail:////srv/mail is absolute.
    EMAIL_FILE_PATH = str(BASE_DIR / _email["EMAIL_FILE_PATH"])
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="TokenLedger <tokenledger@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_SUBJECT_PREFIX = "[TokenLedger] "
EMAIL_TIMEOUT = 10

# LOGGING
# ------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"level": LOG_LEVEL, "handlers": ["console"]},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "celery": {"level": LOG_LEVEL},
    },
}

# CELERY
# ------------------------------------------------------------------------------
# Late acknowledgement and idempotent tasks from day one: a task that dies with its worker runs again.
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A task whose worker died unacknowledged goes back to the queue this long after delivery
    # (Redis). Keep it above the longest task: a run still working when it expires gets a second
    # delivery, which does nothing (core.jobs holds a lock per run), but wastes a worker slot.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    # How often workers look for such messages (every interval × throttle seconds; kombu's
    # defaults are 10 and 10). Tests lower both to see a redelivery within seconds.
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # A broker that needs no server: messages are files under var/celery (the run command's default).
    _celery_dir = VAR_DIR / "celery"
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        {
            "data_folder_in": str(_celery_dir / "queue"),
            "data_folder_out": str(_celery_dir / "queue"),
            "control_folder": str(_celery_dir / "control"),
            "store_processed": False,
        }
    )
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A request that enqueues work while the broker is down waits at most about a second before the
# work is left queued in the database for the requeue sweep (core.services.send_task).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
# Progress and results live in our own run rows (core.JobRun), not in a result backend.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=3 * 3600)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=3 * 3600 - 60)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Queued runs whose task never reached the broker (down when they were created) are sent again
# after JOB_REQUEUE_UNSENT_AFTER_SECONDS; runs sent but still queued JOB_REQUEUE_SENT_AFTER_SECONDS
# later (a message lost with a broker that restarted without persistence) are sent again too.
JOB_REQUEUE_INTERVAL_SECONDS = env.float("JOB_REQUEUE_INTERVAL_SECONDS", default=60.0)
JOB_REQUEUE_UNSENT_AFTER_SECONDS = env.float("JOB_REQUEUE_UNSENT_AFTER_SECONDS", default=10.0)
JOB_REQUEUE_SENT_AFTER_SECONDS = env.float("JOB_REQUEUE_SENT_AFTER_SECONDS", default=3600.0)
# Runs left `running` by a worker that is gone (their advisory lock free, untouched this long)
# are sent again too: a message lost while its run was running (core.services.job_runs_orphaned).
JOB_REQUEUE_RUNNING_AFTER_SECONDS = env.float("JOB_REQUEUE_RUNNING_AFTER_SECONDS", default=300.0)
# Periodic tasks: written into django-celery-beat's tables when beat starts (editable there).
CELERY_BEAT_SCHEDULE = {
    # Runs the broker never got (it was down) or lost: their tasks are sent again.
    "core-requeue-queued-runs": {
        "task": "core.requeue_queued_runs",
        "schedule": JOB_REQUEUE_INTERVAL_SECONDS,
        "options": {"expires": max(1.0, JOB_REQUEUE_INTERVAL_SECONDS - 1)},
    },
    # Scheduled pulls of vendor usage APIs: each minute, a run for every source whose pull is due.
    "usage-pull-due-sources": {
        "task": "usage.pull_due_sources",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Volume tiers are provisional until their pricing period ends: record the true-ups then.
    "usage-true-ups-due": {
        "task": "usage.true_ups_due",
        "schedule": 3600.0,
        "options": {"expires": 3500},
    },
    # Forecasts of every subject, refreshed nightly on the day's complete data (UTC).
    "insights-forecasts-nightly": {
        "task": "insights.forecasts_nightly",
        "schedule": crontab(hour=2, minute=30),
        "options": {"expires": 3 * 3600},
    },
    # Alerts: every alert type evaluated every 15 minutes (also after each ingestion run, and on demand).
    "insights-alerts-evaluate": {
        "task": "insights.alerts_evaluate",
        "schedule": 900.0,
        "options": {"expires": 840},
    },
    # SLA evaluation of the previous month (UTC) once its usage is in: the 2nd of each month.
    "billing-sla-evaluate-monthly": {
        "task": "billing.sla_evaluate",
        "schedule": crontab(day_of_month=2, hour=4, minute=0),
        "options": {"expires": 20 * 3600},
    },
    # Monthly report: each day at 06:00 UTC the task checks whether the organisation's report day
    # (Settings, monthly_report_day) has come and the previous month's packs are not sent yet.
    "insights-reports-monthly": {
        "task": "insights.reports_monthly",
        "schedule": crontab(hour=6, minute=0),
        "options": {"expires": 6 * 3600},
    },
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# DJANGO REST FRAMEWORK
# ------------------------------------------------------------------------------
# https://www.django-rest-framework.org/api-guide/settings/
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.api.permissions.PolicyPermission"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "core.api.throttling.AnonThrottle",  # DRF's, letting requests through when the cache is down
        "core.api.throttling.UserThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="60/minute"),
        "user": env.str("API_THROTTLE_USER", default="6000/minute"),
    },
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "iso-8601",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# DJANGO-FILTER
# ------------------------------------------------------------------------------
# https://django-filter.readthedocs.io/en/stable/ref/settings.html
FILTERS_EMPTY_CHOICE_LABEL = "Any"

# DRF-SPECTACULAR (OpenAPI 3)
# ------------------------------------------------------------------------------
# https://drf-spectacular.readthedocs.io/en/latest/settings.html
SPECTACULAR_SETTINGS = {
    "TITLE": "TokenLedger API",
    "DESCRIPTION": 'LLM token procurement and spend governance. Errors answer {"message", "extra"}.',
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "PREPROCESSING_HOOKS": ["core.api.schema.drop_trailing_slash_twins"],
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "core.roles.Role",
        "CurrencyEnum": "core.currencies.CURRENCY_CHOICES",
        "TokenClassEnum": "contracts.models.TokenClass",
        "RunStatusEnum": "core.models.JobRun.Status",
        "AgreementStatusEnum": "contracts.models.Agreement.Status",
        "ApprovalStatusEnum": "accounts.models.ApprovalRequest.Status",
    },
}

# DJANGO-ALLAUTH
# ------------------------------------------------------------------------------
# https://docs.allauth.org/en/latest/account/configuration.html
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"  # accounts are created by administrators, never by sign-up
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
# Login throttling (allauth counts in the shared cache): per IP and per account.
ACCOUNT_RATE_LIMITS = {
    "login": env.str("LOGIN_RATE_LIMIT", default="30/m/ip"),
    "login_failed": env.str("LOGIN_FAILED_RATE_LIMIT", default="10/m/ip,5/5m/key"),
    "reset_password": "20/m/ip,5/m/key",
}
# Behind N reverse proxies of your own, the client IP the per-IP limits count is the Nth address
# from the right of X-Forwarded-For; 0 (direct) takes REMOTE_ADDR and ignores the header, which a
# client could forge. https://docs.allauth.org/en/latest/common/configuration.html
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
ACCOUNT_DEFAULT_HTTP_PROTOCOL = env.str("ACCOUNT_DEFAULT_HTTP_PROTOCOL", default="http")
# https://docs.allauth.org/en/latest/mfa/configuration.html
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "TokenLedger"
# Roles that must enrol TOTP before using the app (also editable on the settings page).
MFA_REQUIRED_ROLES = env.list("MFA_REQUIRED_ROLES", default=[])
# Single sign-on: see README "Single sign-on". Providers exist only when configured.
SOCIALACCOUNT_ONLY = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_PROVIDERS: dict = {}
SSO_DEFAULT_ROLE = env.str("SSO_DEFAULT_ROLE", default="")
_oidc = env.json("SSO_OIDC_PROVIDERS", default=[])
if _oidc:
    INSTALLED_APPS.append("allauth.socialaccount.providers.openid_connect")
    SOCIALACCOUNT_PROVIDERS["openid_connect"] = {
        "APPS": [
            {
                "provider_id": p["id"],
                "name": p.get("name", p["id"]),
                "client_id": p["client_id"],
                "secret": p.get("secret", ""),
                "settings": {"server_url": p["server_url"], **p.get("settings", {})},
            }
            for p in _oidc
        ],
        "OAUTH_PKCE_ENABLED": True,
    }
_saml = env.json("SSO_SAML_PROVIDERS", default=[])
if _saml:
    INSTALLED_APPS.append("allauth.socialaccount.providers.saml")
    SOCIALACCOUNT_PROVIDERS["saml"] = {
        "APPS": [
            {
                "provider_id": p["id"],
                "name": p.get("name", p["id"]),
                "client_id": p["id"],
                "settings": {
                    "attribute_mapping": p.get(
                        "attribute_mapping",
                        {"uid": "uid", "email": "email", "first_name": "first_name", "last_name": "last_name"},
                    ),
                    "idp": {"entity_id": p["entity_id"], "metadata_url": p["metadata_url"]},
                    **p.get("settings", {}),
                },
            }
            for p in _saml
        ]
    }

# TOKENLEDGER
# ------------------------------------------------------------------------------
# Defaults for the organisation settings row (editable on /settings/ by administrators).
TOKENLEDGER_DEFAULT_REPORTING_CURRENCY = env.str("REPORTING_CURRENCY", default="USD")
TOKENLEDGER_DEFAULT_FISCAL_YEAR_START_MONTH = env.int("FISCAL_YEAR_START_MONTH", default=1)
# API tokens: refresh last_used_at at most this often (seconds) to keep reads write-free.
API_TOKEN_LAST_USED_RESOLUTION = env.int("API_TOKEN_LAST_USED_RESOLUTION", default=60)
API_TOKEN_DEFAULT_EXPIRY_DAYS = env.int("API_TOKEN_DEFAULT_EXPIRY_DAYS", default=365)
# Bearer tokens that fail (unknown, wrong, revoked, expired) per client IP and minute; past it the
# IP's bearer requests answer 429 until the minute is over (accounts.authentication).
API_TOKEN_FAILED_PER_MINUTE = env.int("API_TOKEN_FAILED_PER_MINUTE", default=30)
# Usage ingestion (DESIGN.md, ingestion interfaces)
USAGE_MAX_RECORDS_PER_REQUEST = env.int("USAGE_MAX_RECORDS_PER_REQUEST", default=50_000)
USAGE_MAX_BODY_BYTES = env.int("USAGE_MAX_BODY_BYTES", default=64 * 1024 * 1024)
# An uploaded usage file (POST usage/files, the upload page) larger than this is refused (413).
USAGE_UPLOAD_MAX_BYTES = env.int("USAGE_UPLOAD_MAX_BYTES", default=64 * 1024 * 1024)
USAGE_FUTURE_TOLERANCE_MINUTES = env.int("USAGE_FUTURE_TOLERANCE_MINUTES", default=10)
USAGE_FILE_CHUNK_ROWS = env.int("USAGE_FILE_CHUNK_ROWS", default=10_000)
# Scheduled pulls of vendor usage APIs (usage.pulls): per request, attempts with exponential
# back-off and jitter (Retry-After honoured, capped), a timeout, and a cap on pages per pull.
USAGE_PULL_MAX_ATTEMPTS = env.int("USAGE_PULL_MAX_ATTEMPTS", default=5)
USAGE_PULL_BACKOFF_SECONDS = env.float("USAGE_PULL_BACKOFF_SECONDS", default=2.0)
USAGE_PULL_TIMEOUT_SECONDS = env.float("USAGE_PULL_TIMEOUT_SECONDS", default=30.0)
USAGE_PULL_MAX_PAGES = env.int("USAGE_PULL_MAX_PAGES", default=200)

# METRICS (GET /metrics, core.metrics)
# ------------------------------------------------------------------------------
# Prometheus text format for these addresses or networks (the connection's own address, never a
# forwarded header), or for `Authorization: Bearer <METRICS_TOKEN>` (empty: no token accepted).
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# The shared state (job runs, ingested rows, queue depth) is read at most once per this many
# seconds across all web processes (kept in the shared cache); 0 reads it on every scrape.
METRICS_CACHE_SECONDS = env.int("METRICS_CACHE_SECONDS", default=15)

# BILLING
# ------------------------------------------------------------------------------
# Vendor reconciliation (billing.services.reconciliation): a vendor-month whose variance is within
# this percentage of the expected charges is "matched" (a decimal number, e.g. 0.5).
RECONCILIATION_TOLERANCE_PERCENT = env.str("RECONCILIATION_TOLERANCE_PERCENT", default="1")
# The month-end GL journal (billing.gl_export): account codes where no GL account row applies.
GL_EXPENSE_ACCOUNT = env.str("GL_EXPENSE_ACCOUNT", default="6000")
GL_ACCRUAL_ACCOUNT = env.str("GL_ACCRUAL_ACCOUNT", default="2100")
# Vendor invoice documents (PDF, images, XML/OFD e-invoices): the largest accepted upload.
VENDOR_INVOICE_DOCUMENT_MAX_BYTES = env.int("VENDOR_INVOICE_DOCUMENT_MAX_BYTES", default=20 * 1024 * 1024)
# Names of the reconciliation and vendor invoice status choices in the OpenAPI schema.
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {
        "ReconciliationStatusEnum": "billing.models.Reconciliation.Status",
        "InvoiceStatusEnum": "billing.models.Invoice.Status",
        "InvoiceKindEnum": "billing.models.Invoice.Kind",
        "InvoiceLineKindEnum": "billing.models.InvoiceLine.Kind",
        "VendorInvoiceStatusEnum": "billing.models.VendorInvoice.Status",
        "SlaCreditStatusEnum": "billing.models.SlaCredit.Status",
        "ReportScopeEnum": "insights.models.MonthlyReport.Scope",
        "ReportTriggerEnum": "insights.models.MonthlyReport.Trigger",
    }
)

# ALERTS (insights.alerts, README "Alerts")
# ------------------------------------------------------------------------------
# The address people reach TokenLedger at: links in alert emails and webhooks start with it.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
# Vendor concentration: a vendor above this share (percent) of the last 30 days' spend raises an alert.
ALERT_CONCENTRATION_PERCENT = env.str("ALERT_CONCENTRATION_PERCENT", default="80")
# Usage anomaly: |robust z-score| of yesterday's cost or tokens per department beyond this.
ALERT_ANOMALY_Z = env.str("ALERT_ANOMALY_Z", default="3.5")
# Compliance and FX: how many days of usage are looked at.
ALERT_COMPLIANCE_LOOKBACK_DAYS = env.int("ALERT_COMPLIANCE_LOOKBACK_DAYS", default=7)
ALERT_FX_LOOKBACK_DAYS = env.int("ALERT_FX_LOOKBACK_DAYS", default=7)
# Email and webhook deliveries: attempts, the first back-off (doubling each time) and the webhook timeout.
ALERT_DELIVERY_MAX_ATTEMPTS = env.int("ALERT_DELIVERY_MAX_ATTEMPTS", default=5)
ALERT_DELIVERY_BACKOFF_SECONDS = env.float("ALERT_DELIVERY_BACKOFF_SECONDS", default=30.0)
ALERT_WEBHOOK_TIMEOUT_SECONDS = env.float("ALERT_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Evaluate after each ingestion run, at most once per this many seconds (a burst of batches).
ALERTS_EVALUATE_AFTER_INGESTION = env.bool("ALERTS_EVALUATE_AFTER_INGESTION", default=True)
ALERTS_EVALUATE_DEBOUNCE_SECONDS = env.int("ALERTS_EVALUATE_DEBOUNCE_SECONDS", default=60)
# Names of the alert choice sets in the OpenAPI schema (each is used by several fields).
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {
        "AlertTypeEnum": "insights.models.Alert.Type",
        "AlertSeverityEnum": "insights.models.Alert.Severity",
        "AlertStatusEnum": "insights.models.Alert.Status",
        "AlertChannelEnum": "insights.models.AlertRule.Channel",
        "AlertDeliveryStatusEnum": "insights.models.AlertDelivery.Status",
    }
)
