// The Weir dashboard: plain JS, no build step, no external resources.
// Every second it reads the REST API (relative URLs, so that it also works
// behind a path prefix) and redraws: the header, the job graph, the
// checkpoint figures, the duration/size chart and the history table.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const REFRESH_MS = 1000;
const CHART_POINTS = 60;

const state = { jobId: null, selectedCheckpoint: null, detailsStatus: null, busy: false };

// A server that needs a token serves this page at /?token=TOKEN only. The
// token is read from there and sent as a Bearer header with every call; it
// is kept nowhere else (no cookie, no storage), so that the browser never
// attaches it by itself to a request another site makes.
const TOKEN = new URLSearchParams(location.search).get("token");

// ---- formatting ------------------------------------------------------------

function human(n) {
  if (n === null || n === undefined) return "–";
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(2) + "G";
  if (a >= 1e6) return (n / 1e6).toFixed(2) + "M";
  if (a >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return Math.round(n).toString();
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n.toString() : n.toFixed(n >= 100 ? 0 : 1)) + " " + units[i];
}

function micros(us) {
  if (us === null || us === undefined) return "–";
  if (us < 1000) return us + " µs";
  if (us < 1e6) return (us / 1000).toFixed(us < 1e4 ? 1 : 0) + " ms";
  return (us / 1e6).toFixed(2) + " s";
}

function duration(ms) {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return (h ? h + "h " : "") + (h || m ? m + "m " : "") + r + "s";
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString();
}

// ---- DOM helpers -----------------------------------------------------------

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

function message(text, isError) {
  const m = $("message");
  m.textContent = text ? "— " + text : "";
  m.className = isError ? "error" : "";
}

async function api(path, options) {
  const headers = TOKEN === null ? {} : { Authorization: "Bearer " + TOKEN };
  const response = await fetch(path, Object.assign({ cache: "no-store", headers }, options || {}));
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) throw new Error((body && body.error) || response.status + " " + response.statusText);
  return body;
}

function jobPath(suffix) { return "jobs/" + encodeURIComponent(state.jobId) + (suffix || ""); }

// ---- header ----------------------------------------------------------------

function renderJobList(jobs) {
  const select = $("job-select");
  select.hidden = jobs.length < 2;
  clear(select);
  for (const job of jobs) {
    const option = el("option", { value: job.id }, job.name + " (" + job.id + ")");
    if (job.id === state.jobId) option.selected = true;
    select.append(option);
  }
}

function renderHeader(job) {
  $("job-name").textContent = job.name + " · " + job.id;
  const badge = $("job-status");
  badge.textContent = job.status;
  badge.className = "badge " + job.status;
  const failures = Object.entries(job.failures).map(([k, v]) => k + " " + v).join(", ");
  $("job-meta").textContent =
    "up " + duration(job.elapsed_ms) + " · " + job.restarts + " restart(s)" +
    (failures ? " · failures: " + failures : "") + (job.error ? " · " + job.error : "");
  const running = job.status === "RUNNING";
  $("trigger").disabled = !running || state.busy;
  $("cancel").disabled = !(running || job.status === "RESTARTING");
  document.title = job.name + " · Weir";
}

// ---- job graph -------------------------------------------------------------

// The graph is drawn in layers, left to right: sources, then each operator
// one column right of the furthest node it reads, then the sinks. Edges are
// labelled with how events travel (forward, rebalance, key_by, broadcast)
// and, for a side output, its name.
function graphNodes(job) {
  const nodes = new Map();
  const sources = job.sources && job.sources.length ? job.sources : [{ name: "source", parallelism: 1 }];
  for (const s of sources) {
    nodes.set(s.name, { kind: "source", name: s.name, title: s.name + (s.parallelism > 1 ? "  ×" + s.parallelism : ""),
      lines: sources.length === 1 ? [human(job.source.rate) + " ev/s", human(job.source.events) + " events"] : ["source"],
      inputs: [] });
  }
  for (const v of job.vertices) {
    const inputs = (v.inputs && v.inputs.length) ? v.inputs : [];
    nodes.set(v.name, { kind: "operator", name: v.name, title: v.name + (v.parallelism ? "  ×" + v.parallelism : ""),
      lines: ["in " + human(v.rate_in) + "/s · out " + human(v.rate_out) + "/s", human(v.events_in) + " → " + human(v.events_out)],
      rate: v.rate_in, inputs: inputs.map(i => ({ from: i.from, edge: i.edge })) });
  }
  const sinks = job.sinks && job.sinks.length ? job.sinks : [{ name: "sink", inputs: [] }];
  for (const k of sinks) {
    nodes.set("sink:" + k.name, { kind: "sink", name: k.name, title: k.name,
      lines: sinks.length === 1 ? [human(job.sink.rate) + " ev/s", human(job.sink.events) + " events"] : ["sink"],
      inputs: (k.inputs || []).map(from => ({ from, edge: "" })) });
  }
  return nodes;
}

