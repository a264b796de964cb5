// Hearth web app: plain JavaScript, no build step, nothing fetched from
// elsewhere. Each page is a function from the app's state to HTML; the live
// stream (server-sent events) updates the state and re-renders the page.
// To show new data, add a section to a page function (or a page to PAGES).
"use strict";

const RANGES = [[1, "1 h"], [6, "6 h"], [24, "24 h"], [168, "7 d"]];
const MAX_LIVE_POINTS = 5000;

const app = {
  status: null,      // latest /api/v1/status
  auth: null,        // /api/v1/auth/state
  hours: 6,          // chart range
  series: {},        // zone id -> [{ts_ms, temp_c, setpoint_c, power_w}]
  events: [],
  extra: {},         // optional endpoints (mining), by path: JSON or null
  control: null,     // /api/v1/control: settings, the policy's decision, house inputs, economics
  zoneExtra: {},     // zone id -> {schedule, presets} (settings page)
  source: null,      // EventSource
  editing: false,    // true while a form field has focus: don't re-render under the user
};

const $ = (sel) => document.querySelector(sel);
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const num = (v, digits = 1, unit = "") => (v === null || v === undefined || Number.isNaN(v)) ? "—" : `${Number(v).toFixed(digits)}${unit}`;
const when = (ms) => new Date(ms).toLocaleString();

async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { "x-requested-with": "hearth" } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
  if (!r.ok) {
    const err = new Error((data && data.error) || `${r.status} ${r.statusText}`);
    err.status = r.status;
    throw err;
  }
  return data;
}

function toast(msg) {
  const t = $("#toast");
  t.textContent = msg;
  // A count of toasts shown, so a reader (a test, a screen reader's script)
  // can tell a new "Saved" from the last one still in the element.
  t.dataset.seq = String((Number(t.dataset.seq) || 0) + 1);
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 3000);
}

// ---- authentication -------------------------------------------------------

async function boot() {
  app.auth = await api("GET", "/api/v1/auth/state");
  if (!app.auth.owner_set) return showAuth("setup");
  if (!app.auth.authenticated && !app.auth.public_read) return showAuth("login");
  $("#auth").hidden = true;
  await start();
}

function showAuth(kind) {
  const setup = kind === "setup";
  $("#auth").hidden = false;
  $("#auth-title").textContent = setup ? "Welcome to Hearth" : "Log in";
  $("#auth-help").textContent = setup
    ? "Choose the owner password (at least 8 characters). It protects every change to your heaters."
    : "Enter the owner password.";
  $("#auth-confirm-row").hidden = !setup;
  $("#auth-confirm").required = setup;
  $("#auth-password").autocomplete = setup ? "new-password" : "current-password";
  $("#auth-submit").textContent = setup ? "Set password" : "Log in";
  $("#auth-error").textContent = "";
  $("#auth-form").onsubmit = async (e) => {
    e.preventDefault();
    const password = $("#auth-password").value;
    if (setup && password !== $("#auth-confirm").value) {
      $("#auth-error").textContent = "The passwords differ.";
      return;
    }
    $("#auth-submit").disabled = true;
    try {
      await api("POST", setup ? "/api/v1/auth/setup" : "/api/v1/auth/login", { password });
      $("#auth-password").value = "";
      $("#auth-confirm").value = "";
      await boot();
    } catch (err) {
      $("#auth-error").textContent = err.message;
    } finally {
      $("#auth-submit").disabled = false;
    }
  };
  $("#auth-password").focus();
}

// ---- data -----------------------------------------------------------------

async function start() {
  $("#nav").hidden = false;
  try { app.status = await api("GET", "/api/v1/status"); } catch (_) { app.status = null; }
  await loadHistory();
  connect();
  window.onhashchange = () => { render(); loadForPage(); };
  render();
  loadForPage();
}

async function loadHistory() {
  if (!app.status) return;
  await Promise.all(app.status.zones.map(async (z) => {
    try {
      const rows = await api("GET", `/api/v1/zones/${encodeURIComponent(z.id)}/history?hours=${app.hours}`);
      app.series[z.id] = rows.map((r) => ({ ts_ms: r.ts_ms, temp_c: r.temp_c, setpoint_c: r.setpoint_c, power_w: r.power_w }));
    } catch (_) {
      app.series[z.id] = app.series[z.id] || [];
    }
  }));
}

function connect() {
  if (app.source) app.source.close();
  const es = new EventSource("/api/v1/stream");
  app.source = es;
  es.addEventListener("open", () => { $("#live").textContent = "live"; $("#live").classList.add("on"); });
  es.addEventListener("error", () => { $("#live").textContent = "reconnecting"; $("#live").classList.remove("on"); });
  es.addEventListener("status", (e) => {
    const s = JSON.parse(e.data);
    app.status = s;
    for (const z of s.zones) {
      const pts = app.series[z.id] || (app.series[z.id] = []);
      const boards = s.boards.filter((b) => b.zone === z.id);
      pts.push({ ts_ms: s.time_ms, temp_c: z.temperature_c, setpoint_c: z.setpoint_c, power_w: boards.reduce((a, b) => a + b.power_w, 0) });
      const from = s.time_ms - app.hours * 3600e3;
      while (pts.length && (pts[0].ts_ms < from || pts.length > MAX_LIVE_POINTS)) pts.shift();
    }
    // Control (decision, economics) moves with the ticks: refresh it at most every 5 s.
    if (["dashboard", "settings", "mining"].includes(currentPage()) && Date.now() - (app.controlAt || 0) > 5000) {
      app.controlAt = Date.now();
      loadControl().then(() => { if (!isEditing()) render(); });
    }
    if (!isEditing()) render();
    // The event log follows along while it is open (at most every 5 s).
    if (currentPage() === "events" && Date.now() - (app.eventsAt || 0) > 5000) {
      app.eventsAt = Date.now();
      api("GET", "/api/v1/events?limit=200").then((ev) => { app.events = ev; if (!isEditing()) render(); }).catch(() => {});
    }
  });
}

async function loadControl() {
  try { app.control = await api("GET", "/api/v1/control"); } catch (_) { app.control = null; }
}

