// arbflow dashboard: polls GET /api/dashboard/overview (one keyed request per refresh) and draws tables and SVG charts.
// The API key is asked once and kept in sessionStorage (gone when the tab closes); it is sent as x-api-key.
// Data is written with textContent only (never innerHTML), so nothing from the lake can inject markup.
"use strict";

const KEY_STORE = "arbflow.apiKey";
const REFRESH_MS = 3000; // 20 requests/min: well below the API's 100 per minute per key
const SVG_NS = "http://www.w3.org/2000/svg";
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

function svgEl(name, attrs, parent) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

// series: [{name, points: [[x_ms, y], ...]}]; draws lines (or an area for opts.area) with a y axis and legend
function lineChart(svg, series, opts = {}) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const [, , width, height] = svg.getAttribute("viewBox").split(" ").map(Number);
  const pad = { l: 56, r: 8, t: 8, b: 18 };
  const pts = series.flatMap((s) => s.points);
  if (!pts.length) {
    svgEl("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, svg).textContent = "no data yet";
    return;
  }
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = [Math.min(0, ...pts.map((p) => p[1])), Math.max(0, ...pts.map((p) => p[1]))];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) y1 = y0 + 1;
  const sx = (x) => pad.l + ((x - x0) / (x1 - x0)) * (width - pad.l - pad.r);
  const sy = (y) => height - pad.b - ((y - y0) / (y1 - y0)) * (height - pad.t - pad.b);
  svgEl("line", { class: "axis", x1: pad.l, x2: pad.l, y1: pad.t, y2: height - pad.b }, svg);
  svgEl("line", { class: "zero", x1: pad.l, x2: width - pad.r, y1: sy(0), y2: sy(0) }, svg);
  for (const y of [y0, y1]) {
    svgEl("text", { x: pad.l - 4, y: sy(y) + 3, "text-anchor": "end" }, svg).textContent = fmt(y, opts.digits ?? 1);
  }
  svgEl("text", { x: pad.l, y: height - 4 }, svg).textContent = time(new Date(x0).toISOString()).slice(0, 19);
  svgEl("text", { x: width - pad.r, y: height - 4, "text-anchor": "end" }, svg).textContent = time(
    new Date(x1).toISOString(),
  ).slice(0, 19);
  series.forEach((s, i) => {
    if (!s.points.length) return;
    let d = s.points.map((p, k) => `${k ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
    if (opts.area) d += ` L${sx(s.points[s.points.length - 1][0]).toFixed(1)},${sy(0)} L${sx(s.points[0][0]).toFixed(1)},${sy(0)} Z`;
    svgEl("path", { d, class: opts.area ? "area" : `s${i % 8}` }, svg);
    if (!opts.area && s.points.length <= 60) {
      for (const p of s.points) svgEl("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 2.5, class: `dot s${i % 8}` }, svg);
    }
    if (!opts.area) {
      const g = svgEl("g", { class: "legend" }, svg);
      const lx = pad.l + 10 + (i % 4) * 200;
      const ly = pad.t + 8 + Math.floor(i / 4) * 12;
      svgEl("line", { x1: lx, x2: lx + 10, y1: ly - 3, y2: ly - 3, class: `s${i % 8}` }, g);
      svgEl("text", { x: lx + 14, y: ly }, g).textContent = s.name;
    }
  });
}

function routeKey(r) {
  return `${r.symbol} ${r.buy_exchange}\u2192${r.sell_exchange}`;
}

function renderSpreads(windows) {
  const routes = new Map();
  for (const w of windows) {
    const key = routeKey(w);
    if (!routes.has(key)) routes.set(key, []);
    routes.get(key).push(w);
  }
  lineChart(
    $("spread-chart"),
    [...routes].map(([name, ws]) => ({ name, points: ws.map((w) => [ms(w.window_end), w.net_edge_bps_mean]) })),
  );
  const latest = [...routes].map(([name, ws]) => ({ name, w: ws[ws.length - 1], signals: ws.reduce((a, w) => a + w.signals, 0) }));
  renderTable("spreads", latest, [
    ["route", (r) => r.name],
    ["window end", (r) => time(r.w.window_end)],
    ["evaluations", (r) => r.w.evaluations, "num"],
    ["net edge mean bps", (r) => r.w.net_edge_bps_mean, "num"],
    ["min", (r) => r.w.net_edge_bps_min, "num"],
    ["max", (r) => r.w.net_edge_bps_max, "num"],
    ["signals (shown windows)", (r) => r.signals, "num"],
  ]);
}

function render(data) {
  renderSpreads(data.spread_windows);
  const cross = data.strategies.find((s) => s.name === "cross");
  $("signals-count").textContent = cross ? `${cross.signals} cross signals in the lake` : "";
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
  lineChart($("pnl-chart"), [{ name: "PnL net of fees (USDT)", points: data.pnl.map((p) => [ms(p.ts_metrics), p.pnl_usdt]) }]);
  lineChart($("drawdown-chart"), [{ name: "drawdown", points: data.pnl.map((p) => [ms(p.ts_metrics), -100 * p.drawdown]) }], {
    area: true,
    digits: 3,
  });
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

function showKeyForm(show) {
  $("key-form").hidden = !show;
  $("forget-key").hidden = show;
}

document.addEventListener("DOMContentLoaded", () => {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORE, $("api-key").value.trim());
    $("api-key").value = "";
    showKeyForm(false);
    clearTimeout(timer);
    refresh();
  });
  $("forget-key").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORE);
    clearTimeout(timer);
    showKeyForm(true);
    $("status").textContent = "not connected";
  });
  const hasKey = Boolean(sessionStorage.getItem(KEY_STORE));
  showKeyForm(!hasKey);
  if (hasKey) refresh();
});
