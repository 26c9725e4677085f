"""Security from day one: CSP and headers, no inline code, production settings that pass
`check --deploy`, secrets only from the environment."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from core.roles import Role

ROOT = Path(settings.BASE_DIR)


@pytest.mark.django_db
def test_pages_carry_csp_and_security_headers(role_world):
    client = Client()
    client.force_login(role_world.user(Role.ADMIN))
    for url in ("/", "/settings/", "/accounts/login/"):
        response = client.get(url)
        csp = response["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_templates_hold_no_inline_script_or_style():
    """The CSP forbids inline code, so a template that used it would silently break."""
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        for match in re.finditer(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", text):
            offenders.append(f"{path}: {match.group(0)}")
        if re.search(r"\sstyle=\"", text) or "javascript:" in text or re.search(r"\son[a-z]+=\"", text):
            offenders.append(f"{path}: inline style or handler")
    assert not offenders, offenders


def _deploy_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_TASK_ALWAYS"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="a-production-secret-key-with-plenty-of-entropy-0123456789-abcdefghijklmnop",
        DJANGO_ALLOWED_HOSTS="tokenledger.example.com",
        **extra,
    )
    return env


def test_check_deploy_is_clean_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_deploy_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = _deploy_env()
    del env["DJANGO_SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr


def test_production_cookies_and_transport():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
            "s.SECURE_HSTS_SECONDS, s.DEBUG)",
        ],
        cwd=ROOT,
        env=_deploy_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.split() == ["True", "True", "True", "31536000", "False"], result.stderr
