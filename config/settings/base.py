"""Settings shared by every environment, read from the environment (12-factor).

With no variable set this is the embedded default: SQLite in the project folder, an
in-memory channel layer, a local-memory cache and Celery tasks run eagerly in-process.
Setting ``DATABASE_URL`` and ``REDIS_URL`` switches to PostgreSQL and Redis.
"""

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

# --- Core -------------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "crm",
    "contacts",
    "conversations",
    "integrations",
    "console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves the API docs' assets from any web process, without a separate file server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"
AUTH_USER_MODEL = "crm.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Without collectstatic (development, tests) WhiteNoise finds files through the finders.
WHITENOISE_USE_FINDERS = True

# Webhook bodies of up to 3 MB are legitimate (WhatsApp documents that size); anything larger
# is refused with 413 before it is read into memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=4 * 1024 * 1024)

# --- Database ---------------------------------------------------------------------------

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'causerie.sqlite3'}"),
}
DATABASE_IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
if DATABASE_IS_POSTGRES:
    # psycopg's pool keeps a bounded set of connections per process. Under ASGI, persistent
    # connections (CONN_MAX_AGE) open one connection per worker thread and exhaust
    # PostgreSQL's max_connections under load; the pool does not.
    if env.bool("DATABASE_POOL", default=True):
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
            "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
            "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
        }
else:
    # SQLite: wait for the write lock instead of failing at once when two requests write.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20

# --- Redis: cache, channel layer, Celery broker -----------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "crm.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "causerie",
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": "causerie"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
# With no broker, the embedded default runs every task in-process as it is queued.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
# Without a broker, run queued tasks in background threads rather than inline (see
# crm.tasks.task_enqueue); the test settings run them inline for determinism.
CAUSERIE_EAGER_TASKS_IN_THREADS = env.bool("CAUSERIE_EAGER_TASKS_IN_THREADS", default=True)
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
# A task that runs longer than this is stuck on an external call: every outbound request has
# its own shorter timeout, so the soft limit only catches bugs.
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 150
# Tasks are idempotent and acknowledged after they finish (acks_late), given back when
# their worker process dies (reject_on_worker_lost), and reserved one at a time, so a killed
# worker holds back only what it was running. Redis redelivers an unacknowledged task after
# the visibility timeout (Celery's default: one hour); it must exceed the hard time limit,
# or a task still running would be handed to a second worker. Recovery within seconds does
# not wait for it: beat's sweeps below re-queue pending inbound events (5 s) and replies
# whose send task was lost (10 s). README, "When processes and servers die".
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=180),
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Outbound webhooks have a queue of their own: a backlog of slow endpoints never delays
# inbound events or replies. Workers serve it with ``-Q celery,webhooks`` (see README).
# Replies have theirs too, served by a worker of threads (``-Q outbound -P threads``): a
# send mostly waits (for its rate-limit slot, the platform, the database), and a waiting
# thread does not hold a whole process, while ingest keeps the processes of the default
# queue for its CPU-bound batches.
CELERY_TASK_ROUTES = {
    "crm.*webhook*": {"queue": "webhooks"},
    "integrations.send_reply": {"queue": "outbound"},
}
CELERY_BEAT_SCHEDULE: dict = {
    # Webhook retries that are due, and subscriptions behind the event log, every 5 s.
    "webhooks-sweep": {"task": "crm.sweep_webhooks", "schedule": 5.0},
    # Snoozed conversations reopen within a minute of their time (https://crontab.guru/#*_*_*_*_*).
    "conversations-wake-snoozed": {
        "task": "conversations.wake_snoozed_conversations",
        "schedule": 60.0,
    },
    # Queued conversations go to members who became available (https://crontab.guru/#*_*_*_*_*).
    "conversations-assign-queued": {
        "task": "conversations.assign_queued_conversations",
        "schedule": 60.0,
    },
    # Replies whose send was interrupted by a dying worker are failed, never resent.
    "integrations-sweep-stale-sends": {
        "task": "integrations.sweep_stale_sends",
        "schedule": 60.0,
    },
    # Replies still queued whose send task was lost with a killed worker or a broker
    # restarted empty are queued again within seconds (see outbound_queued_sweep).
    "integrations-sweep-queued-sends": {
        "task": "integrations.sweep_queued_sends",
        "schedule": 10.0,
    },
    # Polling platforms (Telegram without a webhook, YouTube comments).
    "integrations-poll-brand-accounts": {
        "task": "integrations.poll_brand_accounts",
        "schedule": 10.0,
    },
    # Inbound events whose retry is due, or whose after-commit kick was lost.
    "integrations-process-inbound-events": {
        "task": "integrations.process_inbound_events",
        "schedule": 5.0,
    },
    # Events past CAUSERIE_EVENT_RETENTION, in bounded batches, every 10 minutes.
    "crm-prune-events": {"task": "crm.prune_events", "schedule": 600.0},
}

# --- REST API ---------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "crm.authentication.BearerTokenAuthentication",
        "crm.authentication.CsrfSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["crm.api.renderers.JSONRenderer"],
    # DRF's, refusing NUL characters and lone surrogates (400, not a database error).
    "DEFAULT_PARSER_CLASSES": ["crm.api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "crm.api.pagination.CursorPagination",
    "DEFAULT_FILTER_BACKENDS": [],
    "DEFAULT_SCHEMA_CLASS": "crm.api.schema.CauserieAutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["crm.api.throttling.CredentialRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "credential": env.str("CAUSERIE_THROTTLE_RATE", default="6000/min"),
        "auth": env.str("CAUSERIE_AUTH_THROTTLE_RATE", default="30/min"),
    },
    # Proxies in front of the web processes whose X-Forwarded-For is trusted for the client
    # address of throttles; 0 uses the connection's address (a client cannot spoof it).
    "NUM_PROXIES": env.int("CAUSERIE_NUM_PROXIES", default=0),
    "EXCEPTION_HANDLER": "crm.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_VERSIONING_CLASS": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "COERCE_DECIMAL_TO_STRING": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Causerie API",
    "DESCRIPTION": (
        "Social CRM backend: contacts with their social identities, threaded conversations "
        "from every platform, a realtime inbox, an event log and signed webhooks."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {},
}

