// The dashboard: a table kept live by server-sent events, a timeline of
// transitions, and buttons that send the operator's actions with the token.
"use strict";
const verbs = ["open", "half-open", "close", "force-open", "disable", "release"];
let actionsOn = false;

// render updates the table in place: rows are made once per breaker and
// their cells rewritten, so a button is not replaced under the pointer.
function render(data) {
  actionsOn = data.actions;
  document.getElementById("tokenbox").hidden = !actionsOn;
  const body = document.querySelector("#breakers tbody");
  const seen = new Set();
  for (const b of data.breakers) {
    seen.add(b.name);
    let tr = body.querySelector(`tr[data-name="${CSS.escape(b.name)}"]`);
    if (!tr) {
      tr = newRow(b.name);
      body.appendChild(tr);
    }
    tr.className = b.state;
    const retry = b.state === "open" && b.mode !== "forced-open" ? b.retryAfterSeconds.toFixed(1) + " s" : "–";
    const rate = b.failureRate >= 0 ? `${Math.round(b.failureRate * 100)} % of ${b.windowCalls}` : "–";
    const cells = tr.querySelectorAll("td");
    [b.name, b.state, b.mode, b.failures, rate, b.trials, b.trips, retry, b.members].forEach((text, i) => {
      if (cells[i].textContent !== String(text)) cells[i].textContent = text;
    });
  }
  for (const tr of [...body.children]) {
    if (!seen.has(tr.dataset.name)) tr.remove();
  }
  document.getElementById("empty").hidden = data.breakers.length > 0;
}

function newRow(name) {
  const tr = document.createElement("tr");
  tr.dataset.name = name;
  for (const cls of ["name", "state", "mode", "", "rate", "", "", "", ""]) {
    const td = document.createElement("td");
    td.className = cls;
    tr.appendChild(td);
  }
  const td = document.createElement("td");
  td.className = "actions";
  if (actionsOn) {
    for (const v of verbs) {
      const btn = document.createElement("button");
      btn.textContent = v;
      btn.dataset.verb = v;
      btn.onclick = () => act(name, v);
      td.appendChild(btn);
    }
  } else {
    td.textContent = "off";
  }
  tr.appendChild(td);
  return tr;
}

async function act(name, verb) {
  const msg = document.getElementById("message");
  const token = document.getElementById("token").value;
  const resp = await fetch(`/api/breakers/${encodeURIComponent(name)}/${verb}`, {
    method: "POST", headers: { "Authorization": "Bearer " + token },
  });
  msg.textContent = resp.ok ? "" : `${verb} ${name}: ${resp.status} ${(await resp.text()).trim()}`;
}

function connect() {
  const conn = document.getElementById("conn");
  const es = new EventSource("/api/events");
  es.addEventListener("open", () => { conn.textContent = "live"; });
  es.addEventListener("error", () => { conn.textContent = "reconnecting…"; });
  es.addEventListener("snapshot", (e) => render(JSON.parse(e.data)));
  es.addEventListener("change", (e) => {
    const c = JSON.parse(e.data);
    const li = document.createElement("li");
    li.textContent = `${c.at}  ${c.name} → ${c.state}${c.mode !== "normal" ? " (" + c.mode + ")" : ""}`;
    const tl = document.getElementById("timeline");
    tl.prepend(li);
    while (tl.children.length > 200) tl.lastChild.remove();
    const row = document.querySelector(`tr[data-name="${CSS.escape(c.name)}"]`);
    if (row) {
      row.className = c.state;
      row.querySelector("td.state").textContent = c.state;
      row.querySelector("td:nth-child(3)").textContent = c.mode;
    }
  });
}
connect();
