"""Browser tests: the real UI in headless Chromium (Debian's `chromium`, which `make test` installs),
driven by Playwright against Django's live server on a transactional test database.

* `page`: a fresh browser context (laptop size) per test. Console errors and uncaught page errors
  (a script that failed, a CSP violation) fail the test. Its last page is kept as a screenshot
  in var/test-artifacts/<test>.png, passed or failed.
* `sign_in(page, user)`: through the sign-in form, as a person would.
* `axe_violations(page)`: axe-core (npm) on the current page, its serious and critical violations.
* Celery runs eagerly inside the live server's thread, so a run started by a page completes
  before the page's response is back (progress bars are then seen finished).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings

from core.testing import PASSWORD

# Playwright's sync API keeps an event loop in this thread; the test's ORM calls are still plain
# synchronous code (Django would otherwise refuse them as "async context").
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(settings.BASE_DIR) / "var" / "test-artifacts"
AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
LAPTOP = {"width": 1366, "height": 900}
EXPECTED_STATUS_LOGS = (
    "the server responded with a status of 400",
    "the server responded with a status of 409",
)
TABLET = {"width": 768, "height": 1024}


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail("Debian's chromium is not installed: run the test command (make test), which installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def _context(browser, live_server, **options):
    return browser.new_context(
        base_url=live_server.url, viewport=options.pop("viewport", LAPTOP), accept_downloads=True, **options
    )


@pytest.fixture
def page(browser, live_server, request):
    context = _context(browser, live_server)
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(f"console {message.type}: {message.text}") if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.problems = problems
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    try:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    finally:
        context.close()
    # the browser must have seen no script error and no CSP violation on the way
    # A form answered 400 or 409 with its errors is the page doing its job: Chromium logs the status.
    allowed = (*getattr(request.node, "allowed_console", ()), *EXPECTED_STATUS_LOGS)
    unexpected = [p for p in problems if not any(a in p for a in allowed)]
    assert not unexpected, unexpected


@pytest.fixture
def axe_page(browser, live_server):
    """A page whose CSP lets axe-core's script in (the app's own CSP stays on for `page`)."""
    context = _context(browser, live_server, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def sign_in(page, user, password: str = PASSWORD) -> None:
    """Sign in through the form; lands on the dashboard (or the MFA step when the user has one)."""
    page.goto("/accounts/login/")
    page.get_by_label(re.compile("username|login", re.I)).first.fill(user.username)
    page.get_by_label(re.compile("password", re.I)).first.fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")


def axe_violations(page, *, impacts=("serious", "critical")) -> list[dict]:
    # (already there when the context injects it into every page: context.add_init_script(path=AXE))
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in impacts
    ]
