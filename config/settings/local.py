"""The run command's settings: embedded PostgreSQL, filesystem broker, mail to files (see scripts/run.py)."""

import os

os.environ.setdefault("DJANGO_DEBUG", "True")
os.environ.setdefault("DJANGO_SECRET_KEY", "local-only-insecure-key-change-me-for-anything-shared")
os.environ.setdefault("CELERY_BROKER_URL", "filesystem://")
os.environ.setdefault("EMAIL_URL", "filemail:///var/mail")

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
INTERNAL_IPS = ["127.0.0.1"]
