// arbflow dashboard charts: SVG line charts with labelled axes, ticks, one colour per series (legend), optional
// point markers (signals) and a horizontal threshold line. Loaded before app.js; defines globals only.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(name, attrs, parent) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

// distinct hues (golden-angle steps) and two lightnesses, so 18 routes never share a colour the way 8 CSS classes did
function seriesColour(i) {
  return `hsl(${Math.round((i * 137.508) % 360)}, 75%, ${i % 2 ? 72 : 56}%)`;
}

function utcLabel(x) {
  return new Date(x).toISOString().replace("T", " ").slice(0, 19);
}

function ticks(lo, hi, count) {
  return Array.from({ length: count }, (_, k) => lo + ((hi - lo) * k) / (count - 1));
}

// round values (1, 2 or 5 times a power of ten) inside [lo, hi], about `count` of them
function niceTicks(lo, hi, count) {
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = power * ([1, 2, 5, 10].find((m) => m * power >= raw) || 10);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

// series: [{name, points: [[x_ms, y], ...]}]
// opts: {area, xLabel, yLabel, markers: [{x, y, series, title}], threshold: {y, label}}
function lineChart(svg, series, opts = {}) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const width = Number(svg.getAttribute("viewBox").split(" ")[2]);
  const base = Number(svg.dataset.height || svg.getAttribute("viewBox").split(" ")[3]);
  svg.dataset.height = String(base);
  const legendRows = opts.area ? 0 : Math.ceil(series.length / 4);
  const height = base + legendRows * 13;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const pad = { l: 64, r: 10, t: 8, b: 30 + legendRows * 13 };
  const markers = opts.markers || [];
  const pts = series.flatMap((s) => s.points).concat(markers.map((m) => [m.x, m.y]));
  if (!pts.length) {
    svgEl("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, svg).textContent = "no data yet";
    return;
  }
  const ys = pts.map((p) => p[1]).concat(opts.threshold ? [opts.threshold.y] : []);
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = [Math.min(0, ...ys), Math.max(0, ...ys)];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) y1 = y0 + 1;
  const plotBottom = height - pad.b;
  const sx = (x) => pad.l + ((x - x0) / (x1 - x0)) * (width - pad.l - pad.r);
  const sy = (y) => plotBottom - ((y - y0) / (y1 - y0)) * (plotBottom - pad.t);
  svgEl("line", { class: "axis", x1: pad.l, x2: pad.l, y1: pad.t, y2: plotBottom }, svg);
  svgEl("line", { class: "axis", x1: pad.l, x2: width - pad.r, y1: plotBottom, y2: plotBottom }, svg);
  svgEl("line", { class: "zero", x1: pad.l, x2: width - pad.r, y1: sy(0), y2: sy(0) }, svg);
  for (const y of niceTicks(y0, y1, 8)) {
    svgEl("line", { class: "grid", x1: pad.l, x2: width - pad.r, y1: sy(y), y2: sy(y) }, svg);
    svgEl("text", { x: pad.l - 4, y: sy(y) + 3, "text-anchor": "end" }, svg).textContent = String(+y.toFixed(6));
  }
  ticks(x0, x1, 4).forEach((x, k) => {
    const anchor = k === 0 ? "start" : k === 3 ? "end" : "middle";
    svgEl("text", { x: sx(x), y: plotBottom + 12, "text-anchor": anchor }, svg).textContent = utcLabel(x);
  });
  if (opts.xLabel) {
    svgEl("text", { class: "axis-label x-label", x: (pad.l + width) / 2, y: plotBottom + 24, "text-anchor": "middle" }, svg)
      .textContent = opts.xLabel;
  }
  if (opts.yLabel) {
    const cy = (pad.t + plotBottom) / 2;
    svgEl("text", { class: "axis-label y-label", x: 10, y: cy, transform: `rotate(-90 10 ${cy})`, "text-anchor": "middle" }, svg)
      .textContent = opts.yLabel;
  }
  if (opts.threshold) {
    const ty = sy(opts.threshold.y);
    svgEl("line", { class: "threshold", x1: pad.l, x2: width - pad.r, y1: ty, y2: ty }, svg);
    svgEl("text", { class: "threshold-label", x: width - pad.r - 2, y: ty - 3, "text-anchor": "end" }, svg).textContent =
      opts.threshold.label;
  }
  series.forEach((s, i) => {
    const colour = seriesColour(i);
    if (s.points.length) {
      let d = s.points.map((p, k) => `${k ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
      if (opts.area) {
        const [first, last] = [s.points[0][0], s.points[s.points.length - 1][0]];
        d += ` L${sx(last).toFixed(1)},${sy(0)} L${sx(first).toFixed(1)},${sy(0)} Z`;
      }
      svgEl("path", opts.area ? { d, class: "area" } : { d, class: "series", stroke: colour, "data-series": s.name }, svg);
    }
    if (!opts.area) {
      const g = svgEl("g", { class: "legend" }, svg);
      const lx = pad.l + (i % 4) * 205;
      const ly = height - legendRows * 13 + Math.floor(i / 4) * 13 + 4;
      svgEl("line", { x1: lx, x2: lx + 12, y1: ly - 3, y2: ly - 3, stroke: colour }, g);
      svgEl("text", { x: lx + 16, y: ly }, g).textContent = s.name;
    }
  });
  for (const m of markers) {
    const [cx, cy] = [sx(m.x), sy(m.y)];
    const d = `M${cx.toFixed(1)},${(cy - 5).toFixed(1)} l4,5 l-4,5 l-4,-5 Z`; // a diamond centred on the point
    const marker = svgEl("path", { d, class: "marker", fill: seriesColour(m.series) }, svg);
    svgEl("title", {}, marker).textContent = m.title;
  }
}
