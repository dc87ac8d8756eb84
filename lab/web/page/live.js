// maillab live: draws the state the server pushes (Server-Sent Events).
// The server holds the whole state and sends it on connect and on every
// change, so a reload or a reconnect always shows the truth.
"use strict";

const token = new URLSearchParams(location.search).get("token") || "";
let state = null;
let receivedAt = 0;
let selected = null;          // {kind: "link"|"node", id}
let controlsBuilt = false;

const $ = (id) => document.getElementById(id);
const ESC = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"};
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ESC[c]);

// Replace an element's content only when it differs, so that what the user is
// clicking on is not swapped under the pointer by a redraw that changed nothing.
const shown = new WeakMap();
function setHTML(el, html) {
  if (shown.get(el) !== html) {
    shown.set(el, html);
    el.innerHTML = html;
  }
}

function connect() {
  const source = new EventSource("events");
  source.addEventListener("state", (e) => {
    state = JSON.parse(e.data);
    receivedAt = Date.now();
    render();
  });
  source.onopen = () => { $("conn").className = "conn on"; };
  source.onerror = () => { $("conn").className = "conn off"; };
}

// --- the drawing ----------------------------------------------------------------
function linkPath(l) {
  const mx = (l.ax + l.bx) / 2, my = (l.ay + l.by) / 2 + l.bend * 2;
  return `M${l.ax},${l.ay} Q${mx},${my} ${l.bx},${l.by}`;
}

function linkMid(l) {
  return [(l.ax + l.bx) / 2, (l.ay + l.by) / 2 + l.bend];
}

function drawLink(l) {
  const s = state.links[l.id] || {state: "up"};
  const classes = ["link"];
  if (s.lossy) classes.push("lossy");
  if (s.delayed) classes.push("delayed");
  if (selected && selected.kind === "link" && selected.id === l.id) classes.push("selected");
  const [x, y] = linkMid(l);
  let marks = "";
  if (s.state === "cut") marks += `<text class="mark" x="${x}" y="${y}">✕</text>`;
  const tags = [];
  if (s.lossy) tags.push("loss");
  if (s.delayed) tags.push("delay");
  if (tags.length) marks += `<text class="tag" x="${x}" y="${y - 14}">${tags.join(" + ")}</text>`;
  return `<g class="${classes.join(" ")}" data-link="${esc(l.id)}" data-state="${s.state}">` +
    `<path class="wire" d="${linkPath(l)}"/><path class="hit" d="${linkPath(l)}"/>${marks}</g>`;
}

function counterLines(n, h) {
  const c = h.counters || {};
  if (n.role === "mx") return [`stored ${c.stored || 0}`];
  if (n.role === "relay") return [`queued ${c.queued || 0}`, `deferred ${c.deferred || 0}`];
  if (n.role === "client") return [`sent ${c.sent || 0}`];
  return [];
}

function drawNode(n) {
  const h = state.hosts[n.name] || {present: true, conditions: [], counters: {}};
  const classes = ["node", "role-" + n.role];
  if (h.service_state) classes.push("svc-" + h.service_state);
  for (const c of h.conditions) classes.push("cond-" + c);
  if (selected && selected.kind === "node" && selected.id === n.name) classes.push("selected");
  const present = h.present ? "present" : "destroyed";
  let shape, text;
  if (n.kind === "router") {
    shape = `<circle class="shape" cx="${n.x}" cy="${n.y}" r="30"/>`;
    text = `<text class="name" x="${n.x}" y="${n.y + 6}">${esc(n.name)}</text>`;
  } else if (n.kind === "switch") {
    shape = `<rect class="shape" x="${n.x - 40}" y="${n.y - 19}" width="80" height="38" rx="6"/>`;
    text = `<text class="name" x="${n.x}" y="${n.y + 6}">${esc(n.name)}</text>`;
  } else {
    shape = `<rect class="shape" x="${n.x - 56}" y="${n.y - 32}" width="112" height="64" rx="10"/>`;
    text = `<text class="name" x="${n.x}" y="${n.y - 4}">${esc(n.name)}</text>` +
      `<text class="ip" x="${n.x}" y="${n.y + 18}">${esc(n.ip)}</text>`;
    // a lab over several servers: where the host runs, inside its box
    if (n.server) text += `<text class="server" x="${n.x}" y="${n.y + 29}">on ${esc(n.server)}</text>`;
    counterLines(n, h).forEach((line, i) => {
      text += `<text class="count" x="${n.x}" y="${n.y + 54 + 19 * i}">${esc(line)}</text>`;
    });
    const notes = [];
    if (!h.present) notes.push("destroyed");
    else if (h.service_state && h.service_state !== "up") notes.push(`${h.service} ${h.service_state}`);
    for (const c of h.conditions) notes.push(c);
    if (notes.length) text += `<text class="note" x="${n.x}" y="${n.y - 42}">${esc(notes.join(", "))}</text>`;
  }
  const cross = h.present ? "" :
    `<path class="cross" d="M${n.x - 30},${n.y - 22} L${n.x + 30},${n.y + 22} M${n.x + 30},${n.y - 22} L${n.x - 30},${n.y + 22}"/>`;
  return `<g class="${classes.join(" ")}" data-node="${esc(n.name)}" data-state="${present}" ` +
    `data-service="${esc(h.service_state || "")}"` +
    (n.server ? ` data-server="${esc(n.server)}"` : "") + `>${shape}${text}${cross}</g>`;
}

