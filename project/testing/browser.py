"""Browser-test fixtures: Playwright for Python driving the system's Chromium.

Playwright's own browser download cannot work on machines without internet,
so the tests launch the distribution's Chromium (Debian: ``apt-get install -y
chromium``). Without it the browser tests are skipped with that instruction,
except under CI (``CI=true``), where a missing browser is a failure.
A failed browser test leaves a screenshot in ``test-artifacts/``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from project.testing import unavailable

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def chromium_path() -> str | None:
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if Path(configured).exists() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    # Let fixtures see whether the test itself failed (for the screenshot).
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser():
    executable = chromium_path()
    if executable is None:
        unavailable("Chromium is not installed: apt-get install -y chromium (or set CHROMIUM_PATH)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - requirements-dev.txt installs it
        pytest.fail("playwright is not installed: pip install -r requirements-dev.txt")
    # Playwright's sync API runs an event loop in this thread; Django's ORM
    # calls made by the test itself (setting up rows, checking them) are still
    # synchronous code and safe here.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


# Each violation is handed to Python as it happens, so a later navigation
# cannot wipe it (a list kept in the page would start empty on every page).
REPORT_VIOLATIONS_JS = """
document.addEventListener('securitypolicyviolation', e =>
  window.__cspViolation(location.pathname + ': ' + e.violatedDirective + ' ' + (e.blockedURI || 'inline')));
"""


@pytest.fixture
def csp_violations(page):
    """Every CSP violation the browser reports on ``page``, from any page it visits."""
    seen: list[str] = []
    page.expose_binding("__cspViolation", lambda source, text: seen.append(text))
    page.add_init_script(REPORT_VIOLATIONS_JS)

    def console(message) -> None:
        # Chromium also writes each refusal to the console; either way counts.
        if "Content Security Policy" in message.text:
            seen.append(message.text)

    page.on("console", console)
    return seen