function renderGraph(job) {
  const graph = $("graph");
  clear(graph);
  const width = graph.clientWidth || 1200;
  const nodes = graphNodes(job);
  // Which node an input names: `op` or `op.SIDE`.
  const producer = from => nodes.get(from) ? from : from.split(".")[0];
  const layer = new Map();
  const layerOf = (key, seen) => {
    if (layer.has(key)) return layer.get(key);
    const node = nodes.get(key);
    if (!node || seen.has(key)) return 0;
    seen.add(key);
    const l = node.kind === "source" ? 0 : 1 + Math.max(0, ...node.inputs.map(i => layerOf(producer(i.from), seen)));
    layer.set(key, l);
    return l;
  };
  for (const key of nodes.keys()) layerOf(key, new Set());
  const sinkLayer = Math.max(1, ...[...nodes.entries()].filter(([, n]) => n.kind !== "sink").map(([k]) => layer.get(k) + 1));
  for (const [key, node] of nodes) if (node.kind === "sink") layer.set(key, sinkLayer);
  const columns = [];
  for (const [key] of nodes) {
    const l = layer.get(key);
    (columns[l] = columns[l] || []).push(key);
  }

  const defs = svg("defs");
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto" });
  marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#667085" }));
  defs.append(marker);
  graph.append(defs);

  const n = columns.length, gap = 70, boxH = 78, vgap = 22, top = 16;
  const boxW = Math.min(220, (width - gap * (n - 1) - 20) / n);
  const left = Math.max(10, (width - (boxW * n + gap * (n - 1))) / 2);
  const rows = Math.max(...columns.map(c => (c || []).length));
  const height = top * 2 + rows * boxH + (rows - 1) * vgap;
  graph.setAttribute("height", String(Math.max(130, height)));
  const position = new Map();
  columns.forEach((column, l) => {
    (column || []).forEach((key, r) => {
      const offset = (height - (column.length * boxH + (column.length - 1) * vgap)) / 2;
      position.set(key, { x: left + l * (boxW + gap), y: offset + r * (boxH + vgap) });
    });
  });
  const maxRate = Math.max(1, ...[...nodes.values()].map(node => node.rate || 0));
  for (const [key, node] of nodes) {
    const { x, y } = position.get(key);
    const isOperator = node.kind === "operator";
    const g = svg("g", { class: "vertex", "data-node": node.name, "data-kind": node.kind });
    g.append(svg("rect", { x, y, width: boxW, height: boxH, rx: 6,
      fill: isOperator ? "#eef3fc" : "#f2f4f7", stroke: isOperator ? "#2f6fde" : "#98a2b3" }));
    if (isOperator) {
      // Throughput bar: the operator's input rate relative to the busiest.
      g.append(svg("rect", { x: x + 8, y: y + boxH - 11, width: Math.max(2, (boxW - 16) * (node.rate || 0) / maxRate), height: 5, rx: 2, fill: "#2f6fde" }));
    }
    g.append(svg("text", { x: x + boxW / 2, y: y + 20, "text-anchor": "middle", "font-weight": "600", "font-size": "14" }, node.title));
    node.lines.forEach((line, j) => {
      g.append(svg("text", { x: x + boxW / 2, y: y + 40 + j * 16, "text-anchor": "middle", "font-size": "12", fill: "#344054" }, line));
    });
    graph.append(g);
    for (const input of node.inputs) {
      const from = position.get(producer(input.from));
      if (!from) continue;
      const x0 = from.x + boxW + 2, y0 = from.y + boxH / 2, x1 = x - 2, y1 = y + boxH / 2;
      const mid = (x0 + x1) / 2;
      graph.append(svg("path", { d: `M${x0},${y0} C${mid},${y0} ${mid},${y1} ${x1},${y1}`, fill: "none",
        stroke: "#667085", "stroke-width": "1.5", "marker-end": "url(#arrow)", class: "edge",
        "data-from": input.from, "data-to": node.name }));
      const side = input.from.includes(".") ? input.from.split(".").slice(1).join(".") : "";
      const label = [input.edge, side && "(" + side + ")"].filter(Boolean).join(" ");
      if (label) {
        graph.append(svg("text", { x: mid, y: (y0 + y1) / 2 - 6, "text-anchor": "middle", "font-size": "11", fill: "#667085" }, label));
      }
    }
  }
  $("graph-note").textContent = job.max_parallelism ? "(max parallelism " + job.max_parallelism + ")" : "";
}

// ---- checkpoints -----------------------------------------------------------

function figure(value, key, attrs) {
  return el("div", Object.assign({ class: "figure" }, attrs || {}), el("div", { class: "v" }, value), el("div", { class: "k" }, key));
}

