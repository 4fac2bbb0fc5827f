"""Test settings: the same environment-driven base, with fast hashing and eager tasks.

``DATABASE_URL`` and ``REDIS_URL`` select PostgreSQL and Redis exactly as in production;
without them the suite runs on SQLite and in-memory layers.
"""

from .base import *  # noqa: F403
from .base import DATABASE_IS_POSTGRES, DATABASES, REST_FRAMEWORK

SECRET_KEY = "causerie-test-key"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Unit tests run tasks in-process; the fault-injection suite runs real workers instead.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CAUSERIE_EAGER_TASKS_IN_THREADS = False
CAUSERIE_ALLOW_PRIVATE_WEBHOOK_URLS = True
# Tests never reach the real platforms: anything not pointed at the emulator is refused at
# once by the discard port.
CAUSERIE_GRAPH_API_URL = "http://127.0.0.1:9"
CAUSERIE_INSTAGRAM_API_URL = "http://127.0.0.1:9"
CAUSERIE_X_API_URL = "http://127.0.0.1:9"
CAUSERIE_TELEGRAM_API_URL = "http://127.0.0.1:9"
CAUSERIE_YOUTUBE_API_URL = "http://127.0.0.1:9"
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
        "credential": "100000/min",
    },
}
# The whole suite (and schemathesis) presents bad credentials from 127.0.0.1; the
# brute-force tests lower the bound themselves.
CAUSERIE_AUTH_FAILURE_LIMIT = 1_000_000
if DATABASE_IS_POSTGRES:
    # The test runner creates and drops databases; a pool would hold connections to them.
    DATABASES["default"].get("OPTIONS", {}).pop("pool", None)

if not CAUSERIE_ENCRYPTION_KEYS:  # noqa: F405
    import base64
    import hashlib

    CAUSERIE_ENCRYPTION_KEYS = [  # derived from the non-production SECRET_KEY
        base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()
    ]
