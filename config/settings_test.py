"""Test settings: production settings, with Redis database 1 so a test run never
shares queues or cache keys with a `make run` on the same machine."""

from config import stack
from config.env import env_str
from config.settings import *  # noqa: F403
from config.settings import CACHES

REDIS_URL = env_str("REDIS_URL", stack.DEFAULT_REDIS_URL.rsplit("/", 1)[0] + "/1")
CACHES["default"]["LOCATION"] = REDIS_URL
CELERY_BROKER_URL = REDIS_URL
# Hashing cost is not under test; the real hasher would dominate the suite's time.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