# --- Causerie ---------------------------------------------------------------------------

CAUSERIE_PUBLIC_URL = env.str("CAUSERIE_PUBLIC_URL", default="http://127.0.0.1:8000")
CAUSERIE_GRAPH_API_URL = env.str("CAUSERIE_GRAPH_API_URL", default="https://graph.facebook.com")
CAUSERIE_INSTAGRAM_API_URL = env.str(
    "CAUSERIE_INSTAGRAM_API_URL", default="https://graph.instagram.com"
)
CAUSERIE_X_API_URL = env.str("CAUSERIE_X_API_URL", default="https://api.x.com")
CAUSERIE_TELEGRAM_API_URL = env.str("CAUSERIE_TELEGRAM_API_URL", default="https://api.telegram.org")
CAUSERIE_YOUTUBE_API_URL = env.str("CAUSERIE_YOUTUBE_API_URL", default="https://www.googleapis.com")
# Forums and blogs live at their own address (the account's external_id); these replace
# its scheme and host when set, to reach an emulator. Empty: the site itself.
CAUSERIE_DISCOURSE_API_URL = env.str("CAUSERIE_DISCOURSE_API_URL", default="")
CAUSERIE_WORDPRESS_API_URL = env.str("CAUSERIE_WORDPRESS_API_URL", default="")
CAUSERIE_ALLOW_PRIVATE_WEBHOOK_URLS = env.bool("CAUSERIE_ALLOW_PRIVATE_WEBHOOK_URLS", default=False)
# Fernet keys for credentials at rest, newest first. The development default is derived
# from SECRET_KEY so that the embedded default works with no setup; production sets its own.
CAUSERIE_ENCRYPTION_KEYS = env.list("CAUSERIE_ENCRYPTION_KEYS", default=[])
# Sends per second per brand account, shared by all workers (the platforms' documented
# limits, kept a little under: WhatsApp 80 msg/s, Telegram 30 msg/s, Messenger and
# Instagram ~ 100 calls/s per Page in practice, X DMs far lower).
CAUSERIE_SEND_RATE_LIMITS = {
    "facebook": env.int("CAUSERIE_SEND_RATE_FACEBOOK", default=50),
    "instagram": env.int("CAUSERIE_SEND_RATE_INSTAGRAM", default=50),
    "whatsapp": env.int("CAUSERIE_SEND_RATE_WHATSAPP", default=70),
    "x": env.int("CAUSERIE_SEND_RATE_X", default=5),
    "telegram": env.int("CAUSERIE_SEND_RATE_TELEGRAM", default=25),
    "youtube": env.int("CAUSERIE_SEND_RATE_YOUTUBE", default=5),
    "email": env.int("CAUSERIE_SEND_RATE_EMAIL", default=20),
    "api": env.int("CAUSERIE_SEND_RATE_API", default=50),
    # Discourse's admin API allows 60 requests a minute; WordPress sets no limit.
    "discourse": env.int("CAUSERIE_SEND_RATE_DISCOURSE", default=1),
    "wordpress": env.int("CAUSERIE_SEND_RATE_WORDPRESS", default=5),
}
# Replay protection of inbound webhooks by the platform's own send time (Meta entry times,
# X event times): a body older than this is refused. Off here, where the documentation's
# sample payloads (2024) are replayed on purpose; on in production (settings.production).
CAUSERIE_WEBHOOK_REPLAY_WINDOW: timedelta | None = None
# Largest webhook body accepted (WhatsApp documents up to 3 MB).
CAUSERIE_INBOUND_MAX_BYTES = env.int("CAUSERIE_INBOUND_MAX_BYTES", default=3 * 1024 * 1024)
# How long an Idempotency-Key is remembered, per API.md.
CAUSERIE_IDEMPOTENCY_TTL = timedelta(hours=24)
# How long the event log keeps events (days) for events/, webhooks and realtime resumes.
CAUSERIE_EVENT_RETENTION = timedelta(days=env.int("CAUSERIE_EVENT_RETENTION", default=30))
# Seconds a process remembers a resolved bearer token and a member's actor: a revocation,
# a removal or a role change made elsewhere reaches the other processes within this delay
# (at once in the process that made it); 0 looks them up on every request.
CAUSERIE_AUTH_CACHE_SECONDS = env.float("CAUSERIE_AUTH_CACHE_SECONDS", default=5.0)
# Failed authentications (bad API key, personal token, realtime ticket or password) one
# client address may make per window before every attempt of it is refused with 429.
CAUSERIE_AUTH_FAILURE_LIMIT = env.int("CAUSERIE_AUTH_FAILURE_LIMIT", default=20)
CAUSERIE_AUTH_FAILURE_WINDOW = env.int("CAUSERIE_AUTH_FAILURE_WINDOW", default=300)
# Realtime tickets are single use and short lived, per API.md.
CAUSERIE_REALTIME_TICKET_TTL = timedelta(seconds=60)

# --- Logging ----------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        # One line per outbound request is noise; failures are logged by the callers.
        "httpx": {"level": "WARNING"},
    },
}

CSRF_FAILURE_VIEW = "crm.api.errors.csrf_failure"