async function loadZoneExtra() {
  if (!app.status) return;
  await Promise.all(app.status.zones.map(async (z) => {
    const id = encodeURIComponent(z.id);
    const [schedule, presets] = await Promise.all([
      api("GET", `/api/v1/zones/${id}/schedule`).catch(() => null),
      api("GET", `/api/v1/zones/${id}/presets`).catch(() => null),
    ]);
    app.zoneExtra[z.id] = { schedule, presets };
  }));
}

async function loadForPage() {
  const page = currentPage();
  if (page === "dashboard" || page === "settings" || page === "mining") {
    app.controlAt = Date.now();
    await loadControl();
  }
  if (page === "settings") {
    await loadZoneExtra();
    try { app.extra.mqtt = await api("GET", "/api/v1/settings/mqtt"); } catch (_) { app.extra.mqtt = null; }
    try { app.extra.work = await api("GET", "/api/v1/settings/work"); } catch (_) { app.extra.work = null; }
  }
  if (page === "events" || page === "boards") {
    try { app.events = await api("GET", "/api/v1/events?limit=200"); } catch (_) { app.events = []; }
  }
  if (page === "mining") {
    for (const path of ["/api/v1/sharechain"]) {
      try { app.extra[path] = await api("GET", path); } catch (_) { app.extra[path] = null; }
    }
  }
  if (page === "settings" && app.auth.authenticated) {
    try { app.extra.tokens = await api("GET", "/api/v1/auth/tokens"); } catch (_) { app.extra.tokens = null; }
  }
  if (!isEditing()) render();
}

// The user is typing in (or about to submit) a form: live re-renders wait,
// or they would drop what was typed. Focus events alone miss a field that
// got focus while the window had none, so the focused element is asked too.
function isEditing() {
  const a = document.activeElement;
  return app.editing || Boolean(a && a !== document.body && a.closest && a.closest("#main form"));
}

function doneEditing() {
  app.editing = false;
  const a = document.activeElement;
  if (a && a.blur && a.closest && a.closest("#main form")) a.blur();
}

// ---- pages ----------------------------------------------------------------

function currentPage() {
  const p = location.hash.replace(/^#\//, "");
  return PAGES[p] ? p : "dashboard";
}

function render() {
  const page = currentPage();
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === page);
  $("#main").innerHTML = app.status ? PAGES[page]() : `<p class="muted">Waiting for the first control tick…</p>`;
  bind(page);
}

const PAGES = {
  dashboard() {
    const s = app.status;
    const outdoor = s.outdoor_temp_c === null || s.outdoor_temp_c === undefined ? "" : ` · outdoor ${num(s.outdoor_temp_c)} °C`;
    return `<h1>Dashboard <span class="muted small">${esc(when(s.time_ms))}${outdoor}${s.simulated ? " · simulated" : ""}</span></h1>
      <div class="ranges row">${RANGES.map(([h, l]) => `<button class="secondary ${h === app.hours ? "on" : ""}" data-hours="${h}">${l}</button>`).join("")}</div>
      ${economicsCard()}
      ${s.zones.map(zoneCard).join("")}`;
  },

  boards() {
    const trips = {};
    for (const e of app.events) if (e.kind === "tripped") trips[e.source] = (trips[e.source] || 0) + 1;
    return `<h1>Boards</h1><div class="grid">${app.status.boards.map((b) => `
      <div class="card" data-board="${esc(b.id)}">
        <h2>${esc(b.id)} <span class="badge ${esc(b.state)}">${esc(b.state)}</span></h2>
        <p class="muted">${esc(b.model)} · zone ${esc(b.zone)}</p>
        <dl class="kv">
          <dt>Power</dt><dd>${num(b.power_w, 0, " W")} of ${num(b.power_target_w, 0, " W")} asked</dd>
          <dt>Hashrate</dt><dd>${num(b.hashrate_ghs / 1000, 2, " TH/s")}</dd>
          <dt>Chip</dt><dd>${num(b.chip_temp_c, 1, " °C")}</dd>
          <dt>Regulator</dt><dd>${num(b.regulator_temp_c, 1, " °C")}</dd>
          <dt>Fan</dt><dd>${num(b.fan_duty_percent, 0, " %")}${b.fan_rpm == null ? "" : ` · ${num(b.fan_rpm, 0, " rpm")}`}</dd>
          <dt>Clock</dt><dd>${num(b.freq_mhz, 1, " MHz")} at ${num(b.voltage_mv, 0, " mV")}</dd>
          <dt>Trips</dt><dd>${trips[b.id] || 0} in the last ${app.events.length} events</dd>
        </dl>
      </div>`).join("")}</div>`;
  },

  mining() {
    const total = app.status.boards.reduce((a, b) => a + b.hashrate_ghs, 0);
    const section = (title, path) => {
      const data = app.extra[path];
      return `<div class="card"><h2>${title}</h2>${data == null
        ? `<p class="muted">Not available from this daemon (<code>${esc(path)}</code>).</p>`
        : kvTree(data)}</div>`;
    };
    return `<h1>Mining</h1>
      <div class="card"><h2>Hashrate</h2><p class="big">${num(total / 1000, 2, " TH/s")}</p>
        <p class="muted">Heat comes first: hashrate follows the heat each zone needs.</p></div>
      ${workCards(app.status.work)}
      ${sharechainCard(app.extra["/api/v1/sharechain"])}
      ${section("Sharechain details", "/api/v1/sharechain")}`;
  },

  settings() {
    const s = app.status;
    const canWrite = app.auth.authenticated;
    const tokens = app.extra.tokens;
    return `<h1>Settings</h1>
      ${canWrite ? "" : `<div class="card"><p>Read-only view. <button id="login-now">Log in</button> to change settings.</p></div>`}
      <div class="grid">${s.zones.map((z) => `
        <form class="card zone-settings" data-zone="${esc(z.id)}">
          <h2>${esc(z.name)}</h2>
          <label>Setpoint (°C) <input name="setpoint" type="number" step="0.1" value="${z.setpoint_c}" ${canWrite ? "" : "disabled"}></label>
          <label>Mode <select name="mode" ${canWrite ? "" : "disabled"}>
            ${["heat", "auto", "off"].map((m) => `<option value="${m}" ${m === z.mode ? "selected" : ""}>${m}</option>`).join("")}
          </select></label>
          <button type="submit" ${canWrite ? "" : "disabled"}>Save</button>
          <p class="error"></p>
        </form>`).join("")}</div>
      ${s.zones.map((z) => zoneExtraCard(z, canWrite)).join("")}
      ${policyCard(canWrite)}
      ${siteCard(canWrite)}
      ${miningCard(canWrite)}
      ${houseCard()}
      ${mqttCard(canWrite)}
      ${workSourcesCard(canWrite)}
      ${canWrite ? `
      <div class="card"><h2>Access tokens for scripts</h2>
        <p class="muted">Send as <code>Authorization: Bearer &lt;token&gt;</code>; the CLI reads <code>HEARTH_TOKEN</code>.</p>
        <div class="table-wrap"><table id="tokens"><tr><th>id</th><th>name</th><th>created</th><th></th></tr>
          ${(tokens || []).map((t) => `<tr><td>${t.id}</td><td>${esc(t.name)}</td><td>${esc(when(t.created_ms))}</td>
            <td><button class="secondary revoke" data-id="${t.id}">Revoke</button></td></tr>`).join("")}
        </table></div>
        <form id="new-token" class="setter"><input name="name" placeholder="token name" maxlength="64" required><button>Create token</button></form>
        <div id="new-token-out">${app.extra.newToken ? `<p>Copy it now, it is shown once:</p><code class="token">${esc(app.extra.newToken)}</code>` : ""}</div>
      </div>
      <form id="password" class="card"><h2>Owner password</h2>
        <label>Current <input name="current" type="password" autocomplete="current-password" required></label>
        <label>New <input name="new" type="password" autocomplete="new-password" minlength="8" maxlength="256" required></label>
        <button>Change password</button> <button type="button" class="secondary" id="logout">Log out</button>
        <p class="error"></p>
      </form>` : ""}`;
  },

  events() {
    return `<h1>Event log</h1><div class="card table-wrap"><table>
      <tr><th>time</th><th>source</th><th>kind</th><th>message</th></tr>
      ${app.events.map((e) => `<tr><td>${esc(when(e.ts_ms))}</td><td>${esc(e.source)}</td><td><span class="badge ${esc(e.kind)}">${esc(e.kind)}</span></td><td>${esc(e.message)}</td></tr>`).join("")}
      </table>${app.events.length ? "" : `<p class="muted">No events yet.</p>`}</div>`;
  },
};

