"""Browser tests of the dashboard as a trader reads it, over a lake written from the DDL (real API server, headless
Chromium): the key prompt, the spread chart (max net edge per window, one colour per route, signal markers, the
threshold line, labelled axes) and a signals header that counts what its table lists.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from ops_helpers import running_server, write_part
from playwright.sync_api import expect
from test_dashboard import CHROMIUM, KEY, _page, browser  # noqa: F401  (browser is a fixture)

from arbflow.settings import load_settings
from ops.api import create_app

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ROUTES = [("BTC/USDT", "binance", "okx"), ("ETH/USDT", "okx", "htx")]
SPIKE_BPS = 75.0
THRESHOLD_BPS = 30.0

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary (apt-get install chromium)")


def _window(route: tuple[str, str, str], k: int, mean: float, high: float) -> dict:
    symbol, buy, sell = route
    start = T0 + timedelta(seconds=10 * k)
    return {
        "stats_id": f"{symbol}/{buy}/{sell}/{start.isoformat()}",
        "symbol": symbol,
        "buy_exchange": buy,
        "sell_exchange": sell,
        "window_start": start,
        "window_end": start + timedelta(seconds=10),
        "evaluations": 50,
        "signals": int(high >= THRESHOLD_BPS),
        "net_edge_bps_min": mean - 5,
        "net_edge_bps_max": high,
        "net_edge_bps_mean": mean,
        "gross_edge_bps_mean": mean + 20,
        "is_late": False,
    }


def _signal(signal_id: str, strategy: str, symbol: str, buy: str, sell: str, ts: datetime, edge: float) -> dict:
    return {
        "signal_id": signal_id,
        "strategy": strategy,
        "symbol": symbol,
        "buy_exchange": buy,
        "sell_exchange": sell,
        "ts_signal": ts,
        "net_edge_bps": edge,
    }


@pytest.fixture
def lake_app(tmp_path):
    """Two routes of ten windows with means of -25 bps; BTC's window 5 spikes to +75 bps and became a signal."""
    lake = tmp_path / "lake"
    day = T0.date().isoformat()
    windows = [
        _window(r, k, -25.0, SPIKE_BPS if (r is ROUTES[0] and k == 5) else -20.0) for r in ROUTES for k in range(10)
    ]
    write_part(lake, "spread_stats", day, 0, windows)
    spike_ts = T0 + timedelta(seconds=55)
    write_part(lake, "signals", day, 0, [
        _signal("cross/q1/binance/okx", "cross", "BTC/USDT", "binance", "okx", spike_ts, SPIKE_BPS),
        _signal("cross/q2/binance/okx", "cross", "BTC/USDT", "binance", "okx", spike_ts + timedelta(seconds=1), 70.0),
        _signal("tri/q3", "triangular", "USDT>BTC>ETH>USDT", "binance", "binance", spike_ts, 12.0),
    ])  # fmt: skip
    environ = {"ARBFLOW__SINKS__DATA_DIR": f'"{tmp_path}"', "ARBFLOW__CROSS__MIN_NET_EDGE_BPS": str(THRESHOLD_BPS)}
    return create_app(load_settings(environ=environ), api_keys=[KEY])


def _marker_centre(d: str) -> tuple[float, float]:
    x, y = (float(v) for v in re.match(r"M([\d.]+),([\d.]+)", d).groups())
    return x, y + 5  # the diamond path starts 5 px above its centre


def test_without_a_key_the_page_shows_a_key_prompt_not_empty_panels(lake_app, browser):  # noqa: F811
    with running_server(lake_app) as base:
        problems: list[str] = []
        page = _page(browser, problems)
        page.goto(f"{base}/dashboard")
        expect(page.locator("#key-prompt")).to_be_visible()
        expect(page.locator("#key-prompt")).to_contain_text("Enter the API key")
        assert page.locator("#panels").is_hidden()
        assert "not connected" not in page.locator("body").inner_text()
        page.fill("#api-key", KEY)
        page.click("#key-form button")
        expect(page.locator("#panels")).to_be_visible()
        assert page.locator("#key-prompt").is_hidden()
        page.click("#forget-key")
        expect(page.locator("#key-prompt")).to_be_visible()
        assert page.locator("#panels").is_hidden()
        assert problems == [] or all("signals/stream" in p or "404" in p for p in problems)
        page.close()


def test_spread_chart_plots_the_window_max_with_signal_markers_and_the_threshold(lake_app, browser):  # noqa: F811
    with running_server(lake_app) as base:
        page = _page(browser, [])
        page.goto(f"{base}/dashboard")
        page.fill("#api-key", KEY)
        page.click("#key-form button")
        chart = page.locator("#spread-chart")
        expect(chart.locator("path.marker")).to_have_count(2, timeout=15_000)  # the cross signals, not triangular

        series = chart.locator("path.series")
        assert series.count() == 2
        colours = {series.nth(i).get_attribute("stroke") for i in range(2)}
        assert len(colours) == 2  # each route its own colour ...
        legend = chart.locator(".legend text").all_text_contents()
        assert legend == ["BTC/USDT binance\u2192okx", "ETH/USDT okx\u2192htx"]  # ... named in the legend

        threshold = chart.locator("line.threshold")
        assert threshold.count() == 1
        expect(chart.locator(".threshold-label")).to_have_text("signal threshold 30.0 bps")
        threshold_y = float(threshold.get_attribute("y1"))
        spike = chart.locator("path.marker").first
        assert "75.00 bps" in spike.locator("title").text_content()
        _, spike_y = _marker_centre(spike.get_attribute("d"))
        assert spike_y < threshold_y  # the +75 bps signal sits above the 30 bps line (svg y grows downward)

        # the BTC series reaches the marker's height: the chart plots the max (+75), not the mean (-25)
        btc = [(float(x), float(y)) for x, y in re.findall(r"[ML]([\d.]+),([\d.]+)", series.nth(0).get_attribute("d"))]
        top = [x for x, y in btc if y == pytest.approx(spike_y, abs=0.11)]
        assert len(top) == 2  # one step: from the spike window's start to its end ...
        spike_x, _ = _marker_centre(spike.get_attribute("d"))
        assert top[0] < spike_x < top[1]  # ... and the signal sits inside it
        assert spike.get_attribute("fill") == series.nth(0).get_attribute("stroke")  # in its route's colour
        assert chart.locator(".x-label").text_content().startswith("time UTC (receive clock)")
        assert chart.locator(".y-label").text_content() == "max net edge (bps)"
        assert page.locator("#spreads thead").inner_text().split("\t")[3] == "net edge max bps"

        expect(page.locator("#signals-count")).to_have_text("newest 3 of 3 in the lake: 2 cross, 1 triangular")
        assert page.locator("#signals tbody tr").count() == 3
        page.close()
