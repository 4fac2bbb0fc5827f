"""The embedded default for a developer's machine: debug on, a fixed development key."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="causerie-local-development-key-not-for-production")

if not CAUSERIE_ENCRYPTION_KEYS:  # noqa: F405
    import base64
    import hashlib

    CAUSERIE_ENCRYPTION_KEYS = [  # derived from the non-production SECRET_KEY
        base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()
    ]
