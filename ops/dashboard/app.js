// arbflow dashboard: polls GET /api/dashboard/overview (one keyed request per refresh) and draws tables and SVG charts
// (chart.js); the live signals panel is fed by the signal stream instead (live.js).
// The API key is asked once and kept in sessionStorage (gone when the tab closes); it is sent as x-api-key.
// Data is written with textContent only (never innerHTML), so nothing from the lake can inject markup.
"use strict";

const KEY_STORE = "arbflow.apiKey";
const REFRESH_MS = 3000; // 20 requests/min: well below the API's 100 per minute per key
let timer = null;

const $ = (id) => document.getElementById(id);
const fmt = (v, digits = 2) =>
  v === null || v === undefined ? "" : typeof v === "number" && !Number.isInteger(v) ? v.toFixed(digits) : String(v);
const time = (v) => (v ? new Date(v).toISOString().replace("T", " ").slice(0, 23) : "");
const ms = (v) => (v ? Date.parse(v) : NaN);

function setMessage(text) {
  $("message").textContent = text || "";
  $("message").hidden = !text;
}

// columns: [header, row => value, optional "num"]
function renderTable(id, rows, columns) {
  const table = $(id);
  const head = table.tHead;
  if (!head.rows.length) {
    const tr = head.insertRow();
    for (const [label] of columns) {
      const th = document.createElement("th");
      th.textContent = label;
      tr.appendChild(th);
    }
  }
  const body = document.createElement("tbody");
  for (const row of rows) {
    const tr = body.insertRow();
    for (const [, value, kind] of columns) {
      const td = tr.insertCell();
      const v = value(row);
      td.textContent = typeof v === "object" && v !== null ? v.text : fmt(v);
      if (kind === "num") td.className = "num";
      if (typeof v === "object" && v !== null && v.cls) td.className = v.cls;
    }
  }
  table.replaceChild(body, table.tBodies[0]);
}

function routeKey(r) {
  return `${r.symbol} ${r.buy_exchange}\u2192${r.sell_exchange}`;
}

// The max net edge per closed window (a mean hides the spikes that became signals), the cross signals as markers in
// their route's colour, and the signal threshold cross.min_net_edge_bps as a line.
function renderSpreads(chart) {
  const routes = new Map();
  for (const w of chart.windows) {
    const key = routeKey(w);
    if (!routes.has(key)) routes.set(key, []);
    routes.get(key).push(w);
  }
  for (const s of chart.signals) if (!routes.has(routeKey(s))) routes.set(routeKey(s), []);
  const names = [...routes.keys()];
  lineChart(
    $("spread-chart"),
    // a step per window (its max holds from window start to end), so a signal sits inside its window's step
    [...routes].map(([name, ws]) => ({
      name,
      points: ws.flatMap((w) => [
        [ms(w.window_start), w.net_edge_bps_max],
        [ms(w.window_end), w.net_edge_bps_max],
      ]),
    })),
    {
      xLabel: "time UTC (receive clock); each step is one closed window",
      yLabel: "max net edge (bps)",
      threshold: { y: chart.min_net_edge_bps, label: `signal threshold ${chart.min_net_edge_bps.toFixed(1)} bps` },
      markers: chart.signals.map((s) => ({
        x: ms(s.ts_signal),
        y: s.net_edge_bps,
        series: names.indexOf(routeKey(s)),
        title: `signal ${routeKey(s)} ${s.net_edge_bps.toFixed(2)} bps at ${time(s.ts_signal)} UTC`,
      })),
    },
  );
  const latest = [...routes]
    .filter(([, ws]) => ws.length)
    .map(([name, ws]) => ({ name, w: ws[ws.length - 1], signals: ws.reduce((a, w) => a + w.signals, 0) }));
  renderTable("spreads", latest, [
    ["route", (r) => r.name],
    ["window end", (r) => time(r.w.window_end)],
    ["evaluations", (r) => r.w.evaluations, "num"],
    ["net edge max bps", (r) => r.w.net_edge_bps_max, "num"],
    ["mean", (r) => r.w.net_edge_bps_mean, "num"],
    ["min", (r) => r.w.net_edge_bps_min, "num"],
    ["signals (shown windows)", (r) => r.signals, "num"],
  ]);
}