function zoneCard(z) {
  const s = app.status;
  const boards = s.boards.filter((b) => b.zone === z.id);
  const power = boards.reduce((a, b) => a + b.power_w, 0);
  const hashrate = boards.reduce((a, b) => a + b.hashrate_ghs, 0);
  const d = app.control && app.control.decision;
  const policy = d ? ` · policy: ${d.rule.replace(/_/g, " ")} (${d.miner})${d.why && d.why.length ? ` — ${d.why[0]}` : ""}` : "";
  const rule = (z.hold_reason ? `held: ${z.hold_reason}` : (z.mode === "off" ? "zone is off" : (z.mode === "auto" ? "schedule + thermostat" : "thermostat (PI with outdoor feed-forward)"))) + policy;
  const canWrite = app.auth.authenticated;
  return `<section class="card zone" data-zone="${esc(z.id)}">
    <div class="row"><h2>${esc(z.name)}</h2><span class="badge ${esc(z.action)}" data-testid="action">${esc(z.action)}</span></div>
    <div class="row">
      <span class="big" data-testid="temperature">${num(z.temperature_c, 1, " °C")}</span>
      <span>target <strong data-testid="setpoint">${num(z.setpoint_c, 1, " °C")}</strong></span>
      <span>${num(power, 0, " W")} heat</span>
      <span class="muted">${num(hashrate / 1000, 2, " TH/s")}</span>
    </div>
    <p class="muted">In charge: <span data-testid="rule">${esc(rule)}</span> · demand ${num(z.demand * 100, 0, " %")}</p>
    ${chart(z.id)}
    <div class="legend"><span class="t">temperature</span><span class="s">setpoint</span><span class="p">power</span></div>
    ${canWrite ? `<form class="setter quick-setpoint" data-zone="${esc(z.id)}">
      <button type="button" class="secondary step" data-step="-0.5" aria-label="lower">−</button>
      <label>Setpoint <input name="setpoint" type="number" step="0.1" value="${z.setpoint_c}" aria-label="setpoint for ${esc(z.name)}"></label>
      <button type="button" class="secondary step" data-step="0.5" aria-label="raise">+</button>
      <button type="submit">Set</button>
    </form>` : ""}
  </section>`;
}

const money = (v) => v === undefined || v === null ? "—" : Number(v).toFixed(2);
const duration = (sec) => sec == null ? "—" : sec < 120 ? `${num(sec, 0)} s` : sec < 7200 ? `${num(sec / 60, 0)} min` : sec < 172800 ? `${num(sec / 3600, 1)} h` : `${num(sec / 86400, 1)} days`;

// Site-wide, from GET /api/v1/control (since the daemon started).
function economicsCard() {
  const e = app.control && app.control.economics;
  if (!e) return "";
  return `<section class="card" data-testid="economics"><h2>Heat cost and earnings <span class="muted small">since the daemon started</span></h2>
    <dl class="kv">
      <dt>Heat</dt><dd>${num(e.heat_kwh, 2, " kWh")} · now ${num(e.heat_w, 0, " W")}</dd>
      <dt>Electricity</dt><dd>${money(e.electricity_cost)}</dd>
      <dt>Earned (mining)</dt><dd data-testid="revenue">${money(e.revenue)}</dd>
      <dt>Net heat cost</dt><dd data-testid="net-cost">${money(e.net_cost)} · now ${money(e.net_cost_per_hour)}/h</dd>
      <dt>Net per heat kWh</dt><dd>${e.net_cost_per_heat_kwh == null ? "—" : Number(e.net_cost_per_heat_kwh).toFixed(3)}</dd>
      <dt>Same heat, resistive</dt><dd>${money(e.resistive_cost)}</dd>
      <dt>Same heat, heat pump</dt><dd>${app.control.settings.heat_pump_cop ? money(e.heat_pump_cost) : "no heat pump configured"}</dd>
    </dl></section>`;
}

