// The operator page: site plan coloured by PM10, wind arrow, live alert/incident list, readings chart.
(() => {
  "use strict";

  const { drawChart, svgEl } = window.KipChart;
  const KEY_STORE = "kipsense.apiKey";
  const state = { key: localStorage.getItem(KEY_STORE) || "", park: null, devices: [], selected: null, stream: null };
  const $ = (sel) => document.querySelector(sel);

  function message(text) { $("#message").textContent = text || ""; }

  async function api(path, options) {
    const opts = options || {};
    const headers = Object.assign({ Authorization: `Bearer ${state.key}` }, opts.headers || {});
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(path, { method: opts.method || "GET", headers, body: opts.body, cache: "no-store" });
    if (resp.status === 401) { message("The API key was refused: paste a valid key above."); throw new Error("401"); }
    if (!resp.ok) {
      let detail = resp.statusText;
      try { detail = (await resp.json()).detail; } catch (err) { /* body was not JSON */ }
      message(`${path}: ${detail}`);
      throw new Error(String(resp.status));
    }
    return resp.json();
  }

  // Local metres from degrees, with the park's own projection (equirectangular around its origin).
  function toLocal(lat, lon) {
    const p = state.park, k = 111320.0;
    return [(lon - p.origin_lon) * k * Math.cos((p.origin_lat * Math.PI) / 180), (lat - p.origin_lat) * k];
  }

  function pmColour(pm10, limit) {
    if (pm10 === null || pm10 === undefined) return "#9ca3af";
    const r = pm10 / limit;
    return r < 0.5 ? "#16a34a" : r < 1 ? "#facc15" : r < 2 ? "#f97316" : "#dc2626";
  }

  function drawLegend() {
    const limit = state.park.pm10_limit;
    const items = [["#16a34a", `< ${limit / 2}`], ["#facc15", `< ${limit}`], ["#f97316", `< ${2 * limit}`],
      ["#dc2626", `≥ ${2 * limit} µg/m³`], ["#9ca3af", "no data"], ["#7c2d12", "dust source"]];
    $("#legend").innerHTML = items.map(([c, t]) => `<span><i style="background:${c}"></i>${t}</span>`).join("");
  }

  function drawPlan() {
    const svg = $("#plan");
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const p = state.park;
    const pts = [[p.fence.x - p.fence.rx, p.fence.y - p.fence.ry], [p.fence.x + p.fence.rx, p.fence.y + p.fence.ry]];
    for (const r of p.residential) pts.push([r.x - r.rx, r.y - r.ry], [r.x + r.rx, r.y + r.ry]);
    const located = state.devices.filter((d) => d.health ? d.health.lat !== null : d.lat !== null);
    for (const d of located) pts.push(toLocal(d.health ? d.health.lat : d.lat, d.health ? d.health.lon : d.lon));
    const pad = 150;
    const x0 = Math.min(...pts.map((q) => q[0])) - pad, x1 = Math.max(...pts.map((q) => q[0])) + pad;
    const y0 = Math.min(...pts.map((q) => q[1])) - pad, y1 = Math.max(...pts.map((q) => q[1])) + pad;
    // SVG y grows downwards: north (larger y) is drawn at the top by negating y.
    svg.setAttribute("viewBox", `${x0} ${-y1} ${x1 - x0} ${y1 - y0}`);
    svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    svgEl("ellipse", { cx: p.fence.x, cy: -p.fence.y, rx: p.fence.rx, ry: p.fence.ry, class: "fence" }, svg);
    for (const r of p.residential) {
      svgEl("circle", { cx: r.x, cy: -r.y, r: r.rx, class: "residential" }, svg);
      svgEl("text", { x: r.x, y: -r.y, "text-anchor": "middle", class: "area-label" }, svg).textContent = "residential";
    }
    for (const s of p.sources) {
      const g = svgEl("g", { class: "source-group", "data-source": s.name }, svg);
      svgEl("path", { d: `M ${s.x} ${-s.y - 45} L ${s.x + 40} ${-s.y + 30} L ${s.x - 40} ${-s.y + 30} Z`, class: "source" }, g);
      svgEl("text", { x: s.x + 50, y: -s.y + 15, class: "source-label" }, g).textContent = s.name;
    }
    for (const d of located) {
      const [x, y] = toLocal(d.health ? d.health.lat : d.lat, d.health ? d.health.lon : d.lon);
      if (d.kind === "met") {
        svgEl("rect", { x: x - 28, y: -y - 28, width: 56, height: 56, class: "met", "data-device-id": d.device_id }, svg);
        continue;
      }
      if (d.kind !== "dust") continue;
      const pm = d.health ? d.health.pm10 : null;
      const c = svgEl("circle", {
        cx: x, cy: -y, r: 38, fill: pmColour(pm, p.pm10_limit), class: "sensor" + (d.device_id === state.selected ? " selected" : ""),
        "data-device-id": d.device_id, "data-pm10": pm === null ? "" : pm.toFixed(1),
      }, svg);
      svgEl("title", {}, c).textContent = `${d.device_id}: PM10 ${pm === null ? "–" : pm.toFixed(1)} µg/m³`;
      c.addEventListener("click", () => select(d.device_id));
      svgEl("text", { x: x + 45, y: -y - 40, class: "sensor-label" }, svg).textContent = d.device_id;
    }
    drawWind(svg, x0, y1);
  }

  function drawWind(svg, x0, y1) {
    const w = state.park.wind;
    if (!w) { $("#wind-text").textContent = "no wind data in the last 10 min"; return; }
    $("#wind-text").textContent = `wind from ${Math.round(w.dir_from)}° at ${w.speed.toFixed(1)} m/s`;
    const cx = x0 + 260, cy = -y1 + 260, len = 180;
    const to = ((w.dir_from + 180) * Math.PI) / 180;  // the arrow points where the wind blows to
    const dx = Math.sin(to) * len, dy = -Math.cos(to) * len;
    const g = svgEl("g", { id: "wind-arrow", "data-dir-from": w.dir_from.toFixed(0) }, svg);
    svgEl("circle", { cx, cy, r: 220, fill: "#ffffffcc", stroke: "#1d4ed8", "stroke-width": 4 }, g);
    svgEl("line", { x1: cx - dx, y1: cy - dy, x2: cx + dx * 0.6, y2: cy + dy * 0.6, class: "wind-arrow" }, g);
    const hx = cx + dx, hy = cy + dy, px = -dy * 0.35, py = dx * 0.35;
    svgEl("path", { d: `M ${hx} ${hy} L ${cx + dx * 0.55 + px} ${cy + dy * 0.55 + py} L ${cx + dx * 0.55 - px} ${cy + dy * 0.55 - py} Z`,
      class: "wind-arrow" }, g);
    svgEl("text", { x: cx, y: cy + 200, "text-anchor": "middle", class: "area-label" }, g).textContent = "N ↑";
  }

  function fmtTime(iso) { return new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "medium" }); }

  function esc(text) {
    return String(text).replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]);
  }

  function renderAlerts(alerts, fresh) {
    const ul = $("#alerts");
    ul.innerHTML = "";
    if (!alerts.length) { ul.innerHTML = "<li class='meta'>No open alerts.</li>"; return; }
    for (const a of alerts) {
      const li = document.createElement("li");
      li.className = `alert sev-${a.severity}` + (fresh.has(a.alert_id) ? " fresh" : "");
      li.dataset.alertId = a.alert_id;
      li.dataset.status = a.status;
      const value = a.value === null ? "" : ` ${a.value.toFixed(1)}${a.threshold === null ? "" : ` / ${a.threshold}`}`;
      li.innerHTML = `<div class="row"><b>#${a.alert_id}</b><span class="status ${a.status}">${a.status}</span>
        <span>${esc(a.severity)}</span><a href="#" class="device">${esc(a.device_id)}</a><span>${esc(a.type)}${value}</span></div>
        <div class="meta">since ${fmtTime(a.first_time)} · ×${a.occurrences}${a.escalation_level ? ` · escalated ${a.escalation_level}` : ""}
        ${a.incident_id ? ` · incident #${a.incident_id}` : ""}${a.acknowledged_by ? ` · ack by ${esc(a.acknowledged_by)}` : ""}</div>
        <form class="comment-form"><input name="text" placeholder="comment" maxlength="2000">
        <button type="submit" class="comment">Comment</button>
        ${a.status === "active" ? '<button type="button" class="ack">Acknowledge</button>' : ""}</form>`;
      li.querySelector(".device").addEventListener("click", (ev) => { ev.preventDefault(); select(a.device_id); });
      const ack = li.querySelector(".ack");
      if (ack) ack.addEventListener("click", () => act(a.alert_id, "ack", li.querySelector("input").value));
      li.querySelector("form").addEventListener("submit", (ev) => {
        ev.preventDefault();
        const text = li.querySelector("input").value.trim();
        if (text) act(a.alert_id, "comments", text);
      });
      ul.appendChild(li);
    }
  }

  function renderIncidents(incidents) {
    const ul = $("#incidents");
    ul.innerHTML = "";
    if (!incidents.length) { ul.innerHTML = "<li class='meta'>No open incidents.</li>"; return; }
    for (const i of incidents) {
      const li = document.createElement("li");
      li.className = "incident";
      li.dataset.incidentId = i.incident_id;
      const wind = i.wind_dir === null ? "wind unknown" : `wind from ${Math.round(i.wind_dir)}° ${i.wind_speed.toFixed(1)} m/s`;
      li.innerHTML = `<div class="row"><b>Incident #${i.incident_id}</b><span>${i.alert_count} alerts</span>
        <span>${esc(i.device_ids.join(", "))}</span></div>
        <div class="meta">${fmtTime(i.first_time)} – ${fmtTime(i.last_time)} · ${wind} ·
        likely source: <b>${esc(i.likely_source || "undetermined")}</b></div>`;
      ul.appendChild(li);
    }
  }

  async function act(alertId, action, text) {
    const body = action === "comments" ? { text } : { comment: text || null };
    await api(`/alerts/${alertId}/${action}`, { method: "POST", body: JSON.stringify(body) });
    await refreshLists(new Set());
  }

  let known = new Set();
  async function refreshLists() {
    const [active, acked, incidents] = await Promise.all([
      api("/alerts?status=active&limit=100"), api("/alerts?status=acknowledged&limit=100"),
      api("/incidents?status=open&limit=50"),
    ]);
    const alerts = active.data.concat(acked.data).sort((a, b) => b.alert_id - a.alert_id);
    const fresh = new Set(alerts.map((a) => a.alert_id).filter((id) => known.size && !known.has(id)));
    known = new Set(alerts.map((a) => a.alert_id));
    renderAlerts(alerts, fresh);
    renderIncidents(incidents.data);
  }

  async function refreshPlan() {
    const [park, devices] = await Promise.all([api("/park"), api("/devices")]);
    state.park = park;
    state.devices = devices.data;
    drawLegend();
    drawPlan();
  }

  async function drawSelected() {
    if (!state.selected) return;
    const r = await api(`/devices/${encodeURIComponent(state.selected)}/readings?metric=pm10&bucket_s=30`);
    $("#chart-title").textContent = `${state.selected} · PM10, last hour (30 s means, min–max band)`;
    drawChart($("#chart"), r.data.map((b) => ({ t: new Date(b.time), mean: b.mean, min: b.min, max: b.max })),
      state.park ? state.park.pm10_limit : null, "µg/m³");
  }

  function select(deviceId) {
    state.selected = deviceId;
    if (state.park) drawPlan();
    drawSelected().catch(() => {});
  }

  let pending = null;
  function onEvent(kind) {
    if (kind !== "alert" && kind !== "incident") return;
    clearTimeout(pending);
    pending = setTimeout(() => refreshLists().catch(() => {}), 200);
  }

  function setLive(on) {
    const el = $("#live");
    el.className = on ? "on" : "off";
    el.textContent = on ? "live" : "offline";
  }

  async function startWithKey() {
    if (state.stream) state.stream.stop();
    if (!state.key) { message("Paste an API key to start (make run prints the demo key)."); return; }
    message("");
    state.stream = new window.KeyedEventStream("/stream", state.key, onEvent, setLive);
    state.stream.start();
    try {
      await refreshPlan();
      await refreshLists();
      const firstDust = state.devices.find((d) => d.kind === "dust");
      if (!state.selected && firstDust) select(firstDust.device_id);
    } catch (err) { /* message already shown */ }
  }

  $("#key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.key = $("#api-key").value.trim();
    localStorage.setItem(KEY_STORE, state.key);
    startWithKey();
  });
  $("#api-key").value = state.key;
  setInterval(() => { if (state.key) refreshPlan().catch(() => {}); }, 15000);
  setInterval(() => { if (state.key) drawSelected().catch(() => {}); }, 20000);
  startWithKey();
})();