// "the 20 newest of 45 signals: 18 cross, 27 triangular" (what the table lists, by strategy, and the lake totals)
function signalsHeader(shown, strategies) {
  const byStrategy = new Map();
  for (const r of shown) byStrategy.set(r.strategy, (byStrategy.get(r.strategy) || 0) + 1);
  const total = strategies.reduce((a, s) => a + (s.signals || 0), 0);
  const parts = [...byStrategy].map(([k, n]) => `${n} ${k}`).join(", ");
  return shown.length ? `newest ${shown.length} of ${total} in the lake: ${parts}` : `none of ${total} yet`;
}

function render(data) {
  renderSpreads(data.spread_chart);
  $("signals-count").textContent = signalsHeader(data.signals, data.strategies);
  renderTable("signals", data.signals, [
    ["ts (recv)", (r) => time(r.ts_signal)],
    ["strategy", (r) => r.strategy],
    ["symbol", (r) => r.symbol],
    ["buy", (r) => r.buy_exchange],
    ["sell", (r) => r.sell_exchange],
    ["net bps", (r) => r.net_edge_bps, "num"],
    ["profit", (r) => r.expected_profit_quote, "num"],
  ]);
  renderTable("opportunities", data.opportunities, [
    ["first seen", (r) => time(r.first_seen)],
    ["strategy", (r) => r.strategy],
    ["route", (r) => r.route],
    ["ms", (r) => r.duration_ms, "num"],
    ["peak bps", (r) => r.net_edge_bps_peak, "num"],
    ["size", (r) => r.size_max_quote, "num"],
  ]);
  const pnlPoints = data.pnl.map((p) => [ms(p.ts_metrics), p.pnl_usdt]);
  lineChart($("pnl-chart"), [{ name: "PnL net of fees (USDT)", points: pnlPoints }], {
    xLabel: "time UTC (receive clock)",
    yLabel: "PnL (USDT)",
  });
  const ddPoints = data.pnl.map((p) => [ms(p.ts_metrics), -100 * p.drawdown]);
  lineChart($("drawdown-chart"), [{ name: "drawdown", points: ddPoints }], { area: true, yLabel: "drawdown %" });
  const risk = data.risk;
  $("risk-level").textContent = risk ? risk.risk_level + (risk.kill_switch ? " \u00b7 KILL SWITCH" : "") : "n/a";
  $("risk-level").className = `badge level-${risk ? risk.risk_level : "none"}`;
  const dl = document.createElement("dl");
  dl.id = "risk";
  const facts = risk
    ? [
        ["tick (recv)", time(risk.ts_metrics)],
        ["equity USDT", fmt(risk.equity_usdt)],
        ["daily PnL USDT", fmt(risk.daily_pnl_usdt)],
        ["drawdown", `${fmt(100 * risk.drawdown, 3)} % (max ${fmt(100 * risk.max_drawdown, 3)} %)`],
        ["VaR95 hist USDT", fmt(risk.var95_hist_usdt)],
        ["exposure gross / net", `${fmt(risk.gross_exposure_usdt)} / ${fmt(risk.net_exposure_usdt)}`],
        ["signals total / executed / blocked", `${risk.signals_total} / ${risk.signals_executed} / ${risk.signals_blocked}`],
        ["kill reason", risk.kill_reason || ""],
      ]
    : [["risk metrics", "none yet"]];
  for (const [k, v] of facts) {
    dl.appendChild(document.createElement("dt")).textContent = k;
    dl.appendChild(document.createElement("dd")).textContent = v;
  }
  $("risk").replaceWith(dl);
  renderTable("alerts", data.alerts, [
    ["ts", (r) => time(r.ts_alert)],
    ["severity", (r) => ({ text: r.severity, cls: r.severity === "critical" ? "down" : r.severity === "warning" ? "stale" : "" })],
    ["name", (r) => r.name],
    ["message", (r) => r.message],
  ]);
  const rejected = new Map();
  for (const r of data.quality.rejected) rejected.set(r.exchange, (rejected.get(r.exchange) || 0) + r.rows);
  renderTable("quality-clean", data.quality.clean_by_exchange, [
    ["exchange", (r) => r.exchange],
    ["clean quotes", (r) => r.rows, "num"],
    ["rejected", (r) => rejected.get(r.exchange) || 0, "num"],
    ["rejected %", (r) => (100 * (rejected.get(r.exchange) || 0)) / (r.rows + (rejected.get(r.exchange) || 0)), "num"],
  ]);
  renderTable("quality-rejected", data.quality.rejected, [
    ["exchange", (r) => r.exchange],
    ["stage", (r) => r.stage],
    ["reason", (r) => r.reason],
    ["rows", (r) => r.rows, "num"],
  ]);
  renderTable("validation", data.quality.validation, [
    ["suite", (r) => r.suite],
    ["severity", (r) => r.severity],
    ["runs", (r) => r.runs, "num"],
    ["failed", (r) => ({ text: String(r.failed_runs), cls: r.failed_runs ? "stale" : "up" })],
    ["rows in", (r) => r.rows_in, "num"],
    ["unexpected", (r) => r.rows_unexpected, "num"],
  ]);
  renderTable("feeds", data.collectors, [
    ["exchange", (r) => r.exchange],
    ["source", (r) => `${r.source_kind} (${r.transport})`],
    ["feed", (r) => (r.feed_up === null ? { text: "no feed events (replay)" } : r.feed_up ? { text: "up", cls: "up" } : { text: "down", cls: "down" })],
    ["last event", (r) => (r.feed ? `${r.feed.last_kind} ${time(r.feed.last_event_ts)}` : "")],
    ["disconnects", (r) => (r.feed ? r.feed.disconnects : 0), "num"],
    ["stalls", (r) => (r.feed ? r.feed.stalls : 0), "num"],
    ["gaps", (r) => (r.feed ? r.feed.gaps : 0), "num"],
    ["detail", (r) => (r.feed ? r.feed.last_detail : "")],
  ]);
  renderTable("modules", data.modules, [
    ["module", (r) => r.module],
    ["status", (r) => ({ text: r.status, cls: r.status })],
    ["beat age s", (r) => r.age_s, "num"],
    ["counters", (r) => Object.entries(r.counters || {}).map(([k, v]) => `${k}=${fmt(v, 0)}`).join(" ")],
  ]);
  const sup = data.supervisor;
  const flow = sup ? `dataflow ${sup.state}, ${sup.restarts} restarts` : "dataflow not supervised by this API";
  $("status").textContent = `updated ${time(data.ts)} UTC \u00b7 ${flow}`;
}

