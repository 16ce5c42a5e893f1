// The dashboard: a table of every breaker kept live by server-sent events
// ("snapshot" once, then "update" with only what changed), a timeline of
// transitions, and an action panel for the selected breaker. Rows are
// made once per breaker and kept in a map by id, so that an update of a
// few breakers among ten thousand touches only theirs.
"use strict";
const verbs = ["open", "half-open", "close", "force-open", "disable", "release"];
const rows = new Map(); // id → {tr, cells, v}
let actionsOn = false;
let selected = null; // id
let filter = "";
const $ = (id) => document.getElementById(id);
const body = document.querySelector("#breakers tbody");

// rowTemplate is a row's cells, cloned for each breaker.
const rowTemplate = (() => {
  const tr = document.createElement("tr");
  for (let i = 0; i < 10; i++) tr.appendChild(document.createElement("td"));
  tr.children[0].className = "name";
  tr.children[1].className = "state";
  return tr;
})();

function unhealthy(v) { return !v.shadow && (v.state !== "closed" || v.mode === "forced-open" || v.rejectProbability > 0 || v.rampShare < 1); }

function cellTexts(v) {
  const retry = v.state === "open" && v.mode !== "forced-open" ? v.retryAfterSeconds.toFixed(1) + " s" : "–";
  const rate = v.failureRate >= 0 ? `${Math.round(v.failureRate * 100)} % of ${v.windowCalls}` : "–";
  return [v.label, v.state, v.reason || "–", v.mode, v.failures, rate, v.trials, v.trips, retry, v.members];
}

function put(v) {
  let r = rows.get(v.id);
  if (!r) {
    const tr = rowTemplate.cloneNode(true);
    tr.dataset.id = v.id;
    r = { tr, cells: [...tr.children], v: null };
    rows.set(v.id, r);
  }
  const regroup = !r.v || unhealthy(r.v) !== unhealthy(v);
  r.v = v;
  r.tr.className = v.state + (v.mode === "normal" ? "" : " " + v.mode);
  cellTexts(v).forEach((text, i) => {
    const s = String(text);
    if (r.cells[i].textContent !== s) r.cells[i].textContent = s;
  });
  r.tr.hidden = filter !== "" && !v.label.toLowerCase().includes(filter);
  return regroup;
}

// reorder puts unhealthy breakers first, then by name, moving the rows in
// one fragment. With first, it puts that many rows in at once and the
// rest after the frame that draws them, so that a screenful shows before
// ten thousand rows are styled; done runs when all are in.
function reorder(first, done) {
  const all = [...rows.values()];
  all.sort((a, b) => (unhealthy(b.v) - unhealthy(a.v)) || (a.v.label < b.v.label ? -1 : a.v.label > b.v.label ? 1 : 0));
  const append = (from, to) => {
    const frag = document.createDocumentFragment();
    for (let i = from; i < to; i++) frag.appendChild(all[i].tr);
    body.appendChild(frag);
  };
  if (!first || all.length <= first) {
    append(0, all.length);
    if (done) done();
    return;
  }
  append(0, first);
  requestAnimationFrame(() => setTimeout(() => {
    if (all.every((r) => rows.get(r.tr.dataset.id) === r)) append(first, all.length);
    else reorder(); // changed meanwhile
    if (done) done();
  }, 0));
}

function counts() {
  const n = { closed: 0, open: 0, "half-open": 0, forced: 0 };
  for (const r of rows.values()) {
    n[r.v.state]++;
    if (r.v.mode === "forced-open") n.forced++;
  }
  $("counts").textContent = `${rows.size} breakers: ${n.open} open (${n.forced} forced), ${n["half-open"]} half-open, ${n.closed} closed`;
  $("empty").hidden = rows.size > 0;
}

function outage(o) {
  const el = $("outage");
  el.hidden = !o;
  if (o) el.textContent = `Cannot list the breakers since ${new Date(o.since).toLocaleTimeString()}: ${o.reason}. The table shows the last state known.`;
  document.body.classList.toggle("stale", !!o);
}

function snapshot(data) {
  actionsOn = data.actions;
  $("tokenbox").hidden = !actionsOn;
  rows.clear();
  body.textContent = "";
  for (const v of data.breakers) put(v);
  reorder(200, () => { window.timing.allInAt = performance.now(); });
  counts();
  outage(data.outage);
  showSelected();
}