function drawTopology() {
  const d = state.drawing;
  const svg = $("topology");
  svg.setAttribute("viewBox", `0 0 ${d.width} ${d.height}`);
  let out = "";
  for (const g of d.groups) {
    const label = g.name === "site" ? "senders" : g.name.toUpperCase();
    out += `<g class="group"><rect x="${g.x}" y="${g.y}" width="${g.w}" height="${g.h}" rx="16"/>` +
      `<text x="${g.x + 12}" y="${g.y + 28}">${esc(label)}</text>` +
      `<text class="subnet" x="${g.x + 12}" y="${g.y + g.h - 12}">${esc(g.subnet)}</text></g>`;
  }
  for (const l of d.links) out += drawLink(l);
  for (const n of d.nodes) out += drawNode(n);
  if (!d.nodes.length) {
    svg.setAttribute("viewBox", "0 0 900 300");
    out = '<text class="waiting" x="450" y="150">Waiting for the lab to come up…</text>';
  }
  setHTML(svg, out);
}

// --- the queue chart ------------------------------------------------------------
function drawChart() {
  lastChart = Date.now();
  const svg = $("queue-chart");
  const W = svg.clientWidth || 800, H = svg.clientHeight || 140, L = 44, R = 30, T = 12, B = 24;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const now = currentElapsed();
  const pts = state.queue.series.slice();
  if (pts.length) pts.push([Math.max(now, pts[pts.length - 1][0]), pts[pts.length - 1][1]]);
  const tmax = Math.max(10, pts.length ? pts[pts.length - 1][0] : 0);
  const tmin = pts.length ? Math.min(pts[0][0], tmax - 10) : 0;
  const ymax = Math.max(5, ...pts.map((p) => p[1]));
  const X = (t) => L + (W - L - R) * (t - tmin) / (tmax - tmin || 1);
  const Y = (v) => H - B - (H - B - T) * v / ymax;
  let out = "";
  for (const v of [0, ymax / 2, ymax]) {
    out += `<line class="grid" x1="${L}" x2="${W - R}" y1="${Y(v)}" y2="${Y(v)}"/>` +
      `<text x="${L - 8}" y="${Y(v) + 4}" text-anchor="end">${Math.round(v)}</text>`;
  }
  out += `<line class="axis" x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}"/>`;
  out += `<text x="${L}" y="${H - 6}">${tmin.toFixed(0)} s</text>` +
    `<text x="${W - R}" y="${H - 6}" text-anchor="end">${tmax.toFixed(0)} s</text>`;
  if (pts.length) {
    // a step line: the depth holds until the next change
    const steps = pts.flatMap((p, i) => i ? [[p[0], pts[i - 1][1]], p] : [p]);
    const line = steps.map((p) => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(" ");
    out += `<polygon class="area" points="${X(pts[0][0]).toFixed(1)},${Y(0)} ${line} ` +
      `${X(pts[pts.length - 1][0]).toFixed(1)},${Y(0)}"/><polyline class="depth" points="${line}"/>`;
  }
  svg.innerHTML = out;
  $("queue-now").textContent = `${state.queue.depth} now`;
}

// --- the side panels --------------------------------------------------------------
function renderPanels() {
  $("title").textContent = state.title;
  $("total-sent").textContent = state.totals.sent;
  $("total-delivered").textContent = state.totals.delivered;
  $("total-queued").textContent = state.queue.depth;
  setHTML($("mx"), state.mx.length
    ? state.mx.map((m) => `<li><span>${m[0] || ""}</span>${esc(m[1])}</li>`).join("")
    : "<li>(no answer)</li>");
  const canAct = state.can_act && token;
  setHTML($("faults"), state.faults.length ? state.faults.map((f) =>
    `<li data-fault="${esc(f.id)}"><b>${esc(f.name)}</b><span class="grow">${esc(f.label)}` +
    `${f.duration ? ` (${f.duration} s)` : ""}</span>` +
    (canAct ? `<button class="quiet" data-stop="${esc(f.id)}">stop</button>` : "") + "</li>"
  ).join("") : '<li class="none">none</li>');
  setHTML($("story"), state.story.slice().reverse().map((s) =>
    `<li class="${esc(s.kind)}"><span class="t">${s.t.toFixed(1)}</span>${esc(s.text)}</li>`).join(""));
  renderVerdict();
  renderStatus();
  if (state.can_act) renderControls();
}

function renderStatus() {
  const pill = $("status");
  if (state.verdict) {
    pill.textContent = state.verdict.ok ? "pass" : "fail";
    pill.className = "pill " + (state.verdict.ok ? "pass" : "fail");
  } else if (state.live) {
    pill.textContent = state.mode === "up" ? "lab up" : "running";
    pill.className = "pill running";
  } else {
    pill.textContent = state.drawing.nodes.length ? "lab stopped" : "waiting";
    pill.className = "pill";
  }
  tickClock();
}

function currentElapsed() {
  if (!state || state.elapsed === null) return 0;
  return state.elapsed + (state.live ? (Date.now() - receivedAt) / 1000 : 0);
}

let lastChart = 0;
function tickClock() {
  if (!state || state.elapsed === null) return;
  $("clock").textContent = `${currentElapsed().toFixed(1)} s`;
  if (state.live && Date.now() - lastChart > 1000) drawChart();   // time moves on
}

function renderVerdict() {
  const v = state.verdict, box = $("verdict");
  if (!v) { box.hidden = true; return; }
  box.hidden = false;
  box.className = v.ok ? "pass" : "fail";
  const failed = v.checks.filter((c) => !c.ok);
  box.innerHTML = `<b>${v.ok ? "PASS" : "FAIL"}</b>` +
    `<span>sent ${v.sent} · delivered ${v.delivered} · lost ${v.lost} · duplicates ${v.duplicates}</span>` +
    (v.report ? `<a id="report-link" href="${esc(v.report)}" target="_blank">Open the report</a>` : "") +
    (failed.length ? `<span class="failed-checks">failed: ${failed.map((c) => esc(c.name)).join(", ")}</span>` : "");
}

// --- actions (maillab up --web) ------------------------------------------------------
async function act(body) {
  try {
    const r = await fetch("api/action?token=" + encodeURIComponent(token), {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    const reply = await r.json();
    if (!r.ok) alert(reply.error || r.statusText);
  } catch (e) {
    alert("the lab did not answer: " + e);
  }
}

function duration() {
  const v = $("duration").value.trim();
  return v === "" ? null : Number(v);
}

function fault(name, args) {
  const spec = (state.fault_menu || []).find((f) => f.name === name);
  const lasting = !spec || spec.lasting;      // restore, kill, destroy... are done at once
  return act({kind: "fault", name, args, for: lasting ? duration() : null});
}

function selectionButtons() {
  if (!selected) return [];
  if (selected.kind === "link") {
    const l = state.drawing.links.find((x) => x.id === selected.id);
    if (!l) return [];
    const [a, b] = [l.a, l.b];
    const s = state.links[l.id] || {};
    const buttons = [["cut", "Cut", "danger", () => fault("cut", `${a} ${b}`)]];
    if (s.state === "cut") buttons.push(["restore", "Restore", "", () => fault("restore", `${a} ${b}`)]);
    if (l.kind === "lan" || l.kind === "access" || l.kind === "wan") {
      buttons.push(["loss", "Loss 20%", "", () => fault("loss", `${a}:${b} --rate 0.2`)]);
      buttons.push(["delay", "Delay 200 ms", "", () => fault("delay", `${a}:${b} --ms 200`)]);
    }
    return buttons;
  }
  const n = state.drawing.nodes.find((x) => x.name === selected.id);
  const h = state.hosts[selected.id] || {};
  if (!n || n.kind !== "host") return [];
  const buttons = [["blackhole", "Black-hole", "danger", () => fault("blackhole", n.name)]];
  if (h.service) {
    const target = `${h.service}@${n.name}`;
    buttons.push(["pause", "Pause " + h.service, "", () => fault("pause", target)]);
    buttons.push(["kill", "Kill " + h.service, "danger", () => fault("kill", `${target} --signal KILL`)]);
  }
  if (h.present) buttons.push(["destroy", "Destroy", "danger", () => fault("destroy", n.name)]);
  if (n.role === "mx") buttons.push(["recreate", "Re-create", "", () => act({kind: "recreate", name: n.name})]);
  return buttons;
}

function renderControls() {
  $("controls").hidden = false;
  if (!controlsBuilt) buildControls();
  const sel = $("selection");
  const area = $("selection-actions");
  if (!selected) {
    sel.textContent = "Click a link or a host in the drawing.";
  } else {
    sel.textContent = selected.kind === "link"
      ? "Link " + selected.id.replace("|", " – ") : "Host " + selected.id;
  }
  const buttons = selectionButtons();
  const key = JSON.stringify([selected, buttons.map((b) => b[0]), Boolean(token)]);
  if (area.dataset.key !== key) {
    area.dataset.key = key;
    fillButtons(area, buttons);
  }
  setHTML($("actions"), state.actions.slice().reverse().map((a) =>
    `<li class="${esc(a.status)}" data-action-id="${a.id}">${esc(a.what)}: ${esc(a.status)}` +
    (a.output ? `<pre>${esc(a.output)}</pre>` : "") + "</li>").join(""));
}

function fillButtons(area, buttons) {
  area.innerHTML = "";
  for (const [name, label, cls, run] of buttons) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.action = name;
    b.textContent = label;
    if (cls) b.className = cls;
    b.disabled = !token;
    b.addEventListener("click", run);
    area.appendChild(b);
  }
}

function buildControls() {
  controlsBuilt = true;
  $("no-token").hidden = Boolean(token);
  for (const id of ["send", "fault-start"]) $(id).disabled = !token;
  $("send-client").innerHTML = (state.clients || []).map((c) =>
    `<option>${esc(c)}</option>`).join("");
  const menu = state.fault_menu || [];
  $("fault-name").innerHTML = menu.map((f) => `<option>${esc(f.name)}</option>`).join("");
  const usage = () => {
    const f = menu.find((x) => x.name === $("fault-name").value);
    $("fault-usage").textContent = f ? `${f.name} ${f.usage}: ${f.summary}` : "";
  };
  $("fault-name").addEventListener("change", usage);
  usage();
  $("send").addEventListener("click", () => act({
    kind: "send", count: Number($("send-count").value), client: $("send-client").value}));
  $("fault-start").addEventListener("click", () => fault($("fault-name").value, $("fault-args").value));
}

// --- clicks on the drawing and the fault list -------------------------------------------
// pointerdown, not click: the drawing is redrawn on every change, and a click
// whose press and release land on two drawings would be lost
$("topology").addEventListener("pointerdown", (e) => {
  const link = e.target.closest("[data-link]");
  const node = e.target.closest("[data-node]");
  if (node) selected = {kind: "node", id: node.dataset.node};
  else if (link) selected = {kind: "link", id: link.dataset.link};
  else selected = null;
  if (state) render();
});

$("faults").addEventListener("click", (e) => {
  const b = e.target.closest("[data-stop]");
  if (b) act({kind: "stop", id: b.dataset.stop});
});

function render() {
  drawTopology();
  drawChart();
  renderPanels();
}

setInterval(tickClock, 250);
connect();