async function refresh() {
  const key = sessionStorage.getItem(KEY_STORE);
  if (!key) return;
  let next = REFRESH_MS;
  try {
    const response = await fetch("/api/dashboard/overview", { headers: { "x-api-key": key }, cache: "no-store" });
    if (response.status === 401) {
      sessionStorage.removeItem(KEY_STORE);
      showKeyForm(true);
      setMessage("The API key was refused (401). Enter a valid key.");
      return;
    }
    if (response.status === 429) {
      next = 1000 * Number(response.headers.get("Retry-After") || 10);
      setMessage(`Rate limited (429); retrying in ${next / 1000} s.`);
    } else if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      setMessage(`API error ${response.status}: ${body.error ? `${body.error.code} ${body.error.message} ${body.error.detail || ""}` : ""}`);
    } else {
      render(await response.json());
      setMessage("");
    }
  } catch (err) {
    setMessage(`API unreachable: ${err}`);
  }
  timer = setTimeout(refresh, next);
}

// Without a key the page shows only the key prompt (no empty "not connected" panels).
function showKeyForm(show) {
  $("key-prompt").hidden = !show;
  $("panels").hidden = show;
  $("forget-key").hidden = show;
  if (show) {
    live.stop();
    $("status").textContent = "API key needed";
    $("api-key").focus();
  }
}

const liveRows = [];
const live = new LiveSignals(
  (state, detail) => {
    $("live-state").textContent = state;
    $("live-state").className = `badge live-${state}`;
    $("live-state").title = detail;
    $("live-count").textContent = detail;
  },
  (row, id) => {
    if (liveRows.some((r) => r.id === id)) return; // a replay after reconnecting may repeat the newest
    liveRows.unshift({ id, row, seen: new Date().toISOString() });
    liveRows.length = Math.min(liveRows.length, LIVE_ROWS);
    renderTable("live-signals", liveRows, [
      ["ts (recv)", (r) => time(r.row.ts_signal)],
      ["arrived (wall)", (r) => time(r.seen)],
      ["strategy", (r) => r.row.strategy],
      ["symbol", (r) => r.row.symbol],
      ["buy", (r) => r.row.buy_exchange],
      ["sell", (r) => r.row.sell_exchange],
      ["net bps", (r) => r.row.net_edge_bps, "num"],
    ]);
  },
);

function connect(key) {
  sessionStorage.setItem(KEY_STORE, key);
  showKeyForm(false);
  clearTimeout(timer);
  refresh();
  live.start(key);
}

document.addEventListener("DOMContentLoaded", () => {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    $("api-key").value = "";
    connect(key);
  });
  $("forget-key").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORE);
    clearTimeout(timer);
    showKeyForm(true);
  });
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) connect(key);
  else showKeyForm(true);
});