// status.work: where the boards' work comes from, per source.
function workCards(w) {
  if (!w) return `<div class="card"><h2>Work sources</h2><p class="muted">The work service is not running.</p></div>`;
  const mode = w.mode === "heat_only" ? `heat only: ${esc(w.reason)}` : `source ${esc(w.name)}`;
  return `<div class="card" data-testid="work"><h2>Work</h2><p>${esc(w.summary)}</p><p class="muted">Mode: <span data-testid="work-mode">${mode}</span></p></div>
    <div class="grid">${(w.sources || []).map((src) => {
      const st = src.stats || {};
      // Expectations only mean something against a real target: with no share
      // (or network) difficulty from the source yet they are left out.
      const shareOk = st.share_difficulty > 0, netOk = st.network_difficulty > 0;
      return `<div class="card" data-source="${esc(src.name)}">
        <h2>${esc(src.name)} <span class="badge ${esc(src.health)}">${esc(src.health)}</span>${src.active ? ` <span class="badge on">in use</span>` : ""}</h2>
        <dl class="kv">
          <dt>Shares</dt><dd>${st.accepted ?? 0} accepted · ${st.rejected ?? 0} rejected · ${st.stale ?? 0} stale · ${st.lost ?? 0} lost</dd>
          <dt>Blocks</dt><dd>${st.blocks ?? 0}</dd>
          <dt>Effective hashrate</dt><dd>${num((st.effective_hashrate_ghs ?? null) === null ? null : st.effective_hashrate_ghs / 1000, 3, " TH/s")}</dd>
          <dt>Share difficulty</dt><dd>${num(st.share_difficulty, 0)}</dd>
          <dt>Expected time to a share</dt><dd>${shareOk ? duration(st.expected_time_to_share_s) : "— (no share difficulty from the source yet)"}</dd>
          <dt>Expected time to a block</dt><dd>${netOk ? duration(st.expected_time_to_block_s) : "— (no network difficulty yet)"}</dd>
          <dt>Expected earnings</dt><dd>${netOk ? num(st.expected_sat_per_day, 1, " sat/day") + (st.expected_sat_per_day_capped ? " (at most; a test network's difficulty)" : "") : "—"}</dd>
        </dl></div>`;
    }).join("")}</div>
    <div class="card"><h2>Counters</h2><dl class="kv">${["boards", "jobs_sent", "job_send_failures", "nonces_checked", "nonces_below_target", "nonces_stale", "nonces_unknown_job", "shares_found", "shares_not_queued", "blocks_found"]
      .map((k) => `<dt>${k.replace(/_/g, " ")}</dt><dd>${esc(w[k])}</dd>`).join("")}</dl></div>${lanServerCard(w.lan_server)}`;
}

// [work.server]: the LAN miners mining on our work (nothing when it is off).
function lanServerCard(lan) {
  if (!lan) return "";
  const rows = (lan.workers || []).map((m) => `<tr><td>${esc(m.user ?? "—")}${m.worker ? "." + esc(m.worker) : ""}</td><td>${esc(m.peer)}</td><td>${num(m.difficulty, 4)}</td><td>${m.accepted} / ${m.rejected} / ${m.stale}</td><td>${m.relayed}</td><td>${num(m.effective_hashrate_ghs, 1, " GH/s")}</td></tr>`).join("");
  return `<div class="card" data-testid="lan-server"><h2>LAN miners</h2>
    <p class="muted">Listening on ${esc(lan.listen)} · ${lan.connections} of ${lan.max_connections} connected${lan.refused_connections ? ` · ${lan.refused_connections} refused` : ""}${lan.no_work ? ` · no work to share: ${esc(lan.no_work)}` : ""}</p>
    ${rows ? `<table><thead><tr><th>Miner</th><th>Address</th><th>Difficulty</th><th>Accepted / rejected / stale</th><th>Relayed</th><th>Hashrate</th></tr></thead><tbody>${rows}</tbody></table>` : ""}</div>`;
}

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const PRESETS = ["comfort", "eco", "away", "boost", "frost"];

// Presets (pick one, edit the table) and the weekly schedule of one zone.
function zoneExtraCard(z, canWrite) {
  const x = app.zoneExtra[z.id] || {};
  const dis = canWrite ? "" : "disabled";
  const p = x.presets;
  const presets = p ? `<div class="row">${PRESETS.map((k) => `<button type="button" class="secondary pick-preset ${p.active === k ? "on" : ""}" data-zone="${esc(z.id)}" data-preset="${k}" ${dis}>${k} ${num(p.table[k + "_c"], 1, " °C")}</button>`).join("")}</div>
      <form class="presets-table setter" data-zone="${esc(z.id)}">${PRESETS.map((k) => `<label>${k} <input name="${k}_c" type="number" step="0.1" value="${p.table[k + "_c"]}" ${dis}></label>`).join("")}
        <button ${dis}>Save presets</button><p class="error"></p></form>`
    : `<p class="muted">Presets not available.</p>`;
  const sched = x.schedule || [];
  const rows = sched.map((e, i) => `<tr data-row="${i}"><td><input name="at" type="time" value="${esc(e.at)}" ${dis}></td>
      <td><input name="setpoint_c" type="number" step="0.1" value="${e.setpoint_c}" ${dis}></td>
      <td class="days">${DAYS.map((d) => `<label class="day"><input type="checkbox" name="${d}" ${!e.days || e.days.includes(d) ? "checked" : ""} ${dis}>${d}</label>`).join("")}</td>
      <td><button type="button" class="secondary del-entry" ${dis}>×</button></td></tr>`).join("");
  return `<section class="card zone-extra" data-zone="${esc(z.id)}"><h2>${esc(z.name)}: presets and weekly schedule</h2>
    ${presets}
    <form class="schedule" data-zone="${esc(z.id)}">
      <p class="muted">Times are UTC. The schedule is followed in mode <strong>auto</strong> (now: ${esc(z.mode)}).</p>
      <div class="table-wrap"><table><tr><th>from</th><th>°C</th><th>days</th><th></th></tr>${rows}</table></div>
      ${sched.length ? "" : `<p class="muted">No schedule.</p>`}
      <button type="button" class="secondary add-entry" ${dis}>Add entry</button> <button ${dis}>Save schedule</button>
      <p class="error"></p>
    </form></section>`;
}

