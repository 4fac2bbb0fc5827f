"""The embedded default for a developer's machine: debug on, a fixed development key."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="causerie-local-development-key-not-for-production")
