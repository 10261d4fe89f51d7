// Operator page: notification routes, who is on call (and until when), and the delivery log.
(() => {
  "use strict";

  const KEY_STORE = "kipsense.apiKey";
  const $ = (sel) => document.querySelector(sel);
  const esc = (text) => String(text === null || text === undefined ? "" : text)
    .replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const when = (iso) => (iso ? new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "");

  async function get(path) {
    const key = localStorage.getItem(KEY_STORE) || "";
    const resp = await fetch(path, { headers: { Authorization: `Bearer ${key}` }, cache: "no-store" });
    if (!resp.ok) throw new Error(`${path}: ${resp.status}`);
    return resp.json();
  }

  function routeText(r, groups, contacts) {
    const match = [
      r.match_sites.length ? `sites ${r.match_sites.join(", ")}` : "all sites",
      r.match_types.length ? `types ${r.match_types.join(", ")}` : "all types",
      `≥ ${r.min_severity}`,
      r.match_kinds.length ? `kinds ${r.match_kinds.join(", ")}` : "",
      r.match_tags.length ? `tags ${r.match_tags.join(", ")}` : "",
    ].filter(Boolean).join(" · ");
    const to = [
      ...r.contact_ids.map((id) => contacts[id] || `contact ${id}`),
      ...r.group_ids.map((id) => `on call in ${groups[id] || `group ${id}`}`),
    ].join(", ");
    const extra = [
      r.quiet_from ? `quiet ${r.quiet_from.slice(0, 5)}–${r.quiet_until.slice(0, 5)}` : "",
      r.active_from ? `only ${r.active_from.slice(0, 5)}–${r.active_until.slice(0, 5)}` : "",
      r.repeat_every_s ? `repeat every ${Math.round(r.repeat_every_s / 60)} min` : "",
      r.escalation_group_ids.length ? `escalates to ${r.escalation_group_ids.map((id) => groups[id] || id).join(" → ")}` : "",
    ].filter(Boolean).join(" · ");
    return `<li class="route${r.enabled ? "" : " disabled"}" data-route-id="${r.route_id}"><b>${esc(r.name)}</b>`
      + `${r.enabled ? "" : " (off)"}<div class="meta">${esc(match)} → ${esc(to || "nobody")}</div>`
      + (extra ? `<div class="meta">${esc(extra)}</div>` : "") + "</li>";
  }

  async function refresh() {
    if (!localStorage.getItem(KEY_STORE)) return;
    const [routes, contactList, groupList, oncall, messages, stats] = await Promise.all([
      get("/notifications/routes"), get("/notifications/contacts"), get("/notifications/groups"),
      get("/notifications/oncall"), get("/notifications/messages?limit=20"), get("/notifications/stats"),
    ]);
    const contacts = Object.fromEntries(contactList.map((c) => [c.contact_id, c.name]));
    const groups = Object.fromEntries(groupList.map((g) => [g.group_id, g.name]));
    $("#oncall").innerHTML = oncall.map((o) => `<li class="oncall" data-group-id="${o.group_id}"><b>${esc(o.group_name)}</b>: `
      + `${esc(o.contact_name || "nobody")} <span class="meta">until ${esc(when(o.handover_at))}, then `
      + `${esc(o.next_contact_name || "nobody")}</span></li>`).join("") || "<li class=\"meta\">no on-call groups</li>";
    $("#routes").innerHTML = routes.map((r) => routeText(r, groups, contacts)).join("")
      || "<li class=\"meta\">no routes: alerts notify nobody</li>";
    $("#deliveries tbody").innerHTML = messages.map((m) => `<tr class="${esc(m.status)}" data-message-id="${m.message_id}">`
      + `<td>${m.message_id} ${esc(m.reason)}</td><td>${esc(contacts[m.contact_id] || m.contact_id)}</td><td>${esc(m.channel)}</td>`
      + `<td class="${esc(m.status)}">${esc(m.status)}</td><td>${m.attempts}</td><td>${m.alert_ids.length}</td>`
      + `<td>${esc(when(m.sent_at))}</td><td>${esc(m.last_error || "")}</td></tr>`).join("");
    const p99 = stats.latency_p99_ms === null ? "–" : `${Math.round(stats.latency_p99_ms)} ms`;
    $("#notify-stats").textContent = `${stats.sent} sent · ${stats.pending} waiting · ${stats.failed} failed · p99 ${p99}`;
  }

  const run = () => refresh().catch(() => {});
  document.getElementById("key-form").addEventListener("submit", () => setTimeout(run, 500));
  run();
  setInterval(run, 15000);
})();