const RULE_SWITCHES = [
  ["obey_sg_block", "Obey the utility's SG-Ready block"],
  ["backup_below_balance_point", "Back up the heat pump below the balance point"],
  ["economic_switch", "Pick the cheaper heat source (miner vs heat pump)"],
  ["drive_sg_ready", "Drive the heat pump's SG-Ready inputs"],
  ["pv_soak", "Soak PV surplus"],
  ["cheap_preheat", "Pre-heat in cheap hours"],
];

// The policy's named rule sets (hearth-control's Strategy, docs/configuration.md).
const STRATEGIES = [
  ["economic", "Economic: the cheaper heat carries the load"],
  ["heat_pump_first", "Heat pump first: the miner is backup"],
  ["miner_first", "Miner first: the heat pump backs it up"],
  ["pv_only", "PV only: the miner heats on PV surplus"],
];
// Unset in the settings: the economic switch says which of the first two.
const strategyOf = (pol) => pol.strategy || (pol.economic_switch ? "economic" : "heat_pump_first");

function policyCard(canWrite) {
  const c = app.control;
  if (!c) return "";
  const pol = c.settings.policy, d = c.decision;
  const strategy = strategyOf(pol);
  return `<form class="card" id="policy"><h2>Heat-source policy</h2>
    ${d ? `<p>In charge: <strong data-testid="policy-rule">${esc(d.rule.replace(/_/g, " "))}</strong> → miner <strong>${esc(d.miner)}</strong>${d.setpoint_offset_k ? `, setpoint ${d.setpoint_offset_k > 0 ? "+" : ""}${num(d.setpoint_offset_k, 1, " K")}` : ""}</p>
      <ol class="why">${d.why.map((w) => `<li>${esc(w)}</li>`).join("")}</ol>
      <p class="muted">Price ${num(d.price_per_kwh, 3)}/kWh · mining earns ${num(d.revenue_per_kwh, 3)}/kWh${d.cop == null ? "" : ` · heat pump COP ${num(d.cop, 2)}`}</p>` : `<p class="muted">No decision yet.</p>`}
    <label>Strategy <select name="strategy" data-testid="policy-strategy" ${canWrite ? "" : "disabled"}>${STRATEGIES.map(([k, label]) => `<option value="${k}" ${k === strategy ? "selected" : ""}>${esc(label)}</option>`).join("")}</select></label>
    ${RULE_SWITCHES.map(([k, label]) => `<label class="switch"><input type="checkbox" name="${k}" ${pol[k] ? "checked" : ""} ${canWrite ? "" : "disabled"}> ${esc(label)}</label>`).join("")}
    <label>Balance point (°C) <input name="balance_point_c" type="number" step="0.5" value="${pol.balance_point_c}" ${canWrite ? "" : "disabled"}></label>
    <button ${canWrite ? "" : "disabled"}>Save policy</button><p class="error"></p></form>`;
}

function siteCard(canWrite) {
  const c = app.control;
  if (!c) return "";
  const lim = c.settings.site_limit_w;
  return `<form class="card setter" id="site"><h2>Site power limit</h2>
    <label>Most all boards together may draw (W, empty: no limit) <input name="limit" type="number" step="1" min="0" value="${lim == null ? "" : lim}" ${canWrite ? "" : "disabled"}></label>
    <button ${canWrite ? "" : "disabled"}>Save limit</button><p class="error"></p></form>`;
}

function houseCard() {
  const h = app.control && app.control.house;
  if (!h) return "";
  const row = (k, label, f) => `<dt>${label}</dt><dd>${h[k] == null ? `<span class="muted">no fresh value</span>` : f(h[k])}</dd>`;
  return `<div class="card"><h2>House inputs</h2><p class="muted">Sent by Home Assistant (MQTT) or <code>PUT /api/v1/control/house</code>; stale values are ignored.</p>
    <dl class="kv">
      ${row("outdoor_c", "Outdoor", (v) => num(v, 1, " °C"))}
      ${row("price_per_kwh", "Electricity price", (v) => `${num(v, 3)}/kWh`)}
      ${row("pv_surplus_w", "PV surplus", (v) => num(v, 0, " W"))}
      ${row("heat_pump", "Heat pump", esc)}
      ${row("sg_ready", "SG-Ready", esc)}
      ${row("presence", "Someone home", (v) => v ? "yes" : "no")}
      ${row("hashprice_per_th_day", "Hashprice", (v) => `${num(v, 4)}/TH/day`)}
    </dl></div>`;
}

// Sync progress: our height against the best height a peer announced.
function sharechainCard(c) {
  if (!c) return "";
  const h = c.height == null ? 0 : c.height, best = Math.max(c.best_peer_height || 0, h);
  const pct = best > 0 ? Math.min(100, (100 * h) / best) : 100;
  const synced = c.sync_pending === 0 && h >= best;
  return `<div class="card" data-testid="sharechain"><h2>Sharechain <span class="muted small">${esc(c.network)}</span></h2>
    <p>${synced ? "In sync" : "Syncing"}: height <strong>${c.height == null ? "–" : h}</strong> of ${best}${c.sync_pending ? ` · ${c.sync_pending} shares pending` : ""} · ${c.peers} peer${c.peers === 1 ? "" : "s"}</p>
    <progress max="100" value="${pct.toFixed(1)}" aria-label="sync progress">${pct.toFixed(0)} %</progress>
    <p class="muted">Our shares in the window: ${c.our_shares} of ${c.window_shares} (${num(100 * c.our_fraction, 2, " %")}) · payout if a block is found now: ${c.our_expected_payout_sat} sat</p></div>`;
}

