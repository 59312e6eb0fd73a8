# ruff: noqa: E501 - the page is HTML, kept readable as it is
"""The emulator's web console: one page, no build step, served at ``/``.

It only uses the control API (``/control/...``). A form starts any scenario: the
caller is picked from the demo's patients (the ``--directory`` file) or typed, the
operators are picked by name, every duration has a field ("wait for me" leaves the
step to you), and a box of extra JSON is there for the rare parameter without a
field. Active calls refresh every second with what each person can do: answer,
decline, hang up, transfer or consult a colleague, complete or cancel a
consultation, or the caller hangs up. The simulated colleagues of transfers and
routes started from Odoo answer, decline or let it ring as chosen here. The events
sent to the webhook are listed once each, newest first, their JSON wrapped.
"""

CONSOLE_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Mango VPBX emulator</title>
<link rel="icon" href="data:,">
<style>
  body { font: 14px system-ui, sans-serif; margin: 1rem 2rem; color: #222; max-width: 100%; }
  h1 { font-size: 1.3rem; } h2 { font-size: 1.05rem; margin-top: 1.5rem; }
  table { border-collapse: collapse; width: 100%; table-layout: fixed; }
  td, th { border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
  .Appeared { color: #b36b00; } .Connected { color: #137333; } .OnHold { color: #1a57b5; }
  .Disconnected { color: #888; }
  button { margin: 0 .2rem .2rem 0; }
  .bar { display: flex; gap: .6rem 1.2rem; align-items: center; flex-wrap: wrap; }
  .form { display: grid; grid-template-columns: max-content 1fr; gap: .4rem 1rem; align-items: center; max-width: 48rem; }
  .form [hidden] { display: none; }
  #msg { color: #b00020; min-height: 1.2em; }
  textarea { width: 100%; font: 12px monospace; box-sizing: border-box; }
  input[type=number] { width: 5rem; }
  code.json { display: block; font-size: 12px; white-space: pre-wrap; overflow-wrap: anywhere; max-height: 6em; overflow: auto; }
  .muted { color: #666; }
  col.n { width: 4rem; } col.path { width: 11rem; } col.outcome { width: 8rem; } col.http { width: 4rem; } col.ms { width: 4rem; }
</style>
</head>
<body>
<h1>Mango VPBX emulator</h1>
<div class="bar"><span id="status" class="muted"></span></div>
<div id="msg" role="alert"></div>

<h2>Active calls</h2>
<table id="calls-table"><thead><tr><th>Call</th><th>Leg</th><th>State</th><th>From</th><th>To</th><th style="width: 40%">Actions</th></tr></thead>
<tbody id="calls"></tbody></table>
<p id="no-calls" class="muted">No call right now.</p>

<h2>Start a call</h2>
<div class="form" id="scenario-form">
  <label for="scenario">Scenario</label>
  <span><select id="scenario"></select> <span id="scenario-doc" class="muted"></span></span>

  <label for="caller-pick" data-param="caller">Caller</label>
  <span data-param="caller"><select id="caller-pick"></select> <input id="caller" placeholder="number, e.g. 79177654321"></span>

  <label for="target-pick" data-param="target">Number to call</label>
  <span data-param="target"><select id="target-pick"></select> <input id="target" placeholder="number, e.g. 79177654321"></span>

  <label for="line" data-param="line">Line</label>
  <span data-param="line"><select id="line"></select></span>

  <label for="ivr_seconds" data-param="ivr_seconds">Voice menu</label>
  <span data-param="ivr_seconds"><input id="ivr_seconds" type="number" min="0" step="1" value="0"> s before the operator's phone rings</span>

  <label for="dtmf" data-param="dtmf">Digits typed</label>
  <span data-param="dtmf"><input id="dtmf" placeholder="optional, e.g. 1"></span>

  <label for="extension" data-param="extension">Operator</label>
  <span data-param="extension"><select id="extension"></select></span>

  <label for="to_extension" data-param="to_extension">Colleague</label>
  <span data-param="to_extension"><select id="to_extension"></select></span>

  <label for="group" data-param="group">Queue</label>
  <span data-param="group"><select id="group"></select></span>

  <label for="answered_by" data-param="answered_by">Answered by</label>
  <span data-param="answered_by"><select id="answered_by"></select></span>

  <label for="ring_seconds" data-param="ring_seconds">Phone rings</label>
  <span data-param="ring_seconds"><input id="ring_seconds" type="number" min="0" step="1" value="8"> s, then it is answered
    <label><input id="ring_manual" type="checkbox" checked> wait for me (answer here, or in Odoo's desk phone)</label></span>

  <label for="missed_by" data-param="missed_by">Nobody answers</label>
  <span data-param="missed_by"><select id="missed_by"><option value="caller">the caller hangs up (1110)</option><option value="timeout">no answer: the PBX gives up (1111)</option></select></span>

  <label for="consult_seconds" data-param="consult_seconds">Consultation</label>
  <span data-param="consult_seconds"><input id="consult_seconds" type="number" min="0" step="1" value="10"> s before the operator hands the caller over</span>

  <label for="talk_seconds" data-param="talk_seconds">Talk</label>
  <span data-param="talk_seconds"><input id="talk_seconds" type="number" min="0" step="1" value="45"> s
    <label><input id="talk_manual" type="checkbox" checked> until someone hangs up here</label></span>

  <label for="hangup_by" data-param="hangup_by">Then hangs up</label>
  <span data-param="hangup_by"><select id="hangup_by"><option value="caller">the caller</option><option value="operator">the operator</option></select></span>

  <label for="extra">More</label>
  <details><summary>extra parameters (JSON)</summary><textarea id="extra" rows="2" placeholder='{"speed": 2}'></textarea></details>

  <span></span><span><button id="start" type="button">Start</button></span>
</div>

<h2>Colleagues rung from Odoo</h2>
<p class="muted">Transfers and routes sent by Odoo ring a colleague; so does the operator's own phone for a click-to-call.</p>
<div class="bar" id="autopilot">
  <label><input id="ap_enabled" type="checkbox"> simulate them</label>
  <label>the colleague <select id="ap_colleague">
    <option value="answer">answers</option><option value="decline">declines</option>
    <option value="no_answer">does not answer</option><option value="manual">waits for me (answer here)</option></select></label>
  <label>after <input id="ap_answer_after" type="number" min="0" step="1"> s</label>
  <label>talks <input id="ap_talk" type="number" min="0" step="1"> s, then the caller hangs up</label>
  <label>gives up ringing after <input id="ap_max_ring" type="number" min="0" step="1"> s</label>
  <button id="ap_apply" type="button">Apply</button> <span id="ap_saved" class="muted"></span>
</div>

<h2>Events sent to the webhook</h2>
<table id="events-table"><colgroup><col class="n"><col class="path"><col class="outcome"><col class="http"><col class="ms"><col></colgroup>
<thead><tr><th>#</th><th>Path</th><th>Outcome</th><th>HTTP</th><th>ms</th><th>JSON</th></tr></thead>
<tbody id="events"></tbody></table>

<script>
"use strict";
const $ = (id) => document.getElementById(id);
const EVENTS_SHOWN = 50;
const events = new Map();  // n -> event: each listed once, however often it is fetched
let lastEvent = 0;
let refreshing = null;
let status = {employees: [], groups: [], lines: [], callers: []};
let scenarios = [];

async function api(method, path, body) {
  const resp = await fetch("/control/" + path, {
    method, headers: {"Content-Type": "application/json"},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await resp.json();
  if (!resp.ok) { throw new Error(data.error || resp.statusText); }
  return data;
}

function say(text) { $("msg").textContent = text; }

async function act(label, fn) {
  try { say(""); await fn(); await refresh(); }
  catch (err) { say(label + ": " + err.message); }
}

function option(select, value, text) { select.add(new Option(text, value)); }

function employeeName(extension) {
  const e = status.employees.find((x) => x.extension === extension);
  return e ? e.extension + " · " + e.name : "ext " + extension;
}

function party(p) {
  if (p.extension) { return employeeName(p.extension); }
  const caller = status.callers.find((c) => c.number === p.number);
  return caller ? caller.name + " · " + p.number : (p.number || "hidden number");
}

function button(text, cls, handler) {
  const b = document.createElement("button");
  b.type = "button"; b.textContent = text; b.className = cls; b.onclick = handler;
  return b;
}

function colleagueSelect(exclude) {
  const select = document.createElement("select");
  select.className = "transfer-to";
  for (const e of status.employees.filter((x) => x.extension !== exclude)) {
    option(select, e.extension, e.extension + " · " + e.name);
  }
  return select;
}

function callRow(call, leg, consults, heldBy) {
  const tr = document.createElement("tr");
  tr.dataset.callId = leg.call_id;
  tr.dataset.entryId = call.entry_id;
  tr.dataset.extension = leg.extension || "";
  tr.dataset.state = leg.state;
  tr.insertCell().textContent = (call.scenario || "call") + " · " + party(call.caller);
  tr.insertCell().textContent = leg.location;
  const st = tr.insertCell(); st.textContent = leg.state; st.className = leg.state;
  tr.insertCell().textContent = party(leg.from);
  tr.insertCell().textContent = party(leg.to);
  const actions = tr.insertCell();
  const employee = leg.extension;
  const side = employee && leg.from.extension === employee && leg.to.extension !== employee ? "from" : "to";
  if (leg.state === "Appeared" && leg.location === "abonent") {
    actions.append(button("Answer", "answer", () => act("answer", () => api("POST", "answer", {call_id: leg.call_id}))));
    actions.append(button("Decline", "decline", () => act("decline", () => api("POST", "hangup", {call_id: leg.call_id, side: "to"}))));
  }
  if (leg.state === "Connected" && employee) {
    actions.append(button("Hang up", "hangup", () => act("hang up", () => api("POST", "hangup", {call_id: leg.call_id, side}))));
    if (consults[leg.call_id]) {
      actions.append(button("Complete transfer", "complete", () => act("complete transfer",
        () => api("POST", "connect", {held_call_id: consults[leg.call_id], consult_call_id: leg.call_id}))));
      actions.append(button("Cancel transfer", "cancel-transfer", () => act("cancel transfer",
        () => api("POST", "transfer_cancel", {call_id: leg.call_id}))));
    } else {
      const initiator = leg[side].extension || employee;
      const target = colleagueSelect(initiator);
      actions.append(target);
      for (const [text, method] of [["Transfer", "blind"], ["Consult", "hold"]]) {
        actions.append(button(text, method === "blind" ? "transfer" : "consult", () => act("transfer",
          () => api("POST", "transfer", {call_id: leg.call_id, to: target.value, method, initiator}))));
      }
    }
  }
  if (leg.state === "OnHold" && heldBy[leg.call_id]) {
    actions.append(button("Cancel transfer", "cancel-transfer", () => act("cancel transfer",
      () => api("POST", "transfer_cancel", {call_id: leg.call_id}))));
  }
  actions.append(button("Caller hangs up", "caller-hangup", () => act("hang up", () => api("POST", "hangup", {entry_id: call.entry_id}))));
  return tr;
}

function renderCalls(calls) {
  // A row is rebuilt only when its leg changed: a click or a colleague being picked in
  // a row is not lost to the refresh of the table.
  const tbody = $("calls");
  const consults = calls.consults || {};
  const heldBy = Object.fromEntries(Object.entries(consults).map(([c, h]) => [h, c]));
  const existing = new Map([...tbody.rows].map((tr) => [tr.dataset.callId, tr]));
  const rows = [];
  for (const call of calls.active) {
    for (const leg of call.legs.filter((l) => l.state !== "Disconnected")) {
      const sig = JSON.stringify([leg, Boolean(consults[leg.call_id]), Boolean(heldBy[leg.call_id])]);
      let tr = existing.get(leg.call_id);
      if (!tr || tr.dataset.sig !== sig) {
        tr = callRow(call, leg, consults, heldBy);
        tr.dataset.sig = sig;
      }
      rows.push(tr);
    }
  }
  rows.forEach((tr, i) => { if (tbody.rows[i] !== tr) { tbody.insertBefore(tr, tbody.rows[i] || null); } });
  while (tbody.rows.length > rows.length) { tbody.deleteRow(rows.length); }
  $("no-calls").hidden = rows.length > 0;
}

function renderEvents() {
  const tbody = $("events");
  tbody.replaceChildren();
  const newest = [...events.values()].sort((a, b) => b.n - a.n).slice(0, EVENTS_SHOWN);
  for (const ev of newest) {
    const tr = tbody.insertRow();
    tr.dataset.n = ev.n;
    tr.insertCell().textContent = ev.n;
    tr.insertCell().textContent = ev.path;
    tr.insertCell().textContent = ev.outcome + (ev.fault && ev.fault !== ev.outcome ? " (" + ev.fault + ")" : "");
    tr.insertCell().textContent = ev.status === null ? "" : ev.status;
    tr.insertCell().textContent = ev.latency === null ? "" : (ev.latency * 1000).toFixed(1);
    const code = document.createElement("code");
    code.className = "json";
    code.textContent = ev.json;
    tr.insertCell().append(code);
  }
}

async function refreshOnce() {
  const calls = await api("GET", "calls?finished=0");
  renderCalls(calls);
  const fresh = await api("GET", "events?since=" + lastEvent);
  for (const ev of fresh.events) { events.set(ev.n, ev); lastEvent = Math.max(lastEvent, ev.n); }
  for (const n of [...events.keys()].sort((a, b) => a - b).slice(0, Math.max(0, events.size - 200))) {
    events.delete(n);
  }
  renderEvents();
}

function refresh() {
  // One refresh at a time: the timer and a button must not fetch the same events twice.
  refreshing = refreshing || refreshOnce().finally(() => { refreshing = null; });
  return refreshing;
}

function fillPick(pick, input) {
  option(pick, "", "another number…");
  for (const c of status.callers) { option(pick, c.number, c.name + " · " + c.number); }
  pick.onchange = () => { if (pick.value) { input.value = pick.value; } };
  input.oninput = () => { pick.value = status.callers.some((c) => c.number === input.value) ? input.value : ""; };
  pick.selectedIndex = status.callers.length ? 1 : 0;
  input.value = pick.value || "79177654321";
}

function showFields() {
  const s = scenarios.find((x) => x.name === $("scenario").value);
  $("scenario-doc").textContent = s ? s.doc : "";
  for (const el of document.querySelectorAll("[data-param]")) {
    el.hidden = !s || !s.params.includes(el.dataset.param);
  }
}

function seconds(id, manualId) {
  if (manualId && $(manualId).checked) { return null; }
  return Number($(id).value || 0);
}

function scenarioParams() {
  const s = scenarios.find((x) => x.name === $("scenario").value);
  const values = {
    caller: $("caller").value.trim(), target: $("target").value.trim(), line: $("line").value,
    ivr_seconds: seconds("ivr_seconds"), dtmf: $("dtmf").value.trim() || null,
    extension: $("extension").value, to_extension: $("to_extension").value,
    group: $("group").value, answered_by: $("answered_by").value || null,
    ring_seconds: seconds("ring_seconds", "ring_manual"), missed_by: $("missed_by").value,
    consult_seconds: seconds("consult_seconds"), talk_seconds: seconds("talk_seconds", "talk_manual"),
    hangup_by: $("hangup_by").value,
  };
  const params = Object.fromEntries(s.params.map((name) => [name, values[name]]));
  const extra = $("extra").value.trim();
  return Object.assign(params, extra ? JSON.parse(extra) : {});
}

function fillAnsweredBy() {
  const group = status.groups.find((g) => g.extension === $("group").value);
  const select = $("answered_by");
  select.replaceChildren();
  for (const m of group ? group.members : []) { option(select, m, employeeName(m)); }
  option(select, "none", "nobody: the caller gives up");
}

function showAutopilot(ap) {
  $("ap_enabled").checked = ap.enabled;
  $("ap_colleague").value = ap.colleague;
  $("ap_answer_after").value = ap.answer_after;
  $("ap_talk").value = ap.talk;
  $("ap_max_ring").value = ap.max_ring;
}

async function init() {
  status = await api("GET", "status");
  const history = status.history_calls ? " · history of " + status.history_calls + " calls" : "";
  $("status").textContent = "key " + status.api_key + " · webhook " + (status.webhook || "(none)") +
    " · speed ×" + status.speed + history;
  for (const e of status.employees) {
    option($("extension"), e.extension, e.extension + " · " + e.name);
    option($("to_extension"), e.extension, e.extension + " · " + e.name);
  }
  if (status.employees.length > 1) { $("to_extension").selectedIndex = 1; }
  for (const ln of status.lines) { option($("line"), ln.number, (ln.name ? ln.name + " · " : "") + ln.number); }
  for (const g of status.groups) { option($("group"), g.extension, g.extension + " · " + g.name); }
  fillAnsweredBy();
  $("group").onchange = fillAnsweredBy;
  fillPick($("caller-pick"), $("caller"));
  fillPick($("target-pick"), $("target"));
  showAutopilot(status.autopilot);
  scenarios = (await api("GET", "scenarios")).scenarios;
  for (const s of scenarios) { option($("scenario"), s.name, s.name.replaceAll("_", " ")); }
  $("scenario").onchange = showFields;
  showFields();
  $("start").onclick = () => act("start", () => api("POST", "scenario", {name: $("scenario").value, params: scenarioParams()}));
  $("ap_apply").onclick = () => act("colleagues", async () => {
    const saved = await api("POST", "config", {autopilot: {
      enabled: $("ap_enabled").checked, colleague: $("ap_colleague").value,
      answer_after: Number($("ap_answer_after").value), talk: Number($("ap_talk").value),
      max_ring: Number($("ap_max_ring").value),
    }});
    showAutopilot(saved.autopilot);
    $("ap_saved").textContent = "saved";
  });
  await refresh();
  setInterval(() => refresh().catch((err) => say(err.message)), 1000);
}

init().catch((err) => say(err.message));
</script>
</body>
</html>
"""
