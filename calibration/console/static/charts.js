// Small SVG charts drawn here: no charting library, nothing loaded from elsewhere.

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value != null) el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child == null) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function legend(items) {
  const box = document.createElement("div");
  box.className = "legend";
  for (const item of items) {
    const entry = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.className = `swatch ${item.cls}`;
    entry.append(swatch, item.name);
    box.append(entry);
  }
  return box;
}

// Lines over labelled x positions; a null y leaves a gap (no traffic in that bucket).
// series: [{name, cls, values: [y or null per label]}]; y in [0, yMax].
export function lineChart({ title, labels, series, yMax = 1, yFormat = (y) => `${Math.round(100 * y)} %` }) {
  const W = 560, H = 180, L = 44, R = 10, T = 10, B = 26;
  const n = labels.length;
  const x = (i) => L + (n <= 1 ? 0 : (i * (W - L - R)) / (n - 1));
  const y = (v) => T + (1 - v / yMax) * (H - T - B);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
  for (const frac of [0, 0.5, 1]) {
    const v = frac * yMax;
    svg.append(s("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid-line" }));
    svg.append(s("text", { x: L - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, yFormat(v)));
  }
  const every = Math.max(1, Math.ceil(n / 8));
  labels.forEach((label, i) => {
    if (i % every === 0 || i === n - 1) {
      svg.append(s("text", { x: x(i), y: H - 8, class: "axis", "text-anchor": "middle" }, label));
    }
  });
  for (const line of series) {
    let path = "";
    let pen = false;
    line.values.forEach((v, i) => {
      if (v == null) { pen = false; return; }
      path += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(Math.min(v, yMax)).toFixed(1)}`;
      pen = true;
      svg.append(s("circle", { cx: x(i), cy: y(Math.min(v, yMax)), r: 2.5, class: `dot ${line.cls}` },
        s("title", {}, `${line.name} ${labels[i]}: ${yFormat(v)}`)));
    });
    if (path) svg.append(s("path", { d: path, class: `series ${line.cls}` }));
  }
  const figure = document.createElement("figure");
  figure.className = "chart-box";
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  figure.append(caption, svg, legend(series));
  return figure;
}

// Horizontal bars, one row per label, several bars per row (e.g. current vs candidate).
// rows: [{label, values: [number per group]}]; groups: [{name, cls}].
export function barChart({ title, rows, groups, max, format = (v) => String(v), marker }) {
  const rowH = 12 * groups.length + 8;
  const W = 560, L = 190, R = 60, T = 6;
  const H = T + rows.length * rowH + 18;
  const top = max ?? Math.max(1, ...rows.flatMap((r) => r.values.filter((v) => v != null)));
  const x = (v) => L + (Math.min(v, top) / top) * (W - L - R);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
  rows.forEach((row, r) => {
    const y0 = T + r * rowH;
    svg.append(s("text", { x: L - 8, y: y0 + rowH / 2 + 2, class: "axis", "text-anchor": "end" }, row.label));
    row.values.forEach((v, g) => {
      const y = y0 + 4 + g * 12;
      if (v == null) {
        svg.append(s("text", { x: L + 4, y: y + 9, class: "axis" }, "–"));
        return;
      }
      svg.append(s("rect", { x: L, y, width: Math.max(1, x(v) - L), height: 10, class: `bar ${groups[g].cls}` },
        s("title", {}, `${row.label} ${groups[g].name}: ${format(v)}`)));
      svg.append(s("text", { x: x(v) + 4, y: y + 9, class: "axis" }, format(v)));
    });
  });
  if (marker != null) {
    svg.append(s("line", { x1: x(marker.at), x2: x(marker.at), y1: T, y2: H - 16, class: "marker" }));
    svg.append(s("text", { x: x(marker.at), y: H - 4, class: "axis", "text-anchor": "middle" }, marker.label));
  }
  const figure = document.createElement("figure");
  figure.className = "chart-box";
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  figure.append(caption, svg, legend(groups));
  return figure;
}
