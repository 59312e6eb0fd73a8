# ruff: noqa: E501 - the page is HTML, kept readable as it is
"""The emulator's web console: one page, no build step, served at ``/``.

It only uses the control API (``/control/...``): active calls refresh every
second; acting as any extension you answer, hang up or transfer; a form starts
any scenario; the last events sent to the webhook are listed with their HTTP
status.
"""

CONSOLE_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Mango VPBX emulator</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 1rem 2rem; color: #222; }
  h1 { font-size: 1.3rem; } h2 { font-size: 1.05rem; margin-top: 1.5rem; }
  table { border-collapse: collapse; width: 100%; }
  td, th { border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left; vertical-align: top; }
  .Appeared { color: #b36b00; } .Connected { color: #137333; } .OnHold { color: #1a57b5; }
  .Disconnected { color: #888; }
  button { margin: 0 .2rem .2rem 0; } code { font-size: 12px; }
  .bar { display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; }
  #msg { color: #b00020; min-height: 1.2em; }
  textarea { width: 100%; font: 12px monospace; }
</style>
</head>
<body>
<h1>Mango VPBX emulator</h1>
<div class="bar">
  <label>Act as extension <select id="me"></select></label>
  <span id="status"></span>
</div>
<div id="msg"></div>

<h2>Active calls</h2>
<table><thead><tr><th>Call</th><th>Leg</th><th>State</th><th>From</th><th>To</th><th>Actions</th></tr></thead>
<tbody id="calls"></tbody></table>

<h2>Start a scenario</h2>
<div class="bar">
  <select id="scenario"></select>
  <button onclick="startScenario()">Start</button>
  <span id="scenario-doc"></span>
</div>
<p>Parameters (JSON; a <code>null</code> duration waits for you to act here):</p>
<textarea id="params" rows="3">{"extension": "101", "ring_seconds": null, "talk_seconds": null}</textarea>

<h2>Events sent to the webhook</h2>
<table><thead><tr><th>#</th><th>Path</th><th>Outcome</th><th>HTTP</th><th>ms</th><th>JSON</th></tr></thead>
<tbody id="events"></tbody></table>

<script>
"use strict";
const $ = (id) => document.getElementById(id);
let lastEvent = 0;
const events = [];

async function api(method, path, body) {
  const resp = await fetch("/control/" + path, {
    method, headers: {"Content-Type": "application/json"},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await resp.json();
  if (!resp.ok) { throw new Error(data.error || resp.statusText); }
  return data;
}

async function act(label, fn) {
  try { $("msg").textContent = ""; await fn(); await refresh(); }
  catch (err) { $("msg").textContent = label + ": " + err.message; }
}

function party(p) {
  return [p.extension ? "ext " + p.extension : "", p.number || ""].filter(Boolean).join(" / ");
}

function button(text, handler) {
  const b = document.createElement("button");
  b.textContent = text;
  b.onclick = handler;
  return b;
}

function renderCalls(active) {
  const me = $("me").value;
  const tbody = $("calls");
  tbody.replaceChildren();
  for (const call of active) {
    for (const leg of call.legs.filter((l) => l.state !== "Disconnected")) {
      const tr = tbody.insertRow();
      tr.insertCell().textContent = (call.scenario || "call") + " " + call.entry_id.slice(-8);
      tr.insertCell().textContent = leg.location + " " + leg.call_id.slice(-8);
      const st = tr.insertCell(); st.textContent = leg.state; st.className = leg.state;
      tr.insertCell().textContent = party(leg.from);
      tr.insertCell().textContent = party(leg.to);
      const actions = tr.insertCell();
      const mine = [leg.from.extension, leg.to.extension, leg.extension].includes(me);
      if (leg.state === "Appeared") {
        actions.append(button("Answer", () => act("answer", () => api("POST", "answer", {call_id: leg.call_id}))));
      }
      if (leg.state === "Connected" && mine) {
        actions.append(button("Transfer…", () => {
          const to = prompt("Transfer to (extension or number)");
          if (!to) { return; }
          const method = confirm("Consult first? OK = consultative, Cancel = blind") ? "hold" : "blind";
          act("transfer", () => api("POST", "transfer", {call_id: leg.call_id, to, method, initiator: me}));
        }));
      }
      const side = leg.to.extension === me ? "to" : (leg.from.extension === me ? "from" : "to");
      actions.append(button(mine ? "Hang up (me)" : "Hang up (" + side + ")",
        () => act("hang up", () => api("POST", "hangup", {call_id: leg.call_id, side}))));
      actions.append(button("Caller hangs up",
        () => act("hang up", () => api("POST", "hangup", {entry_id: call.entry_id}))));
    }
  }
}

function renderEvents() {
  const tbody = $("events");
  tbody.replaceChildren();
  for (const ev of events.slice(-30).reverse()) {
    const tr = tbody.insertRow();
    tr.insertCell().textContent = ev.n;
    tr.insertCell().textContent = ev.path;
    tr.insertCell().textContent = ev.outcome + (ev.fault ? " (" + ev.fault + ")" : "");
    tr.insertCell().textContent = ev.status === null ? "" : ev.status;
    tr.insertCell().textContent = ev.latency === null ? "" : (ev.latency * 1000).toFixed(1);
    const code = document.createElement("code");
    code.textContent = ev.json;
    tr.insertCell().append(code);
  }
}

async function refresh() {
  const calls = await api("GET", "calls?finished=0");
  renderCalls(calls.active);
  const fresh = await api("GET", "events?since=" + lastEvent);
  for (const ev of fresh.events) { events.push(ev); lastEvent = ev.n; }
  if (events.length > 200) { events.splice(0, events.length - 200); }
  renderEvents();
}

async function startScenario() {
  await act("scenario", async () => {
    const params = JSON.parse($("params").value || "{}");
    await api("POST", "scenario", {name: $("scenario").value, params});
  });
}

async function init() {
  const status = await api("GET", "status");
  for (const e of status.employees) {
    $("me").add(new Option(e.extension + " " + e.name, e.extension));
  }
  $("status").textContent = "key " + status.api_key + " · webhook " + (status.webhook || "(none)") +
    " · speed ×" + status.speed;
  const sc = await api("GET", "scenarios");
  for (const s of sc.scenarios) { $("scenario").add(new Option(s.name, s.name)); }
  const showDoc = () => {
    const s = sc.scenarios.find((x) => x.name === $("scenario").value);
    $("scenario-doc").textContent = s ? s.doc : "";
  };
  $("scenario").onchange = showDoc;
  showDoc();
  $("me").onchange = refresh;
  await refresh();
  setInterval(() => refresh().catch((err) => { $("msg").textContent = err.message; }), 1000);
}

init().catch((err) => { $("msg").textContent = err.message; });
</script>
</body>
</html>
"""
