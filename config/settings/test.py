"""Test settings: the local PostgreSQL (or the embedded one, chosen by scripts/test.py)."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-insecure-key-not-for-use-anywhere-else")
os.environ.setdefault("CACHE_URL", "locmemcache://")
os.environ.setdefault("EMAIL_URL", "memorymail://")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "True")

from .base import *  # noqa: F403
from .base import REST_FRAMEWORK, env

DEBUG = False
# Progress goes through the test's own connection (tests run inside one transaction).
DATABASES.pop("progress", None)
# Static files straight from the finders: tests never run collectstatic.
WHITENOISE_USE_FINDERS = True
# Fast hashing: tests create many users; production keeps scrypt.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TEST_RUNNER = "django.test.runner.DiscoverRunner"
# Throttles are tested on purpose with their own rates; keep them out of everyone else's way.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"anon": "100000/minute", "user": "100000/minute"},
}
API_TOKEN_FAILED_PER_MINUTE = 100000  # tests/test_security_auth.py tests the limit with its own value
ACCOUNT_RATE_LIMITS = {"login": "1000/m/ip", "login_failed": "1000/m/ip,1000/5m/key", "reset_password": "1000/m/ip"}
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="memory://")
# Ingestion runs evaluate alerts after they commit; other apps' tests ingest without that side
# effect (insights' tests switch it on where they test the trigger).
ALERTS_EVALUATE_AFTER_INGESTION = False
