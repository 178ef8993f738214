"""The web monitor's page: one HTML document with its style and script.

The script opens ``/events`` (Server-Sent Events, :mod:`.web`), and on every snapshot
redraws the explorer: exchanges (state, tasks, entries, rounds per second), their
latest checkpoints and what verified, the richest identities across exchanges, the
latest rounds, and a wealth chart of the richest identities over time (a canvas). Each
snapshot is also kept as ``window.catallax`` and announced with a ``catallax-update``
event, so that a browser test can wait for what it checks.
"""

# ruff: noqa: E501  (the page is HTML, CSS and JavaScript, not Python)
from __future__ import annotations

__all__ = ["PAGE"]

PAGE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>catallax monitor</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.2em 2em; color: #1d2330; background: #f7f8fa; }
  h1 { font-size: 1.4em; margin: 0 0 .2em; }
  h2 { font-size: 1.05em; margin: 1.2em 0 .4em; color: #38435a; }
  .sub { color: #667; margin-bottom: 1em; }
  table { border-collapse: collapse; width: 100%; background: #fff; box-shadow: 0 1px 2px #0001; }
  th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid #e4e7ec; white-space: nowrap; }
  th { background: #eef1f6; font-weight: 600; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .ok { color: #17803d; font-weight: 600; } .bad { color: #c0262d; font-weight: 700; }
  .grid { display: grid; grid-template-columns: 1fr 1fr; gap: 1.5em; }
  canvas { background: #fff; box-shadow: 0 1px 2px #0001; width: 100%; height: 280px; }
  code { font-size: 12px; }
  .legend span { display: inline-block; margin-right: 1em; font-size: 12px; }
</style>
</head>
<body>
<h1>catallax monitor</h1>
<div class="sub">exchanges seen live; <span id="updated">waiting for the first update</span></div>
<h2>exchanges and tasks</h2>
<table id="exchanges"><thead><tr><th>exchange</th><th>origin</th><th>state</th><th>address</th>
<th>tasks</th><th>entries</th><th>rounds</th><th>rounds/s</th></tr></thead><tbody></tbody></table>
<h2>checkpoints</h2>
<table id="checkpoints"><thead><tr><th>exchange</th><th>size</th><th>root</th><th>signature</th>
<th>consistent from</th><th>entries give its root</th><th>alarm</th></tr></thead><tbody></tbody></table>
<div class="grid">
<div><h2>richest identities (credits, across exchanges)</h2>
<table id="richest"><thead><tr><th>identity</th><th>total</th><th>by exchange</th></tr></thead>
<tbody></tbody></table></div>
<div><h2>wealth of the richest over time</h2><canvas id="chart" width="900" height="280"></canvas>
<div class="legend" id="legend"></div></div>
</div>
<h2>latest rounds</h2>
<table id="rounds"><thead><tr><th>exchange</th><th>task</th><th>round</th><th>entries</th>
<th>winners (price, credits)</th><th>rewards</th><th>transfers</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"];
function cell(text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; }
function fill(id, rows) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(...rows);
}
function row(cells, attrs) {
  const tr = document.createElement("tr");
  for (const [k, v] of Object.entries(attrs || {})) tr.dataset[k] = v;
  tr.append(...cells); return tr;
}
function mark(v) { return v === true ? ["yes", "ok"] : v === false ? ["NO", "bad"] : ["-", ""]; }
function short(account) { const p = account.split("."); return p.length > 2 ? p[1].slice(0, 12) : account; }
function draw(history, richest) {
  const canvas = document.getElementById("chart"), g = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 40;
  g.clearRect(0, 0, w, h);
  const who = richest.slice(0, 6).map(r => r.identity);
  const points = history.map(p => who.map(i => p.wealth.find(([n]) => n === i)?.[1] ?? null));
  const values = points.flat().filter(v => v !== null);
  if (!values.length) return;
  const min = Math.min(...values), max = Math.max(...values), pad5 = (max - min) * 0.05 || 1;
  const lo = min - pad5, hi = max + pad5;
  g.strokeStyle = "#ccd"; g.beginPath(); g.moveTo(pad, 10); g.lineTo(pad, h - pad); g.lineTo(w - 10, h - pad); g.stroke();
  g.fillStyle = "#556"; g.font = "12px sans-serif";
  g.fillText(hi.toFixed(2), 2, 16); g.fillText(lo.toFixed(2), 2, h - pad);
  g.fillText("checkpoints seen →", w - 130, h - 12);
  const x = k => pad + (w - pad - 10) * (points.length < 2 ? 0 : k / (points.length - 1));
  const y = v => (h - pad) - (h - pad - 10) * (v - lo) / (hi - lo || 1);
  who.forEach((name, j) => {
    g.strokeStyle = COLORS[j % COLORS.length]; g.lineWidth = 2; g.beginPath();
    let started = false;
    points.forEach((p, k) => { if (p[j] === null) return; if (!started) { g.moveTo(x(k), y(p[j])); started = true; } else g.lineTo(x(k), y(p[j])); });
    g.stroke();
  });
  document.getElementById("legend").replaceChildren(...who.map((name, j) => {
    const s = document.createElement("span"); s.style.color = COLORS[j % COLORS.length];
    s.textContent = "■ " + name.slice(0, 12); return s; }));
}
function render(s) {
  fill("exchanges", s.exchanges.map(e => row([
    cell(e.exchange), cell(e.origin), cell(e.state, e.state === "online" ? "ok" : "bad"), cell(e.address),
    cell(e.tasks.map(t => `${t.name} (${t.auction}, ${t.slots} slots)`).join(", ")),
    cell(e.entries, "num entries"), cell(e.rounds_seen, "num rounds"), cell(e.rounds_per_second.toFixed(1), "num"),
  ], {exchange: e.exchange})));
  fill("checkpoints", s.exchanges.map(e => {
    const c = e.checkpoint || {}, sig = mark(c.signature), m = mark(c.entries_match);
    return row([cell(e.exchange), cell(c.size ?? "-", "num size"), cell((c.root || "").slice(0, 16)),
      cell(sig[0], sig[1]), cell(c.proved_from ?? "-", "num"), cell(m[0], m[1]),
      cell(e.alarm ? e.alarm.message : "", e.alarm ? "bad" : "")], {exchange: e.exchange});
  }));
  fill("richest", s.richest.map(r => row([cell(r.identity), cell(r.credits.toFixed(6), "num total"),
    cell(Object.entries(r.by_exchange).map(([x, c]) => `${x}: ${c.toFixed(3)}`).join(", "))],
    {identity: r.identity})));
  const rounds = s.exchanges.flatMap(e => e.recent_rounds.map(r => [e.exchange, r])).slice(-12).reverse();
  fill("rounds", rounds.map(([x, r]) => row([cell(x), cell(r.task), cell(r.round, "num round"),
    cell(`${r.first_index}..${r.last_index}`), cell(r.winners.map(([a, p]) => `${short(a)} (${p.toFixed(3)})`).join(", ")),
    cell(r.rewards.toFixed(3), "num"), cell(r.transfers, "num")], {exchange: x, round: r.round})));
  draw(s.history.map(p => ({wealth: Object.entries(p.wealth)})), s.richest);
  document.getElementById("updated").textContent = "updated " + new Date(s.time * 1000).toLocaleTimeString();
  window.catallax = s;
  window.dispatchEvent(new Event("catallax-update"));
}
new EventSource("/events").onmessage = m => render(JSON.parse(m.data));
</script>
</body>
</html>
"""
