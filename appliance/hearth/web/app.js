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
    if (!app.editing) render();
    // The event log follows along while it is open (at most every 5 s).
    if (currentPage() === "events" && Date.now() - (app.eventsAt || 0) > 5000) {
      app.eventsAt = Date.now();
      api("GET", "/api/v1/events?limit=200").then((ev) => { app.events = ev; if (!app.editing) render(); }).catch(() => {});
    }
  });
}

async function loadForPage() {
  const page = currentPage();
  if (page === "events" || page === "boards") {
    try { app.events = await api("GET", "/api/v1/events?limit=200"); } catch (_) { app.events = []; }
  }
  if (page === "mining") {
    for (const path of ["/api/v1/sharechain", "/api/v1/work-sources"]) {
      try { app.extra[path] = await api("GET", path); } catch (_) { app.extra[path] = null; }
    }
  }
  if (page === "settings" && app.auth.authenticated) {
    try { app.extra.tokens = await api("GET", "/api/v1/auth/tokens"); } catch (_) { app.extra.tokens = null; }
  }
  render();
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
      ${app.status.work ? `<div class="card"><h2>Work</h2>${kvTree(app.status.work)}</div>` : ""}
      ${section("Work source", "/api/v1/work-sources")}
      ${section("Sharechain", "/api/v1/sharechain")}`;
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
            ${["heat", "off"].map((m) => `<option value="${m}" ${m === z.mode ? "selected" : ""}>${m}</option>`).join("")}
          </select></label>
          <button type="submit" ${canWrite ? "" : "disabled"}>Save</button>
          <p class="error"></p>
        </form>`).join("")}</div>
      <div class="card"><h2>Presets, schedules, policy, MQTT, work sources</h2>
        <p class="muted">Not served by this daemon yet; they appear here when the API provides them.</p></div>
      ${canWrite ? `
      <div class="card"><h2>Access tokens for scripts</h2>
        <p class="muted">Send as <code>Authorization: Bearer &lt;token&gt;</code>; the CLI reads <code>HEARTH_TOKEN</code>.</p>
        <div class="table-wrap"><table><tr><th>id</th><th>name</th><th>created</th><th></th></tr>
          ${(tokens || []).map((t) => `<tr><td>${t.id}</td><td>${esc(t.name)}</td><td>${esc(when(t.created_ms))}</td>
            <td><button class="secondary revoke" data-id="${t.id}">Revoke</button></td></tr>`).join("")}
        </table></div>
        <form id="new-token" class="setter"><input name="name" placeholder="token name" maxlength="64" required><button>Create token</button></form>
        <div id="new-token-out"></div>
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
  const rule = z.hold_reason ? `held: ${z.hold_reason}` : (z.mode === "off" ? "zone is off" : "thermostat (PI with outdoor feed-forward)");
  const canWrite = app.auth.authenticated;
  // Cost and earnings appear when the daemon reports them (tariffs, pool).
  const money = (v) => v === undefined || v === null ? "—" : Number(v).toFixed(2);
  return `<section class="card zone" data-zone="${esc(z.id)}">
    <div class="row"><h2>${esc(z.name)}</h2><span class="badge ${esc(z.action)}" data-testid="action">${esc(z.action)}</span></div>
    <div class="row">
      <span class="big" data-testid="temperature">${num(z.temperature_c, 1, " °C")}</span>
      <span>target <strong data-testid="setpoint">${num(z.setpoint_c, 1, " °C")}</strong></span>
      <span>${num(power, 0, " W")} heat</span>
      <span class="muted">${num(hashrate / 1000, 2, " TH/s")}</span>
    </div>
    <p class="muted">In charge: <span data-testid="rule">${esc(rule)}</span> · demand ${num(z.demand * 100, 0, " %")}</p>
    <dl class="kv"><dt>Net heat cost today</dt><dd>${money(z.net_cost_today)}</dd><dt>Earned today</dt><dd>${money(z.earnings_today)}</dd></dl>
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
  main.onfocusout = () => { app.editing = false; };
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
      app.editing = false;
      await setSetpoint(f.dataset.zone, Number(input.value));
    };
  }
  for (const f of main.querySelectorAll("form.zone-settings")) {
    f.onsubmit = async (e) => {
      e.preventDefault();
      app.editing = false;
      const zone = f.dataset.zone, out = f.querySelector(".error");
      try {
        await api("PUT", `/api/v1/zones/${encodeURIComponent(zone)}/setpoint`, { setpoint_c: Number(f.elements.setpoint.value) });
        await api("PUT", `/api/v1/zones/${encodeURIComponent(zone)}/mode`, { mode: f.elements.mode.value });
        out.textContent = "";
        toast("Saved");
      } catch (err) { out.textContent = err.message; }
    };
  }
  const login = $("#login-now");
  if (login) login.onclick = () => showAuth("login");
  const logout = $("#logout");
  if (logout) logout.onclick = async () => { await api("POST", "/api/v1/auth/logout"); location.reload(); };
  const nt = $("#new-token");
  if (nt) nt.onsubmit = async (e) => {
    e.preventDefault();
    try {
      const t = await api("POST", "/api/v1/auth/tokens", { name: nt.elements.name.value });
      app.extra.tokens = await api("GET", "/api/v1/auth/tokens");
      render();
      $("#new-token-out").innerHTML = `<p>Copy it now, it is shown once:</p><code class="token">${esc(t.token)}</code>`;
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
    try {
      await api("PUT", "/api/v1/auth/password", { current_password: pw.elements.current.value, new_password: pw.elements.new.value });
      toast("Password changed");
      pw.reset();
    } catch (err) { pw.querySelector(".error").textContent = err.message; }
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
