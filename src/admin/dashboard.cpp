// The page polls /stats.json every second and /events every two, keeps the last five minutes
// in memory, and draws on <canvas>: per pool the connections by state, and acquire-wait p50 and
// p99 per interval, computed from the deltas of the cumulative histogram buckets between two
// polls (so a figure covers that second, not the pool's whole life).
#include "dashboard.hpp"

namespace reservoir::admin::detail {

std::string_view dashboard_html() noexcept {
  static constexpr std::string_view kPage = R"HTML(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>reservoir dashboard</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:16px;background:#f7f7f9;color:#222}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:0 0 6px}
.meta{color:#666;margin-bottom:12px} .bad{color:#b00020;font-weight:600} .good{color:#1b7f3a;font-weight:600}
.pool{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px;margin-bottom:12px}
.charts{display:flex;gap:12px;flex-wrap:wrap} canvas{border:1px solid #eee;background:#fff}
table{border-collapse:collapse;background:#fff} td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f0f0f4} td.l,th.l{text-align:left} .legend span{margin-right:12px}
#events{max-height:320px;overflow:auto}
</style></head><body>
<h1>reservoir</h1>
<div class="meta">health: <span id="health">?</span> · polls: <span id="polls">0</span> · updated <span id="updated">never</span></div>
<div id="pools"></div>
<h2>Circuit breakers</h2>
<table id="breakers"><thead><tr><th class="l">endpoint</th><th class="l">state</th><th>trips</th><th>rejected</th><th>probes</th></tr></thead><tbody></tbody></table>
<h2 style="margin-top:12px">Recent events</h2>
<div id="events"><table><thead><tr><th class="l">time</th><th class="l">kind</th><th class="l">pool / endpoint</th><th class="l">detail</th></tr></thead><tbody></tbody></table></div>
<script>
"use strict";
const HISTORY = 300;           // samples kept: five minutes at one per second
const state = {polls: 0, pools: {}, lastEvent: 0, events: []};
const colors = {idle: "#2e7d32", in_use: "#1565c0", connecting: "#f9a825", waiting: "#c62828", p50: "#1565c0", p99: "#c62828"};

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}

// The q-quantile of the samples between two cumulative bucket snapshots, interpolated inside
// the bucket that holds it; null when nothing was recorded in between.
function quantile(prev, cur, q) {
  const n = cur.count - (prev ? prev.count : 0);
  if (n <= 0) return null;
  const target = q * n;
  let lower = 0;
  for (let i = 0; i < cur.bounds_s.length; i++) {
    const below = (prev ? prev.cumulative[i] : 0), c = cur.cumulative[i] - below;
    const before = i === 0 ? 0 : cur.cumulative[i - 1] - (prev ? prev.cumulative[i - 1] : 0);
    if (c >= target) {
      const inBucket = c - before;
      const frac = inBucket > 0 ? (target - before) / inBucket : 1;
      return lower + (cur.bounds_s[i] - lower) * Math.max(0, Math.min(1, frac));
    }
    lower = cur.bounds_s[i];
  }
  return lower;  // beyond the last bound
}

function fmtSeconds(s) {
  if (s === null || s === undefined) return "–";
  if (s < 1e-3) return (s * 1e6).toFixed(1) + " µs";
  if (s < 1) return (s * 1e3).toFixed(2) + " ms";
  return s.toFixed(2) + " s";
}

// Lines for `series`; those with `stack: true` are drawn as stacked areas first (so equal
// values never hide each other). The x axis spans the last minute, or more once there is more.
function drawChart(canvas, series, fmt) {
  const ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height, pad = 36;
  ctx.clearRect(0, 0, w, h);
  const n = Math.max(60, ...series.map(s => s.values.length));
  const stacked = series.filter(s => s.stack), lines = series.filter(s => !s.stack);
  const len = series.length ? series[0].values.length : 0;
  const tops = [];
  let acc = new Array(len).fill(0);
  for (const s of stacked) { acc = acc.map((a, i) => a + (s.values[i] || 0)); tops.push(acc); }
  let max = 0;
  for (const t of tops) for (const v of t) if (v > max) max = v;
  for (const s of lines) for (const v of s.values) if (v !== null && v > max) max = v;
  if (max === 0) max = 1;
  const X = i => pad + (w - pad - 4) * i / Math.max(1, n - 1);
  const Y = v => h - pad / 2 - (h - pad) * v / max;
  ctx.strokeStyle = "#ddd"; ctx.fillStyle = "#666"; ctx.font = "10px sans-serif";
  for (let g = 0; g <= 4; g++) {
    const y = Y(max * g / 4);
    ctx.beginPath(); ctx.moveTo(pad, y); ctx.lineTo(w - 4, y); ctx.stroke();
    ctx.fillText(fmt(max * g / 4), 2, y - 2);
  }
  stacked.forEach((s, k) => {
    if (len === 0) return;
    const top = tops[k], bottom = k === 0 ? new Array(len).fill(0) : tops[k - 1];
    ctx.fillStyle = s.color; ctx.globalAlpha = 0.55; ctx.beginPath();
    for (let i = 0; i < len; i++) ctx.lineTo(X(i), Y(top[i]));
    for (let i = len - 1; i >= 0; i--) ctx.lineTo(X(i), Y(bottom[i]));
    ctx.closePath(); ctx.fill(); ctx.globalAlpha = 1;
  });
  for (const s of lines) {
    ctx.strokeStyle = s.color; ctx.lineWidth = 2; ctx.setLineDash(s.dash ? [4, 3] : []); ctx.beginPath();
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null) { pen = false; return; }
      if (pen) ctx.lineTo(X(i), Y(v)); else ctx.moveTo(X(i), Y(v));
      pen = true;
    });
    ctx.stroke(); ctx.setLineDash([]);
  }
}

function poolCard(name) {
  const card = el("div", {class: "pool", "data-pool": name});
  card.appendChild(el("h2", {}, name));
  const figures = el("table", {class: "figures"});
  const head = el("tr"), row = el("tr");
  for (const f of ["endpoint", "idle", "in_use", "connecting", "max_size", "waiting", "acquires", "timeouts", "created", "closed", "p50", "p99"]) {
    head.appendChild(el("th", {class: f === "endpoint" ? "l" : ""}, f === "p50" ? "wait p50" : f === "p99" ? "wait p99" : f));
    row.appendChild(el("td", {class: f === "endpoint" ? "l " + f : f, "data-figure": f}, "–"));
  }
  figures.appendChild(head); figures.appendChild(row); card.appendChild(figures);
  const charts = el("div", {class: "charts"});
  const conn = el("canvas", {width: 480, height: 180, class: "connections"});
  const wait = el("canvas", {width: 480, height: 180, class: "wait"});
  const c1 = el("div"), c2 = el("div");
  c1.appendChild(el("div", {class: "legend"})).innerHTML = '<span style="color:#1565c0">■ in use</span><span style="color:#2e7d32">■ idle</span><span style="color:#f9a825">■ connecting</span><span style="color:#c62828">- - waiting</span>';
  c1.appendChild(conn);
  c2.appendChild(el("div", {class: "legend"})).innerHTML = '<span style="color:#1565c0">acquire wait p50</span><span style="color:#c62828">p99</span>';
  c2.appendChild(wait);
  charts.appendChild(c1); charts.appendChild(c2); card.appendChild(charts);
  document.getElementById("pools").appendChild(card);
  return {card, conn, wait, history: [], prevBuckets: null};
}

function onStats(doc) {
  state.polls++;
  document.getElementById("polls").textContent = state.polls;
  document.getElementById("updated").textContent = new Date(doc.time_ms).toLocaleTimeString();
  const health = document.getElementById("health");
  health.textContent = doc.health.healthy ? "healthy" : "UNHEALTHY: " +
      doc.health.components.filter(c => !c.healthy).map(c => c.name + " (" + c.reasons.join("; ") + ")").join(", ");
  health.className = doc.health.healthy ? "good" : "bad";
  const seen = new Set();
  for (const p of doc.pools) {
    seen.add(p.name);
    const view = state.pools[p.name] || (state.pools[p.name] = poolCard(p.name));
    const s = p.stats, b = s.acquire_wait_buckets;
    const sample = {idle: s.idle, in_use: s.in_use, connecting: s.connecting, waiting: s.waiting,
                    p50: quantile(view.prevBuckets, b, 0.5), p99: quantile(view.prevBuckets, b, 0.99)};
    view.prevBuckets = b;
    view.history.push(sample);
    if (view.history.length > HISTORY) view.history.shift();
    const figures = {endpoint: p.endpoint, idle: s.idle, in_use: s.in_use, connecting: s.connecting, max_size: s.max_size,
                     waiting: s.waiting, acquires: s.acquires, timeouts: s.timeouts, created: s.created, closed: s.closed,
                     p50: fmtSeconds(sample.p50), p99: fmtSeconds(sample.p99)};
    for (const k in figures) view.card.querySelector('[data-figure="' + k + '"]').textContent = figures[k];
    const series = k => view.history.map(h => h[k]);
    drawChart(view.conn, ["in_use", "idle", "connecting"].map(k => ({color: colors[k], values: series(k), stack: true}))
        .concat([{color: colors.waiting, values: series("waiting"), dash: true}]), v => v.toFixed(1));
    drawChart(view.wait, ["p50", "p99"].map(k => ({color: colors[k], values: series(k)})), fmtSeconds);
  }
  for (const name in state.pools) if (!seen.has(name)) { state.pools[name].card.remove(); delete state.pools[name]; }
  const body = document.querySelector("#breakers tbody");
  body.textContent = "";
  for (const br of doc.breakers) {
    const tr = el("tr", {"data-breaker": br.endpoint});
    tr.appendChild(el("td", {class: "l"}, br.endpoint));
    tr.appendChild(el("td", {class: "l " + (br.state === "closed" ? "good" : "bad")}, br.state));
    for (const k of ["trips", "rejected", "probes"]) tr.appendChild(el("td", {}, br[k]));
    body.appendChild(tr);
  }
}

function onEvents(doc) {
  for (const e of doc.events) { state.events.unshift(e); state.lastEvent = Math.max(state.lastEvent, e.seq); }
  state.events.length = Math.min(state.events.length, 100);
  const body = document.querySelector("#events tbody");
  body.textContent = "";
  for (const e of state.events) {
    const tr = el("tr", {class: "event"});
    tr.appendChild(el("td", {class: "l"}, new Date(e.unix_ms).toLocaleTimeString()));
    tr.appendChild(el("td", {class: "l"}, e.kind));
    tr.appendChild(el("td", {class: "l"}, e.pool || e.endpoint || ""));
    const detail = [e.reason, e.error, e.duration_ms ? e.duration_ms.toFixed(1) + " ms" : "", e.where].filter(x => x).join(" · ");
    tr.appendChild(el("td", {class: "l"}, detail));
    body.appendChild(tr);
  }
}

async function poll(url, handler) {
  try {
    const r = await fetch(url, {cache: "no-store"});
    handler(await r.json());
  } catch (err) {
    document.getElementById("health").textContent = "endpoint unreachable";
    document.getElementById("health").className = "bad";
  }
}

async function tick() {
  await poll("stats.json", onStats);
  setTimeout(tick, 1000);
}
async function tickEvents() {
  await poll("events?after=" + state.lastEvent, onEvents);
  setTimeout(tickEvents, 2000);
}
tick();
tickEvents();
</script></body></html>
)HTML";
  return kPage;
}

}  // namespace reservoir::admin::detail