const MQTT_FIELDS = [
  ["host", "Broker host", "text"], ["port", "Port", "number"], ["username", "User name", "text"],
  ["client_id", "Client id", "text"], ["base_topic", "Base topic", "text"], ["discovery_prefix", "Discovery prefix", "text"],
];

function mqttCard(canWrite) {
  const m = app.extra.mqtt;
  if (!m) return `<div class="card"><h2>MQTT (Home Assistant)</h2><p class="muted">Not available from this daemon.</p></div>`;
  const dis = canWrite ? "" : "disabled";
  return `<form class="card" id="mqtt"><h2>MQTT (Home Assistant)</h2>
    <p class="muted">Saved on the heater and applied by reconnecting; TLS and house inputs stay in the configuration file.</p>
    <label class="switch"><input type="checkbox" name="enabled" ${m.enabled ? "checked" : ""} ${dis}> Connect to a broker</label>
    ${MQTT_FIELDS.map(([k, label, type]) => `<label>${label} <input name="${k}" type="${type}" value="${esc(m[k] == null ? "" : m[k])}" ${dis}></label>`).join("")}
    <label>Password <input name="password" type="password" autocomplete="new-password" placeholder="${m.password_set ? "stored; leave empty to keep" : "none"}" ${dis}></label>
    ${m.password_set ? `<label class="switch"><input type="checkbox" name="clear_password" ${dis}> Remove the stored password</label>` : ""}
    <button ${dis}>Save MQTT</button><p class="error"></p></form>`;
}

// Work sources: our sharechain node on or off, then the Stratum pools in
// failover order (one fieldset each, so it stacks on a phone). Passwords are
// write-only: the field stays empty and says whether one is stored.
function workSourcesCard(canWrite) {
  const w = app.extra.work;
  if (!w) return `<div class="card"><h2>Work sources</h2><p class="muted">Not available from this daemon.</p></div>`;
  const dis = canWrite ? "" : "disabled";
  const pool = (p, i) => `<fieldset class="pool" data-pool="${i}"><legend>Pool ${i + 1}</legend>
      <label>Name <input name="name" value="${esc(p.name)}" maxlength="64" required ${dis}></label>
      <label>URL <input name="url" value="${esc(p.url)}" placeholder="stratum+tcp://host:port" ${dis}></label>
      <label>User (address.worker) <input name="user" value="${esc(p.user)}" maxlength="128" ${dis}></label>
      <label>Password <input name="password" type="password" autocomplete="new-password" placeholder="${p.password_set ? "stored; leave empty to keep" : "none (x)"}" ${dis}></label>
      <label>Priority <input name="priority" type="number" min="1" step="1" value="${p.priority || i + 1}" ${dis}></label>
      <button type="button" class="secondary del-pool" ${dis}>Remove</button></fieldset>`;
  return `<form class="card" id="work-sources"><h2>Work sources</h2>
    <p class="muted">${w.stored ? "Saved on the heater (over the configuration file's <code>[work]</code>)." : "From the configuration file's <code>[work]</code>; saving here overrides it."}
      Changing them restarts the sources; the boards keep heating on local work meanwhile. The Mining page shows their state.</p>
    <label class="switch"><input type="checkbox" name="sharechain" ${w.sharechain ? "checked" : ""} ${w.sharechain_available ? dis : "disabled"}> Mine on our sharechain first${w.sharechain_available ? "" : " (the sharechain node is off in the configuration file)"}</label>
    ${w.pools.map(pool).join("")}
    <button type="button" class="secondary" id="add-pool" ${dis}>Add a pool</button>
    <button ${dis}>Save work sources</button><p class="error"></p></form>`;
}

// The mining switch: off is "heat only" (the boards heat as the thermostats
// ask on local work; nothing is submitted).
function miningCard(canWrite) {
  const c = app.control;
  if (!c) return "";
  const on = c.settings.mining_enabled !== false;
  return `<form class="card setter" id="mining"><h2>Mining</h2>
    <p>${on ? "On: the heat mines." : "Off: heat only, nothing is submitted."}</p>
    <button ${canWrite ? "" : "disabled"}>${on ? "Switch mining off (heat only)" : "Switch mining on"}</button><p class="error"></p></form>`;
}

function kvTree(v) {
  if (v === null || typeof v !== "object") return esc(v);
  if (Array.isArray(v)) return v.length ? `<ol>${v.map((x) => `<li>${kvTree(x)}</li>`).join("")}</ol>` : `<span class="muted">none</span>`;
  return `<dl class="kv">${Object.entries(v).map(([k, x]) => `<dt>${esc(k)}</dt><dd>${kvTree(x)}</dd>`).join("")}</dl>`;
}

// ---- chart ----------------------------------------------------------------

