"""Settings of the server process the browser tests start: the test settings (same
database, keys and password hashers as the test process), with the platforms' API base
URLs pointed at the emulator and tasks run in background threads as in ``make run``."""

from config.settings.test import *  # noqa: F403
from config.settings.test import REST_FRAMEWORK, env

CAUSERIE_GRAPH_API_URL = env.str("CAUSERIE_GRAPH_API_URL")
CAUSERIE_INSTAGRAM_API_URL = env.str("CAUSERIE_INSTAGRAM_API_URL")
CAUSERIE_X_API_URL = env.str("CAUSERIE_X_API_URL")
CAUSERIE_TELEGRAM_API_URL = env.str("CAUSERIE_TELEGRAM_API_URL")
CAUSERIE_YOUTUBE_API_URL = env.str("CAUSERIE_YOUTUBE_API_URL")
CAUSERIE_PUBLIC_URL = env.str("CAUSERIE_PUBLIC_URL")
# A reply answers 202 queued and is sent right after, by a background thread.
CAUSERIE_EAGER_TASKS_IN_THREADS = True
# The suite signs in from 127.0.0.1 in many tests; the sign-in throttle is tested apart.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {**REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth": "100000/min"},
}
