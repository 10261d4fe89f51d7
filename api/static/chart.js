// A small line chart in SVG: bucket means with a min-max band and a horizontal limit line. No dependencies.
(() => {
  "use strict";

  const SVG_NS = "http://www.w3.org/2000/svg";

  function svgEl(name, attrs, parent) {
    const el = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    if (parent) parent.appendChild(el);
    return el;
  }

  function niceStep(span, ticks) {
    const raw = span / ticks;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const norm = raw / mag;
    return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  }

  // points: [{t: Date, mean, min, max}], limit: number or null.
  function drawChart(svg, points, limit, unit) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const box = svg.getBoundingClientRect();
    const W = Math.max(box.width, 300), H = Math.max(box.height, 150);
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    const m = { l: 44, r: 12, t: 10, b: 24 };
    const valid = points.filter((p) => p.mean !== null);
    if (!valid.length) {
      svgEl("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "axis-label" }, svg).textContent = "no readings";
      return;
    }
    const t0 = valid[0].t.getTime(), t1 = Math.max(valid[valid.length - 1].t.getTime(), t0 + 1000);
    let hi = Math.max(...valid.map((p) => (p.max ?? p.mean)));
    if (limit) hi = Math.max(hi, limit * 1.15);
    hi = hi > 0 ? hi : 1;
    const x = (t) => m.l + ((t - t0) / (t1 - t0)) * (W - m.l - m.r);
    const y = (v) => H - m.b - (v / hi) * (H - m.t - m.b);
    const step = niceStep(hi, 4);
    for (let v = 0; v <= hi; v += step) {
      svgEl("line", { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v), class: "axis" }, svg);
      svgEl("text", { x: m.l - 4, y: y(v) + 4, "text-anchor": "end", class: "axis-label" }, svg).textContent = String(+v.toFixed(1));
    }
    for (let i = 0; i <= 4; i += 1) {
      const t = t0 + ((t1 - t0) * i) / 4;
      const label = new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      svgEl("text", { x: x(t), y: H - 6, "text-anchor": "middle", class: "axis-label" }, svg).textContent = label;
    }
    const upper = valid.map((p) => `${x(p.t.getTime())},${y(p.max ?? p.mean)}`);
    const lower = valid.slice().reverse().map((p) => `${x(p.t.getTime())},${y(p.min ?? p.mean)}`);
    svgEl("polygon", { points: upper.concat(lower).join(" "), class: "band" }, svg);
    svgEl("polyline", { points: valid.map((p) => `${x(p.t.getTime())},${y(p.mean)}`).join(" "), class: "series" }, svg);
    if (limit) {
      svgEl("line", { x1: m.l, x2: W - m.r, y1: y(limit), y2: y(limit), class: "limit", "data-limit": limit }, svg);
      svgEl("text", { x: W - m.r, y: y(limit) - 4, "text-anchor": "end", class: "limit-label" }, svg).textContent =
        `limit ${limit} ${unit || ""}`;
    }
  }

  window.KipChart = { drawChart, svgEl };
})();