function chart(zoneId) {
  const W = 640, H = 240, L = 40, R = 8, T = 10, B = 22;
  const pts = app.series[zoneId] || [];
  // The range buttons bound the window; a young history is shown across the
  // whole width (at least ten minutes) instead of squeezed at the right edge.
  const end = app.status.time_ms;
  const first = pts.length ? pts[0].ts_ms : end;
  const start = Math.max(end - app.hours * 3600e3, Math.min(first, end - 600e3));
  const vals = [];
  for (const p of pts) { if (p.temp_c != null) vals.push(p.temp_c); vals.push(p.setpoint_c); }
  let lo = Math.min(...vals), hi = Math.max(...vals);
  if (!vals.length) { lo = 15; hi = 25; }
  lo = Math.floor(lo - 0.5); hi = Math.ceil(hi + 0.5);
  const maxP = Math.max(1, ...pts.map((p) => p.power_w || 0));
  const x = (t) => L + (W - L - R) * (t - start) / (end - start || 1);
  const y = (c) => T + (H - T - B) * (hi - c) / (hi - lo || 1);
  const yp = (w) => H - B - (H - T - B) * 0.3 * w / maxP;
  const temp = [], setp = [];
  let seg = [];
  for (const p of pts) {
    if (p.temp_c == null) { if (seg.length) temp.push(seg); seg = []; continue; }
    seg.push(`${x(p.ts_ms).toFixed(1)},${y(p.temp_c).toFixed(1)}`);
  }
  if (seg.length) temp.push(seg);
  let prev = null;
  for (const p of pts) {
    if (prev !== null) setp.push(`${x(p.ts_ms).toFixed(1)},${y(prev).toFixed(1)}`);
    setp.push(`${x(p.ts_ms).toFixed(1)},${y(p.setpoint_c).toFixed(1)}`);
    prev = p.setpoint_c;
  }
  const area = pts.length ? `M${x(pts[0].ts_ms).toFixed(1)},${H - B} ` + pts.map((p) => `L${x(p.ts_ms).toFixed(1)},${yp(p.power_w || 0).toFixed(1)}`).join(" ") + ` L${x(pts[pts.length - 1].ts_ms).toFixed(1)},${H - B} Z` : "";
  const ticks = [];
  const step = Math.max(1, Math.round((hi - lo) / 5));
  for (let c = lo; c <= hi; c += step) ticks.push(`<line x1="${L}" x2="${W - R}" y1="${y(c)}" y2="${y(c)}"/><text x="4" y="${y(c) + 4}">${c}°</text>`);
  const last = pts.length ? pts[pts.length - 1] : null;
  const fmtT = (t) => new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return `<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="temperature and setpoint, last ${app.hours} h"
      data-testid="chart" data-points="${pts.length}" data-last-setpoint="${last ? last.setpoint_c : ""}">
    <g class="grid">${ticks.join("")}</g>
    <path class="power" d="${area}"/>
    ${temp.map((s) => `<polyline class="temp" points="${s.join(" ")}"/>`).join("")}
    <polyline class="setpoint" points="${setp.join(" ")}"/>
    <text x="${L}" y="${H - 6}">${fmtT(start)}</text><text x="${W - R}" y="${H - 6}" text-anchor="end">${fmtT(end)}</text>
  </svg>`;
}

// ---- forms ----------------------------------------------------------------

function bind(page) {
  const main = $("#main");
  main.onfocusin = (e) => { if (e.target.matches("input, select")) app.editing = true; };
  // Moving from a field to its form's button is still editing: a re-render
  // in between would drop what was typed.
  main.onfocusout = (e) => { if (!(e.relatedTarget && e.relatedTarget.closest && e.relatedTarget.closest("form"))) app.editing = false; };
  for (const b of main.querySelectorAll("[data-hours]")) {
    b.onclick = async () => { app.hours = Number(b.dataset.hours); await loadHistory(); render(); };
  }
  for (const f of main.querySelectorAll("form.quick-setpoint")) {
    const input = f.elements.setpoint;
    for (const b of f.querySelectorAll(".step")) {
      b.onclick = () => { input.value = (Number(input.value) + Number(b.dataset.step)).toFixed(1); app.editing = true; };
    }
    f.onsubmit = async (e) => {
      e.preventDefault();
      doneEditing();
      await setSetpoint(f.dataset.zone, Number(input.value));
    };
  }
  for (const f of main.querySelectorAll("form.zone-settings")) {
    f.onsubmit = async (e) => {
      e.preventDefault();
      doneEditing();
      const zone = f.dataset.zone, out = f.querySelector(".error");
      try {
        await api("PUT", `/api/v1/zones/${encodeURIComponent(zone)}/setpoint`, { setpoint_c: Number(f.elements.setpoint.value) });
        await api("PUT", `/api/v1/zones/${encodeURIComponent(zone)}/mode`, { mode: f.elements.mode.value });
        out.textContent = "";
        toast("Saved");
      } catch (err) { out.textContent = err.message; }
    };
  }
  bindControl(main);
  const login = $("#login-now");
  if (login) login.onclick = () => showAuth("login");
  const logout = $("#logout");
  if (logout) logout.onclick = async () => { await api("POST", "/api/v1/auth/logout"); location.reload(); };
  const nt = $("#new-token");
  if (nt) nt.onsubmit = async (e) => {
    e.preventDefault();
    doneEditing();
    try {
      const t = await api("POST", "/api/v1/auth/tokens", { name: nt.elements.name.value });
      app.extra.tokens = await api("GET", "/api/v1/auth/tokens");
      // Kept in memory (never stored) so live re-renders do not wipe it; gone on reload.
      app.extra.newToken = t.token;
      render();
    } catch (err) { toast(err.message); }
  };
  for (const b of main.querySelectorAll(".revoke")) {
    b.onclick = async () => {
      try { await api("DELETE", `/api/v1/auth/tokens/${b.dataset.id}`); } catch (err) { toast(err.message); }
      app.extra.tokens = await api("GET", "/api/v1/auth/tokens");
      render();
    };
  }
  const pw = $("#password");
  if (pw) pw.onsubmit = async (e) => {
    e.preventDefault();
    doneEditing();
    try {
      await api("PUT", "/api/v1/auth/password", { current_password: pw.elements.current.value, new_password: pw.elements.new.value });
      toast("Password changed");
      pw.reset();
    } catch (err) { pw.querySelector(".error").textContent = err.message; }
  };
}

// Every control form: send, show the daemon's reason on refusal, reload what it changed.
async function submitTo(form, method, path, body, reload) {
  const out = form.querySelector(".error");
  try {
    await api(method, path, body);
    if (out) out.textContent = "";
    await reload();
    render();
    // Only now: "Saved" means the page shows what was saved, and nothing
    // re-renders under the next thing the user types.
    toast("Saved");
  } catch (err) {
    if (err.status === 401) return showAuth("login");
    if (out) out.textContent = err.message; else toast(err.message);
  }
}

