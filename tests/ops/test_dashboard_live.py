"""The dashboard's live signals panel in headless Chromium, fed by the real ``/api/signals/stream`` of a real API server:
signals published on the flow's Unix datagram socket appear in the page with nothing in the lake (no polling), the
indicator shows the stream state, and a reconnect with Last-Event-ID brings the signals missed meanwhile exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from ops_helpers import running_server
from playwright.sync_api import expect
from test_dashboard import CHROMIUM, KEY, _page, browser  # noqa: F401  (browser is a fixture)

from arbflow.settings import load_settings
from connectors.signal_bus import SignalPublisher, socket_path
from ops.api import create_app

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary (apt-get install chromium)")


def _signals(first: int, n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "signal_id": [f"cross/live/{i:04d}" for i in range(first, first + n)],
            "strategy": ["cross"] * n,
            "symbol": ["BTC/USDT"] * n,
            "buy_exchange": ["binance"] * n,
            "sell_exchange": ["okx"] * n,
            "ts_signal": [T0 + timedelta(seconds=i) for i in range(first, first + n)],
            "net_edge_bps": [40.5 + i for i in range(first, first + n)],
        }
    )


def _live_edges(page) -> list[str]:
    return page.locator("#live-signals tbody tr td:last-child").all_inner_texts()


def test_a_published_signal_appears_live_and_a_reconnect_replays_the_missed_ones_once(tmp_path, browser):  # noqa: F811
    settings = load_settings(environ={"ARBFLOW__SINKS__DATA_DIR": f'"{tmp_path}"'})
    with running_server(create_app(settings, api_keys=[KEY], stream_ping_s=0.5)) as base:
        publisher = SignalPublisher(socket_path(tmp_path))
        problems: list[str] = []
        page = _page(browser, problems)
        page.goto(f"{base}/dashboard")
        expect(page.locator("#live-state")).to_have_text("off")  # no key: no stream
        page.fill("#api-key", KEY)
        page.click("#key-form button")
        expect(page.locator("#live-state")).to_have_text("live", timeout=15_000)

        publisher.publish(_signals(0, 2))
        expect(page.locator("#live-signals tbody tr")).to_have_count(2, timeout=10_000)
        assert _live_edges(page) == ["41.50", "40.50"]  # newest first
        assert "BTC/USDT" in page.locator("#live-signals tbody tr").first.inner_text()
        assert not (tmp_path / "lake" / "signals").exists()  # nothing in the lake: the rows came from the stream
        assert page.locator("#signals tbody tr").count() == 0

        # Disconnect (forget the key), publish meanwhile, connect again: the client sends Last-Event-ID and the
        # server replays from its ring what this page missed
        page.click("#forget-key")
        expect(page.locator("#live-state")).to_have_text("off")
        publisher.publish(_signals(2, 3))
        page.fill("#api-key", KEY)
        page.click("#key-form button")
        expect(page.locator("#live-state")).to_have_text("live", timeout=15_000)
        expect(page.locator("#live-signals tbody tr")).to_have_count(5, timeout=10_000)
        assert _live_edges(page) == ["44.50", "43.50", "42.50", "41.50", "40.50"]  # missed ones once, in order
        assert problems == []
        publisher.close()
        page.close()
