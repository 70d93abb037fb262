"""Browser test: headless Chromium (Debian package) loads the dashboard of a real API server while the real arbitrage
flow replays a paced simulated market under the API's Supervisor, and sees live signals (over the signal stream),
spreads and signals appear.

Skips only when no Chromium binary exists (CI installs Debian's ``chromium`` in .ci/run). The screenshot lands in the
test's tmp dir; with ``ARBFLOW_DOCS_SCREENSHOT=1`` it is also copied to docs/dashboard.png for the README.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import httpx
import pytest
from ops_helpers import running_server
from playwright.sync_api import expect, sync_playwright

from arbflow.settings import load_settings
from ops.api import create_app
from ops.control import default_flow_command

KEY = "dashboard-key-0123456789"
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).exists()), None)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DOCS_PNG = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
# a 150 s simulated market replayed at 20x in micro-batches of 100 quotes: ~8 s of data, epochs every second
PACED = {
    "source.kind": "simulator",
    "simulator.duration_s": 150.0,
    "simulator.cross_opportunities": 12,
    "source.speed": 20.0,
    "source.batch_rows": 100,
}

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary (apt-get install chromium)")


def _wait_exited(base: str) -> None:
    for _ in range(300):
        if httpx.get(f"{base}/api/system/status", headers={"x-api-key": KEY}).json()["supervisor"]["state"] == "exited":
            return
        time.sleep(1)


def _rows(page, table_id: str) -> int:
    return page.locator(f"#{table_id} tbody tr").count()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _page(browser, problems: list[str]):
    """A new page that records script errors and CSP violations (both reach the console as errors)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1500})
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    return page


def test_dashboard_renders_an_empty_lake_without_errors(tmp_path, browser):
    settings = load_settings(environ={"ARBFLOW__SINKS__DATA_DIR": f'"{tmp_path}"'})
    with running_server(create_app(settings, api_keys=[KEY])) as base:
        problems: list[str] = []
        page = _page(browser, problems)
        page.goto(f"{base}/dashboard")
        page.fill("#api-key", KEY)
        page.click("#key-form button")
        expect(page.locator("#status")).to_contain_text("dataflow not supervised by this API")
        expect(page.locator("#pnl-chart")).to_contain_text("no data yet")
        assert _rows(page, "spreads") == 0 and _rows(page, "signals") == 0
        assert page.locator("#risk-level").inner_text() == "n/a"
        assert _rows(page, "feeds") == 3  # the configured venues, before any data
        assert problems == []
        page.close()


def test_dashboard_shows_live_spreads_and_signals_of_a_running_replay(tmp_path, browser):
    settings = load_settings(
        environ={"ARBFLOW__SINKS__DATA_DIR": f'"{tmp_path}"', "ARBFLOW__MONITOR__HEARTBEAT_TIMEOUT_S": "60"}
    )
    app = create_app(settings, api_keys=[KEY], flow_command=default_flow_command(settings, None, PACED))
    with running_server(app) as base:
        problems: list[str] = []
        page = _page(browser, problems)
        page.goto(f"{base}/dashboard")
        assert page.locator("#key-form").is_visible()  # no key yet: the page asks for one

        page.fill("#api-key", "wrong-key")
        page.click("#key-form button")
        expect(page.locator("#message")).to_contain_text("401")
        problems.clear()  # the refused request is logged by the browser as a failed resource

        page.fill("#api-key", KEY)
        page.click("#key-form button")
        expect(page.locator("#live-state")).to_have_text("live", timeout=30_000)  # subscribed before the flow runs
        started = httpx.post(f"{base}/api/system/start", headers={"x-api-key": KEY}, timeout=30)
        assert started.status_code == 200, started.text
        # the flow's signals reach the page over the stream as it computes them
        expect(page.locator("#live-signals tbody tr").first).to_be_visible(timeout=150_000)
        # locators, not wait_for_function: the page's CSP (script-src 'self') forbids the eval that needs
        expect(page.locator("#spreads tbody tr").first).to_be_visible(timeout=150_000)
        expect(page.locator("#signals tbody tr").first).to_be_visible(timeout=60_000)
        status = httpx.get(f"{base}/api/system/status", headers={"x-api-key": KEY}).json()["supervisor"]
        assert status["state"] in ("running", "exited")  # the replay is running (or just finished)
        assert _rows(page, "spreads") >= 1 and _rows(page, "signals") >= 1
        assert page.locator("#spread-chart path").count() >= 1
        first_signal = page.locator("#signals tbody tr").first.inner_text()
        assert "BTC/USDT" in first_signal or "ETH/USDT" in first_signal
        assert page.locator("#feeds tbody tr").count() == 3  # the simulator's three venues
        assert "updated" in page.locator("#status").inner_text()
        assert page.locator("#key-form").is_hidden()
        assert problems == []  # no script error, no CSP violation

        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=False)
        assert shot.stat().st_size > 10_000
        if os.environ.get("ARBFLOW_DOCS_SCREENSHOT") == "1":  # the README's picture: the whole replay shown
            _wait_exited(base)
            page.wait_for_timeout(4000)
            page.set_viewport_size({"width": 1200, "height": 900})
            page.screenshot(path=str(DOCS_PNG), type="png")
        page.close()