function bindControl(main) {
  const both = async () => { await loadControl(); await loadZoneExtra(); };
  for (const b of main.querySelectorAll(".pick-preset")) {
    b.onclick = () => submitTo(b.closest("section"), "PUT", `/api/v1/zones/${encodeURIComponent(b.dataset.zone)}/preset`, { preset: b.dataset.preset }, loadZoneExtra);
  }
  for (const f of main.querySelectorAll("form.presets-table")) {
    f.onsubmit = (e) => {
      e.preventDefault();
      doneEditing();
      const body = {};
      for (const k of PRESETS) body[k + "_c"] = Number(f.elements[k + "_c"].value);
      submitTo(f, "PUT", `/api/v1/zones/${encodeURIComponent(f.dataset.zone)}/presets`, body, loadZoneExtra);
    };
  }
  for (const f of main.querySelectorAll("form.schedule")) {
    const zone = f.dataset.zone;
    const read = () => [...f.querySelectorAll("tr[data-row]")].map((tr) => {
      const days = DAYS.filter((d) => tr.querySelector(`input[name=${d}]`).checked);
      const e = { at: tr.querySelector("input[name=at]").value, setpoint_c: Number(tr.querySelector("input[name=setpoint_c]").value) };
      if (days.length !== 7) e.days = days;
      return e;
    });
    const add = f.querySelector(".add-entry");
    if (add) add.onclick = () => {
      const x = app.zoneExtra[zone] || (app.zoneExtra[zone] = {});
      const z = app.status.zones.find((q) => q.id === zone);
      x.schedule = [...read(), { at: "07:00", setpoint_c: z ? z.setpoint_c : 20 }];
      render();
    };
    for (const b of f.querySelectorAll(".del-entry")) {
      b.onclick = () => {
        const i = Number(b.closest("tr").dataset.row);
        app.zoneExtra[zone].schedule = read().filter((_, k) => k !== i);
        render();
      };
    }
    f.onsubmit = (e) => {
      e.preventDefault();
      doneEditing();
      submitTo(f, "PUT", `/api/v1/zones/${encodeURIComponent(zone)}/schedule`, read(), both);
    };
  }
  const pol = $("#policy");
  if (pol) pol.onsubmit = (e) => {
    e.preventDefault();
    doneEditing();
    const body = { ...app.control.settings.policy, balance_point_c: Number(pol.elements.balance_point_c.value) };
    for (const [k] of RULE_SWITCHES) body[k] = pol.elements[k].checked;
    // A new strategy is sent by name; picking economic or heat pump first
    // sets the economic switch to match, as the select in Home Assistant does.
    const strategy = pol.elements.strategy.value;
    if (strategy !== strategyOf(app.control.settings.policy)) {
      body.strategy = strategy;
      if (strategy === "economic") body.economic_switch = true;
      if (strategy === "heat_pump_first") body.economic_switch = false;
    }
    submitTo(pol, "PUT", "/api/v1/control/policy", body, loadControl);
  };
  const site = $("#site");
  if (site) site.onsubmit = (e) => {
    e.preventDefault();
    doneEditing();
    const v = site.elements.limit.value.trim();
    submitTo(site, "PUT", "/api/v1/control/site", { power_limit_w: v === "" ? null : Number(v) }, loadControl);
  };
  const mq = $("#mqtt");
  if (mq) mq.onsubmit = (e) => {
    e.preventDefault();
    doneEditing();
    const el = mq.elements, body = { enabled: el.enabled.checked, port: Number(el.port.value) };
    for (const [k] of MQTT_FIELDS) if (k !== "port") body[k] = el[k].value.trim();
    if (body.username === "") body.username = null;
    if (el.password.value !== "") body.password = el.password.value;
    else if (el.clear_password && el.clear_password.checked) body.password = null;
    submitTo(mq, "PUT", "/api/v1/settings/mqtt", body, async () => { app.extra.mqtt = await api("GET", "/api/v1/settings/mqtt"); });
  };
  const ws = $("#work-sources");
  if (ws) {
    const rows = () => [...ws.querySelectorAll("fieldset.pool")].map((f) => {
      const el = f.elements, p = { name: el.name.value.trim(), url: el.url.value.trim(), user: el.user.value.trim() };
      if (el.priority.value !== "") p.priority = Number(el.priority.value);
      if (el.password.value !== "") p.password = el.password.value;
      return p;
    });
    // Edits kept in the card's copy, so a re-render (rows added or removed,
    // a live update after a refusal) keeps them; typed passwords are not kept.
    const keep = (pools) => {
      const stored = app.extra.work.pools;
      app.extra.work = { ...app.extra.work, pools: pools.map(({ password: _, ...p }, i) => ({ ...p, priority: p.priority || i + 1,
        password_set: (stored.find((q) => q.name === p.name) || {}).password_set === true })) };
    };
    const redraw = (pools) => { keep(pools.map((p, i) => ({ ...p, priority: i + 1 }))); render(); };
    $("#add-pool").onclick = () => redraw([...rows(), { name: "", url: "", user: "" }]);
    for (const b of ws.querySelectorAll(".del-pool")) {
      b.onclick = () => {
        const i = Number(b.closest("fieldset").dataset.pool);
        redraw(rows().filter((_, k) => k !== i));
      };
    }
    ws.onsubmit = (e) => {
      e.preventDefault();
      doneEditing();
      const body = { pools: rows() };
      keep(body.pools);
      if (!ws.elements.sharechain.disabled) body.sharechain = ws.elements.sharechain.checked;
      submitTo(ws, "PUT", "/api/v1/settings/work", body, async () => { app.extra.work = await api("GET", "/api/v1/settings/work"); });
    };
  }
  const mining = $("#mining");
  if (mining) mining.onsubmit = (e) => {
    e.preventDefault();
    doneEditing();
    submitTo(mining, "PUT", "/api/v1/control/mining", { enabled: app.control.settings.mining_enabled === false }, loadControl);
  };
}

async function setSetpoint(zone, value) {
  try {
    const r = await api("PUT", `/api/v1/zones/${encodeURIComponent(zone)}/setpoint`, { setpoint_c: value });
    toast(`Setpoint ${r.setpoint_c.toFixed(1)} °C`);
  } catch (err) {
    if (err.status === 401) return showAuth("login");
    toast(err.message);
  }
}

boot().catch((err) => { $("#main").innerHTML = `<p class="error">${esc(err.message)}</p>`; });