function update(data) {
  let regroup = false;
  for (const id of data.removed) {
    const r = rows.get(id);
    if (r) { r.tr.remove(); rows.delete(id); }
  }
  for (const v of data.breakers) regroup = put(v) || regroup;
  if (regroup) reorder();
  counts();
  outage(data.outage);
  showSelected();
}

function applyFilter() {
  filter = $("filter").value.trim().toLowerCase();
  for (const r of rows.values()) r.tr.hidden = filter !== "" && !r.v.label.toLowerCase().includes(filter);
}

function showSelected() {
  const r = selected && rows.get(selected);
  $("selected").hidden = !r;
  if (!r) return;
  $("selname").textContent = r.v.label;
  $("selstate").textContent = `${r.v.state}${r.v.mode !== "normal" ? " (" + r.v.mode + ")" : ""}${r.v.reason ? ": rejects, " + r.v.reason : ""}`;
  const box = $("selactions");
  if (box.dataset.for === selected && box.dataset.on === String(actionsOn)) return;
  box.dataset.for = selected;
  box.dataset.on = String(actionsOn);
  box.textContent = "";
  if (!actionsOn) {
    box.textContent = "actions are off (start the dashboard with -token)";
    return;
  }
  for (const verb of verbs) {
    const btn = document.createElement("button");
    btn.textContent = verb;
    btn.dataset.verb = verb;
    btn.onclick = () => act(selected, verb);
    box.appendChild(btn);
  }
}

async function act(id, verb) {
  const msg = $("message");
  const r = rows.get(id);
  const label = r ? r.v.label : id;
  msg.className = "";
  msg.textContent = `${verb} ${label}…`;
  try {
    const resp = await fetch(`/api/breakers/${id}/${verb}`, {
      method: "POST", headers: { "Authorization": "Bearer " + $("token").value },
    });
    if (resp.ok) {
      const v = await resp.json();
      msg.className = "ok";
      msg.textContent = `${verb} ${label}: done, now ${v.state}${v.mode !== "normal" ? " (" + v.mode + ")" : ""}`;
      if (v.id) { update({ breakers: [v], removed: [], outage: null }); }
    } else {
      msg.className = "error";
      msg.textContent = `${verb} ${label}: ${resp.status} ${(await resp.text()).trim()}`;
    }
  } catch (e) {
    msg.className = "error";
    msg.textContent = `${verb} ${label}: ${e}`;
  }
}

function timeline(c) {
  const li = document.createElement("li");
  li.textContent = `${c.at}  ${c.label} → ${c.state}${c.mode !== "normal" ? " (" + c.mode + ")" : ""}${c.cause ? ": " + c.cause : ""}`;
  const tl = $("timeline");
  tl.prepend(li);
  while (tl.children.length > 200) tl.lastChild.remove();
}

function connect() {
  const conn = $("conn");
  const es = new EventSource("/api/events");
  es.addEventListener("open", () => { conn.textContent = "live"; });
  es.addEventListener("error", () => {
    conn.textContent = es.readyState === EventSource.CLOSED
      ? "disconnected: the server refused this page (too many pages open?); reload to try again"
      : "reconnecting… (the table shows the last state known)";
  });
  // Answering each ping shows the server this page reads: when it needs
  // room for another page, it drops a stream that does not answer.
  es.addEventListener("ping", (e) => {
    fetch("/api/events/ack", { method: "POST", body: e.data }).catch(() => {});
  });
  es.addEventListener("snapshot", (e) => {
    window.timing = { snapshotAt: performance.now() };
    snapshot(JSON.parse(e.data));
    window.timing.builtAt = performance.now();
    // The frame after next is drawn with every row: the render's end.
    requestAnimationFrame(() => requestAnimationFrame(() => {
      window.timing.paintedAt = performance.now();
      document.body.dataset.ready = "1";
    }));
  });
  es.addEventListener("update", (e) => update(JSON.parse(e.data)));
  es.addEventListener("change", (e) => timeline(JSON.parse(e.data)));
  es.addEventListener("missed", (e) => {
    const m = $("missed");
    m.hidden = false;
    m.textContent = `${JSON.parse(e.data).changes} transitions not shown: this page fell behind.`;
  });
}

let filterTimer = 0;
$("filter").addEventListener("input", () => { clearTimeout(filterTimer); filterTimer = setTimeout(applyFilter, 80); });
body.addEventListener("click", (e) => {
  const tr = e.target.closest("tr");
  if (!tr) return;
  selected = tr.dataset.id;
  $("message").textContent = "";
  showSelected();
});
connect();
