"""A real headless Chromium for page tests: the system's ``chromium`` driven by Playwright.

Playwright's own browser download cannot run here (no network but the package
registries), so the system browser (Debian's ``chromium``, which ``make system-setup``
installs) is launched through ``executable_path``. This module installs nothing: when no
Chromium is on PATH, the test fails naming ``make system-setup``.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator

import pytest

#: WebGL in a headless browser without a GPU: ANGLE on SwiftShader (software). No flag
#: loosens file:// rules: a page must work as it would in a user's browser.
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox"]
#: The names a Chromium binary goes by, in order of preference (.ci/system-setup checks the same).
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
#: Why a page test fails on a machine without one, and what to run.
MISSING = f"chromium not installed (none of {', '.join(CHROMIUM_NAMES)} on PATH): run `make system-setup`"


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_chromium() -> str:
    """Path of a Chromium binary; fails the calling test (no skip) when there is none."""
    path = find_chromium()
    if path is None:
        pytest.fail(MISSING, pytrace=False)
    return path


@contextlib.contextmanager
def chromium(executable: str | None = None) -> Iterator:
    """A launched headless Playwright browser on the system Chromium."""
    from playwright.sync_api import sync_playwright

    executable = executable or require_chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url: str, *, width: int = 1400, height: int = 860, wait_for: str | None = None,
              timeout_ms: int = 30000):
    """``(page, errors)``: ``url`` loaded; ``errors`` collects console errors, uncaught
    exceptions and failed requests from then on (a list the test asserts empty)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: errors.append(f"requestfailed: {r.url} {r.failure}"))
    page.goto(url, wait_until="load", timeout=timeout_ms)
    if wait_for:
        try:
            page.wait_for_function(wait_for, timeout=timeout_ms)
        except Exception as exc:
            raise AssertionError(f"{url}: {wait_for!r} never held; page errors: {errors}") from exc
    return page, errors
