"""Settings of the benchmark servers and runner: the production stack from the environment,
with a bench-only URLconf (the product's URLs plus a bare baseline view).

``DATABASE_URL`` and ``REDIS_URL`` are set by the runner to the bench database and Redis
database; the throttle is raised so that the load generator measures work, not refusals
(the throttle's cache round trip still runs on every request).
"""

import base64
import hashlib
import warnings

from config.settings.base import *  # noqa: F403
from config.settings.base import ALLOWED_HOSTS, REST_FRAMEWORK, env

SECRET_KEY = env.str("SECRET_KEY", default="causerie-bench-secret-key-not-for-production")
DEBUG = False
ROOT_URLCONF = "bench.urls"
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]
CAUSERIE_ALLOW_PRIVATE_WEBHOOK_URLS = True
CAUSERIE_EAGER_TASKS_IN_THREADS = False
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
        "credential": "10000000/min",
    },
}
CAUSERIE_ENCRYPTION_KEYS = env.list("CAUSERIE_ENCRYPTION_KEYS", default=[]) or [
    base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()
]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

# STATIC_ROOT is filled by collectstatic in production; the bench serves no static files.
warnings.filterwarnings("ignore", "No directory at", UserWarning)
