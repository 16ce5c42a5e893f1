// The dashboard: a table of every breaker kept live by server-sent events
// ("snapshot" once, then "update" with only what changed) and, beside it,
// the selected breaker's actions and a timeline of transitions. Rows are
// made once per breaker and kept in a map by id, so that an update of a
// few breakers among ten thousand touches only theirs.
"use strict";
// The actions that change the fleet's protection the most ask to be
// confirmed first.
const confirmText = {
  "force-open": (label) => [`Force ${label} open on every member? It rejects every call until released.`, "force open"],
  "disable": (label) => [`Disable ${label} on every member? It lets every call through, unprotected, until released.`, "disable"],
};
const rows = new Map(); // id → {tr, cells, v}
let actionsOn = false;
let selected = null; // id
let filter = "";
const $ = (id) => document.getElementById(id);
const body = document.querySelector("#breakers tbody");

// rowTemplate is a row's cells, cloned for each breaker.
const rowTemplate = (() => {
  const tr = document.createElement("tr");
  for (let i = 0; i < 9; i++) tr.appendChild(document.createElement("td"));
  tr.children[0].className = "name";
  tr.children[1].className = "state";
  return tr;
})();

// unhealthy is a breaker that needs an operator's attention: it rejects
// calls or sheds them, or is held in a mode (a disabled breaker protects
// nothing). A shadow's candidate never does.
function unhealthy(v) {
  return !v.shadow && (v.state !== "closed" || v.mode !== "normal" || v.rejectProbability > 0 || v.rampShare < 1);
}

// kind is what a breaker does, in the words of its state cell and of the
// counts: its state, unless a mode holds it ("forced open", "disabled").
function kind(v) {
  if (v.mode === "forced-open") return "forced open";
  if (v.mode === "disabled") return "disabled";
  return v.state;
}

// applicable is the actions that would change the breaker: a held
// breaker is released, or held the other way; a running one is moved to
// another state, or held.
function applicable(v) {
  if (v.shadow) return [];
  if (v.mode === "forced-open") return ["release", "disable"];
  if (v.mode === "disabled") return ["release", "force-open"];
  const moves = { "open": "open", "half-open": "half-open", "close": "closed" }; // verb → the state it moves to
  return Object.keys(moves).filter((verb) => moves[verb] !== v.state).concat(["force-open", "disable"]);
}

function cellTexts(v) {
  const retry = v.state === "open" && v.mode !== "forced-open" ? v.retryAfterSeconds.toFixed(1) + " s" : "–";
  const rate = v.failureRate >= 0 ? `${Math.round(v.failureRate * 100)} % of ${v.windowCalls}` : "–";
  return [v.label, kind(v), v.reason || "–", v.failures, rate, v.trials, v.trips, retry, v.members];
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
    if (r.cells[i].textContent === s) return;
    r.cells[i].textContent = s;
    if (i === 0 || i === 2) r.cells[i].title = s; // the name and why it rejects, whole, where cut
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

// counts shows how many breakers do what, each breaker counted once: the
// kinds add up to the total.
function counts() {
  const kinds = ["open", "forced open", "half-open", "disabled", "closed"];
  const n = Object.fromEntries(kinds.map((k) => [k, 0]));
  for (const r of rows.values()) n[kind(r.v)]++;
  const el = $("counts");
  const text = `${rows.size} breakers: ` + kinds.map((k) => `${n[k]} ${k}`).join(", ");
  if (el.dataset.text !== text) {
    el.dataset.text = text;
    el.textContent = `${rows.size} breakers: `;
    kinds.forEach((k, i) => {
      const s = document.createElement("span");
      s.className = "count " + k.replace(" ", "-") + (n[k] > 0 ? " some" : "");
      s.textContent = `${n[k]} ${k}`;
      if (i > 0) el.append(", ");
      el.appendChild(s);
    });
  }
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

// showSelected shows the selected breaker, and the buttons of the actions
// that apply to it now.
function showSelected() {
  const r = selected && rows.get(selected);
  $("selected").hidden = !r;
  if (!r) { hideConfirm(); return; }
  $("selname").textContent = r.v.label;
  $("selstate").className = "kind " + kind(r.v).replace(" ", "-");
  $("selstate").textContent = `${kind(r.v)}${r.v.reason && r.v.reason !== kind(r.v) ? ": rejects, " + r.v.reason : ""}` +
    (r.v.mode === "disabled" ? ": lets every call through" : "");
  const verbs = applicable(r.v);
  const box = $("selactions");
  const key = `${selected} ${actionsOn} ${verbs.join(" ")}`;
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.textContent = "";
  const c = $("confirm");
  if (!c.hidden && (c.dataset.for !== selected || !verbs.includes(c.dataset.verb))) hideConfirm();
  if (!actionsOn) {
    box.textContent = "actions are off (start the dashboard with -token)";
    return;
  }
  if (verbs.length === 0) {
    box.textContent = "a shadow's candidate takes no action";
    return;
  }
  for (const verb of verbs) {
    const btn = document.createElement("button");
    btn.textContent = verb;
    btn.dataset.verb = verb;
    if (confirmText[verb]) btn.className = "danger";
    btn.onclick = () => ask(selected, verb);
    box.appendChild(btn);
  }
}

// ask runs the action, or first asks to confirm it.
function ask(id, verb) {
  const r = rows.get(id);
  if (!confirmText[verb] || !r) { hideConfirm(); act(id, verb); return; }
  const [question, yes] = confirmText[verb](r.v.label);
  const c = $("confirm");
  c.dataset.for = id;
  c.dataset.verb = verb;
  $("confirmtext").textContent = question;
  $("confirmyes").textContent = yes;
  $("message").textContent = "";
  c.hidden = false;
}

function hideConfirm() {
  const c = $("confirm");
  c.hidden = true;
  delete c.dataset.for;
  delete c.dataset.verb;
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
      msg.textContent = `${verb} ${label}: done, now ${kind(v)}`;
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

// timeline adds a transition at the top of the timeline: when, which
// breaker, what it does now, and its cause.
function timeline(c) {
  const li = document.createElement("li");
  const at = document.createElement("span");
  at.className = "at";
  at.textContent = c.at;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = c.label;
  const to = document.createElement("span");
  to.className = "kind " + kind(c).replace(" ", "-");
  to.textContent = kind(c);
  li.append(at, "  ", who, " → ", to);
  if (c.cause) {
    const cause = document.createElement("div");
    cause.className = "cause";
    cause.textContent = c.cause;
    li.append(cause);
  }
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

$("confirmyes").addEventListener("click", () => {
  const c = $("confirm");
  const id = c.dataset.for, verb = c.dataset.verb;
  hideConfirm();
  if (id && verb) act(id, verb);
});
$("confirmno").addEventListener("click", () => {
  hideConfirm();
  $("message").className = "";
  $("message").textContent = "cancelled";
});
let filterTimer = 0;
$("filter").addEventListener("input", () => { clearTimeout(filterTimer); filterTimer = setTimeout(applyFilter, 80); });
body.addEventListener("click", (e) => {
  const tr = e.target.closest("tr");
  if (!tr) return;
  if (selected !== tr.dataset.id) hideConfirm();
  selected = tr.dataset.id;
  $("message").textContent = "";
  showSelected();
});
connect();
