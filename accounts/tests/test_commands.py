"""`create_user` and `create_api_token` as scripts use them (API.md, Authentication and accounts)."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from accounts.models import ApiToken, User
from core.testing import database_url_for_subprocess
from procurement.models import Department
from usage.models import Source

pytestmark = pytest.mark.django_db
ROOT = Path(settings.BASE_DIR)


def run(*args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue()


def test_create_user_creates_then_updates():
    Department.objects.create(code="FIN", name="Finance")
    Department.objects.create(code="RND", name="R&D")
    run(
        "create_user",
        "--username",
        "mia",
        "--role",
        "department_manager",
        "--email",
        "mia@example.com",
        "--department",
        "FIN",
        "--department",
        "RND",
        "--password",
        "long-enough-passphrase-7",
    )
    mia = User.objects.get(username="mia")
    assert mia.role == "department_manager" and mia.check_password("long-enough-passphrase-7")
    assert set(mia.managed_departments.values_list("code", flat=True)) == {"FIN", "RND"}
    out = run("create_user", "--username", "mia", "--role", "department_manager", "--department", "RND")
    assert out.startswith("Updated user mia")
    mia.refresh_from_db()
    assert set(mia.managed_departments.values_list("code", flat=True)) == {"RND"}
    assert mia.check_password("long-enough-passphrase-7")  # untouched without --password
    run("create_user", "--username", "mia", "--role", "auditor")
    assert not mia.managed_departments.exists()


def test_create_user_refuses_bad_department_and_manager_only_departments():
    with pytest.raises(CommandError, match="Unknown department code"):
        run("create_user", "--username", "x", "--role", "department_manager", "--department", "NOPE")
    Department.objects.create(code="FIN", name="Finance")
    with pytest.raises(CommandError, match="Only department managers"):
        run("create_user", "--username", "x", "--role", "finance", "--department", "FIN")
    assert not User.objects.filter(username="x").exists()


def test_create_api_token_prints_token_alone_on_last_line():
    Source.objects.create(slug="openai-prod", name="OpenAI")
    run("create_user", "--username", "bot", "--role", "service")
    out = run(
        "create_api_token", "--user", "bot", "--scope", "ingest", "--source", "openai-prod", "--expires-days", "30"
    )
    last = out.strip().splitlines()[-1]
    assert last.startswith("tl_") and " " not in last
    token = ApiToken.objects.get(user__username="bot")
    assert token.token_hash == ApiToken.hash_token(last) and token.source_slugs == ["openai-prod"]
    assert 29 <= (token.expires_at - token.created_at).days <= 30


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "ghost"], "No user 'ghost'"),
        (["--user", "bot", "--scope", "ingest"], "name at least one"),
        (["--user", "bot", "--scope", "ingest", "--source", "nope"], "Unknown source"),
        (["--user", "bot", "--expires-days", "0"], "positive"),
    ],
)
def test_create_api_token_bad_arguments(args, message):
    User.objects.create(username="bot", role="service")
    with pytest.raises(CommandError, match=message):
        run("create_api_token", *args)


@pytest.mark.django_db(transaction=True)
def test_commands_exit_non_zero_with_a_message():
    """As a script sees them: real processes, real exit codes, the message on stderr."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_subprocess(),
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
    }

    def manage(*args):
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )

    bad_role = manage("create_user", "--username", "z", "--role", "wizard")
    assert bad_role.returncode != 0 and "invalid choice: 'wizard'" in bad_role.stderr
    bad_dept = manage("create_user", "--username", "z", "--role", "department_manager", "--department", "NOPE")
    assert bad_dept.returncode != 0 and "Unknown department code(s): NOPE" in bad_dept.stderr
    ok = manage("create_user", "--username", "z", "--role", "finance")
    assert ok.returncode == 0, ok.stderr
    token = manage("create_api_token", "--user", "z", "--scope", "read")
    assert token.returncode == 0, token.stderr
    assert token.stdout.strip().splitlines()[-1].startswith("tl_")
