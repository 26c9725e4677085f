"""The README is the user's manual: every environment variable the settings read is documented."""

import re
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def test_every_environment_variable_is_documented():
    readme = (ROOT / "README.md").read_text()
    names = set()
    for path in [
        *(ROOT / "config" / "settings").glob("*.py"),
        ROOT / "scripts" / "run.py",
        ROOT / "scripts" / "test.py",
    ]:
        text = path.read_text()
        names |= set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', text))
        names |= set(re.findall(r'environ(?:\.get|\.setdefault)?\(\s*"([A-Z][A-Z0-9_]+)"', text))
        names |= set(re.findall(r'os\.environ\["([A-Z][A-Z0-9_]+)"\]', text))
    names -= {"DJANGO_SETTINGS_MODULE"}
    missing = sorted(n for n in names if f"`{n}`" not in readme)
    assert len(names) > 20
    assert not missing, f"environment variables missing from the README: {missing}"


def test_two_commands_documented_and_ci_calls_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "`make run`" in readme and "`make test`" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
