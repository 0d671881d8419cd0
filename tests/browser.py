"""A real headless Chromium for page tests: Debian's ``chromium`` driven by Playwright.

Playwright's own browser download cannot run here (no network but the package
registries), so the system browser is launched through ``executable_path``; when it is
missing, :func:`ensure_chromium` installs it with apt (CI runs as root, non-interactive).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator

#: WebGL in a headless browser without a GPU: ANGLE on SwiftShader (software). No flag
#: loosens file:// rules: a page must work as it would in a user's browser.
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox"]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def ensure_chromium() -> str:
    """Path of a Chromium binary; installs Debian's ``chromium`` with apt when there is none."""
    path = find_chromium()
    if path:
        return path
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    if subprocess.run(apt, env=env, stdin=subprocess.DEVNULL, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, check=True)
        proc = subprocess.run(apt, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"could not install chromium with apt: {proc.stderr[-2000:]}")
    path = find_chromium()
    if path is None:
        raise RuntimeError("apt installed chromium but no chromium binary is on PATH")
    return path


@contextlib.contextmanager
def chromium(executable: str | None = None) -> Iterator:
    """A launched headless Playwright browser on the system Chromium."""
    from playwright.sync_api import sync_playwright

    executable = executable or ensure_chromium()
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
