// The dashboard: a table kept live by server-sent events, a timeline of
// transitions, and buttons that send the operator's actions with the token.
"use strict";
const verbs = ["open", "half-open", "close", "force-open", "disable", "release"];
let actionsOn = false;

function render(data) {
  actionsOn = data.actions;
  document.getElementById("tokenbox").hidden = !actionsOn;
  const body = document.querySelector("#breakers tbody");
  body.replaceChildren();
  for (const b of data.breakers) {
    const tr = document.createElement("tr");
    tr.className = b.state;
    tr.dataset.name = b.name;
    const retry = b.state === "open" && b.mode !== "forced-open" ? b.retryAfterSeconds.toFixed(1) + " s" : "–";
    const rate = b.failureRate >= 0 ? `${Math.round(b.failureRate * 100)} % of ${b.windowCalls}` : "–";
    for (const [cls, text] of [["name", b.name], ["state", b.state], ["mode", b.mode], ["", b.failures],
      ["rate", rate], ["", b.trials], ["", b.trips], ["", retry], ["", b.members]]) {
      const td = document.createElement("td");
      td.className = cls;
      td.textContent = text;
      tr.appendChild(td);
    }
    const td = document.createElement("td");
    if (actionsOn) {
      for (const v of verbs) {
        const btn = document.createElement("button");
        btn.textContent = v;
        btn.dataset.verb = v;
        btn.onclick = () => act(b.name, v);
        td.appendChild(btn);
      }
    } else {
      td.textContent = "off";
    }
    tr.appendChild(td);
    body.appendChild(tr);
  }
  document.getElementById("empty").hidden = data.breakers.length > 0;
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
