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

// Ticks at 1, 2 or 5 times a power of ten, about `count` of them over [lo, hi].
function ticks(lo, hi, count = 5) {
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((v) => v >= raw) ?? 10 * power;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
  const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return { values: out, format: (v) => v.toFixed(Math.min(digits, 6)) };
}

// A scatter over two numeric axes around a closed outline (a region's edge).
// x, y: {label}; outline: {name, cls, points: [[x, y], ...]}; groups: [{name, cls, hollow,
// points: [{x, y, title}]}], drawn in order. The frame holds the outline and every point
// within `zoom` outline half-widths of its centre; a point further off is drawn on the
// frame's edge, hollow, so that coins of other sizes do not shrink the outline to a dot.
export function scatterPlot({ title, x, y, outline, groups, zoom = 6, id }) {
  const W = 560, H = 380, L = 64, R = 12, T = 10, B = 42;
  const xs = outline.points.map((p) => p[0]), ys = outline.points.map((p) => p[1]);
  const reach = (values) => {
    const lo = Math.min(...values), hi = Math.max(...values);
    const mid = (lo + hi) / 2, half = Math.max((hi - lo) / 2, Math.abs(mid) * 1e-9, 1e-12);
    return [mid - zoom * half, mid + zoom * half];
  };
  const [xLimLo, xLimHi] = reach(xs), [yLimLo, yLimHi] = reach(ys);
  const inX = (v) => v >= xLimLo && v <= xLimHi, inY = (v) => v >= yLimLo && v <= yLimHi;
  const all = groups.flatMap((g) => g.points);
  const span = (own, values, inside) => {
    const kept = [...own, ...values.filter(inside)];
    const lo = Math.min(...kept), hi = Math.max(...kept), pad = 0.06 * (hi - lo || Math.abs(lo) || 1);
    return [lo - pad, hi + pad];
  };
  const [x0, x1] = span(xs, all.map((p) => p.x), inX);
  const [y0, y1] = span(ys, all.map((p) => p.y), inY);
  const px = (v) => L + ((Math.min(Math.max(v, x0), x1) - x0) / (x1 - x0)) * (W - L - R);
  const py = (v) => T + (1 - (Math.min(Math.max(v, y0), y1) - y0) / (y1 - y0)) * (H - T - B);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart scatter", role: "img", "aria-label": title });
  const tx = ticks(x0, x1), ty = ticks(y0, y1);
  for (const v of tx.values) {
    svg.append(s("line", { x1: px(v), x2: px(v), y1: T, y2: H - B, class: "grid-line" }));
    svg.append(s("text", { x: px(v), y: H - B + 14, class: "axis", "text-anchor": "middle" }, tx.format(v)));
  }
  for (const v of ty.values) {
    svg.append(s("line", { x1: L, x2: W - R, y1: py(v), y2: py(v), class: "grid-line" }));
    svg.append(s("text", { x: L - 6, y: py(v) + 4, class: "axis", "text-anchor": "end" }, ty.format(v)));
  }
  svg.append(s("rect", { x: L, y: T, width: W - L - R, height: H - T - B, class: "frame" }));
  svg.append(s("text", { x: (L + W - R) / 2, y: H - 6, class: "axis axis-title x-title", "text-anchor": "middle" }, x.label));
  svg.append(s("text", {
    x: 12, y: (T + H - B) / 2, class: "axis axis-title y-title", "text-anchor": "middle",
    transform: `rotate(-90 12 ${(T + H - B) / 2})`,
  }, y.label));
  const d = outline.points.map((p, i) => `${i ? "L" : "M"}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join("") + "Z";
  svg.append(s("path", { d, class: `region-outline ${outline.cls}` }, s("title", {}, outline.name)));
  let off = 0;
  for (const group of groups) {
    for (const p of group.points) {
      const beyond = !(p.x >= x0 && p.x <= x1 && p.y >= y0 && p.y <= y1);
      off += beyond ? 1 : 0;
      svg.append(s("circle", {
        cx: px(p.x), cy: py(p.y), r: beyond ? 3.5 : 3,
        class: `pt ${group.cls}${group.hollow || beyond ? " hollow" : ""}${beyond ? " beyond" : ""} ${group.kind ?? ""}`,
      }, s("title", {}, `${p.title}${beyond ? " (beyond the frame)" : ""}`)));
    }
  }
  const figure = document.createElement("figure");
  figure.className = "chart-box";
  if (id) figure.id = id;
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  figure.append(caption, svg, legend([outline, ...groups.filter((g) => g.points.length)]));
  if (off) {
    const note = document.createElement("p");
    note.className = "chart-note";
    note.textContent = `${off} point${off === 1 ? "" : "s"} far off drawn hollow on the frame's edge.`;
    figure.append(note);
  }
  return figure;
}