function renderFigures(overview) {
  const box = $("checkpoint-figures");
  clear(box);
  const c = overview.counts, s = overview.summary, latest = overview.latest.completed;
  box.append(
    figure(c.completed, "completed"),
    figure(c.failed, "failed"),
    figure(c.in_progress, "in progress"),
    figure(latest ? latest.id : "–", "latest completed", latest ? { id: "latest-completed", "data-checkpoint-id": latest.id } : {}),
    figure(latest ? micros(latest.end_to_end_us) : "–", "latest end to end"),
    figure(latest ? bytes(latest.state_bytes) : "–", "latest state size"),
    figure(micros(s.end_to_end_us.min) + " / " + micros(s.end_to_end_us.avg === null ? null : Math.round(s.end_to_end_us.avg)) + " / " + micros(s.end_to_end_us.max), "end to end min / avg / max"),
    figure(bytes(s.state_bytes.min) + " / " + bytes(s.state_bytes.avg === null ? null : Math.round(s.state_bytes.avg)) + " / " + bytes(s.state_bytes.max), "state size min / avg / max"),
  );
  if (overview.latest.failed) {
    box.append(figure("#" + overview.latest.failed.id, "latest failed: " + (overview.latest.failed.failure_reason || "")));
  }
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function renderChart(overview) {
  const chart = $("chart");
  clear(chart);
  const points = overview.history.filter(c => c.status === "COMPLETED" && c.end_to_end_us !== null)
    .slice(0, CHART_POINTS).reverse();
  const width = chart.clientWidth || 1200, height = 220;
  const pad = { left: 70, right: 80, top: 12, bottom: 40 };
  const w = width - pad.left - pad.right, h = height - pad.top - pad.bottom;
  if (points.length === 0) {
    chart.append(svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle", fill: "#667085" }, "no completed checkpoint yet"));
    return;
  }
  const maxUs = niceMax(Math.max(...points.map(p => p.end_to_end_us)));
  const maxBytes = niceMax(Math.max(...points.map(p => Math.max(p.state_bytes, p.checkpointed_bytes))));
  const step = w / points.length;
  const xOf = i => pad.left + step * (i + 0.5);
  const yUs = v => pad.top + h - (v / maxUs) * h;
  const yBytes = v => pad.top + h - (v / maxBytes) * h;

  for (let k = 0; k <= 4; k++) {
    const y = pad.top + h - (k / 4) * h;
    chart.append(svg("line", { x1: pad.left, y1: y, x2: pad.left + w, y2: y, stroke: "#eaecf0" }));
    chart.append(svg("text", { x: pad.left - 6, y: y + 4, "text-anchor": "end", "font-size": "11", fill: "#2f6fde" }, micros(Math.round(maxUs * k / 4))));
    chart.append(svg("text", { x: pad.left + w + 6, y: y + 4, "font-size": "11", fill: "#e07b20" }, bytes(Math.round(maxBytes * k / 4))));
  }
  points.forEach((p, i) => {
    const barW = Math.max(1, step * 0.6);
    const bar = svg("rect", { x: xOf(i) - barW / 2, y: yUs(p.end_to_end_us), width: barW, height: pad.top + h - yUs(p.end_to_end_us), fill: "#2f6fde", opacity: "0.75" });
    bar.append(svg("title", {}, "checkpoint " + p.id + ": " + micros(p.end_to_end_us) + ", state " + bytes(p.state_bytes) + ", checkpointed " + bytes(p.checkpointed_bytes)));
    chart.append(bar);
  });
  const line = (key, color, dash) => {
    const d = points.map((p, i) => (i ? "L" : "M") + xOf(i).toFixed(1) + "," + yBytes(p[key]).toFixed(1)).join(" ");
    chart.append(svg("path", { d, fill: "none", stroke: color, "stroke-width": "2", "stroke-dasharray": dash || "" }));
    points.forEach((p, i) => chart.append(svg("circle", { cx: xOf(i), cy: yBytes(p[key]), r: 2.5, fill: color })));
  };
  line("checkpointed_bytes", "#f2c38f", "5,3");
  line("state_bytes", "#e07b20");
  const every = Math.ceil(points.length / 12);
  points.forEach((p, i) => {
    if (i % every === 0 || i === points.length - 1) {
      chart.append(svg("text", { x: xOf(i), y: pad.top + h + 15, "text-anchor": "middle", "font-size": "11", fill: "#667085" }, p.id));
    }
  });
  chart.append(svg("text", { x: pad.left, y: height - 4, "font-size": "11", fill: "#667085" }, clock(points[0].trigger_time_ms)));
  chart.append(svg("text", { x: pad.left + w / 2, y: height - 4, "text-anchor": "middle", "font-size": "11", fill: "#667085" }, "checkpoint id"));
  chart.append(svg("text", { x: pad.left + w, y: height - 4, "text-anchor": "end", "font-size": "11", fill: "#667085" }, clock(points[points.length - 1].trigger_time_ms)));
}

function renderHistory(overview) {
  const body = $("history").tBodies[0];
  clear(body);
  for (const c of overview.history) {
    const row = el("tr", { "data-checkpoint-id": c.id, "data-status": c.status, title: c.failure_reason || "" },
      el("td", { class: "checkpoint-id" }, c.id),
      el("td", { class: "l" }, el("span", { class: "badge " + c.status }, c.status)),
      el("td", { class: "l" }, clock(c.trigger_time_ms)),
      el("td", {}, micros(c.end_to_end_us)),
      el("td", {}, bytes(c.state_bytes)),
      el("td", {}, bytes(c.checkpointed_bytes) + (c.incremental ? " Δ" : "")),
      el("td", {}, c.files_written),
      el("td", {}, c.acknowledged_subtasks),
      el("td", {}, micros(c.alignment_us_max)),
      el("td", {}, micros(c.sync_us_max)),
      el("td", {}, micros(c.async_us_max)),
    );
    if (c.id === state.selectedCheckpoint) {
      row.className = "selected";
      // The shown details are of a checkpoint still in flight: refresh.
      if (c.status !== state.detailsStatus) showDetails();
    }
    row.addEventListener("click", () => { state.selectedCheckpoint = c.id; showDetails(); });
    body.append(row);
  }
}

async function showDetails() {
  const section = $("details");
  if (state.selectedCheckpoint === null) { section.hidden = true; return; }
  let details;
  try {
    details = await api(jobPath("/checkpoints/" + state.selectedCheckpoint));
  } catch (e) {
    $("details-note").textContent = e.message;
    return;
  }
  section.hidden = false;
  state.detailsStatus = details.status;
  $("details-id").textContent = details.id + " (" + details.status + ")";
  $("details-note").textContent = details.failure_reason || (details.end_of_input ? "final checkpoint at the end of input" : "");
  const body = $("details-table").tBodies[0];
  clear(body);
  for (const op of details.operators) {
    for (const s of op.subtasks) {
      body.append(el("tr", {},
        el("td", { class: "l" }, op.name),
        el("td", {}, s.subtask + " / " + (op.parallelism || op.acknowledged_subtasks)),
        el("td", {}, micros(s.end_to_end_us)),
        el("td", {}, micros(s.alignment_us)),
        el("td", {}, micros(s.sync_us)),
        el("td", {}, micros(s.async_us)),
        el("td", {}, bytes(s.state_bytes)),
        el("td", {}, bytes(s.checkpointed_bytes)),
        el("td", {}, s.files_written),
        el("td", { class: "l" }, s.incremental ? "delta" : "full"),
      ));
    }
  }
}

// ---- refresh loop and actions ----------------------------------------------

async function refresh() {
  try {
    const list = await api("jobs");
    $("offline").style.display = "none";
    if (list.jobs.length === 0) {
      $("job-name").textContent = "no job";
      return;
    }
    const wanted = decodeURIComponent(location.hash.slice(1));
    if (!list.jobs.some(j => j.id === state.jobId)) {
      state.jobId = (list.jobs.find(j => j.id === wanted) || list.jobs[0]).id;
    }
    renderJobList(list.jobs);
    const [job, overview] = await Promise.all([api(jobPath()), api(jobPath("/checkpoints"))]);
    renderHeader(job);
    renderGraph(job);
    renderFigures(overview);
    renderChart(overview);
    renderHistory(overview);
  } catch (e) {
    $("offline").style.display = "block";
    $("offline").textContent = "Cannot reach the server (" + e.message + "); retrying every second.";
  }
}

$("job-select").addEventListener("change", e => {
  state.jobId = e.target.value;
  state.selectedCheckpoint = null;
  location.hash = encodeURIComponent(state.jobId);
  showDetails();
  refresh();
});

$("trigger").addEventListener("click", async () => {
  state.busy = true;
  $("trigger").disabled = true;
  message("checkpoint triggered…");
  try {
    const done = await api(jobPath("/checkpoints"), { method: "POST" });
    message("checkpoint " + done.id + " complete");
    state.selectedCheckpoint = done.id;
    showDetails();
  } catch (e) {
    message(e.message, true);
  } finally {
    state.busy = false;
    refresh();
  }
});

$("cancel").addEventListener("click", async () => {
  if (!confirm("Cancel job " + state.jobId + "?")) return;
  try {
    await api(jobPath("/cancel"), { method: "POST" });
    message("cancelling");
  } catch (e) {
    message(e.message, true);
  }
  refresh();
});

refresh();
setInterval(refresh, REFRESH_MS);
