// Acceptance and refusal rates over time, for the head and for each taught coin.

import { get, query } from "../api.js";
import { h } from "../dom.js";
import { lineChart } from "../charts.js";
import { REASON_LABEL, coinName } from "../words.js";

const WINDOWS = {
  "24h": { hours: 24, bucket: "hour", label: "last 24 hours, per hour" },
  "14d": { hours: 24 * 14, bucket: "day", label: "last 14 days, per day" },
};

// Every UTC bucket of the window, keyed as /stats names them ("2026-05-01T13" or "2026-05-01").
function buckets(window, now) {
  const step = window.bucket === "hour" ? 3600e3 : 86400e3;
  const keys = [];
  const first = Math.floor((now - window.hours * 3600e3) / step) * step;
  for (let t = first + step; t <= now; t += step) {
    const iso = new Date(t).toISOString();
    keys.push(window.bucket === "hour" ? iso.slice(0, 13) : iso.slice(0, 10));
  }
  return keys;
}

function label(key) {
  return key.length > 10 ? `${key.slice(11, 13)}h` : key.slice(5);
}

function rates(stats, keys, pick) {
  const byKey = new Map(stats.by_bucket.map((b) => [b.bucket, b]));
  return keys.map((k) => {
    const b = byKey.get(k);
    return b && b.total ? pick(b) : null;
  });
}

export async function render(ctx) {
  const { main, head, signal } = ctx;
  const choice = new URLSearchParams(location.hash.split("?")[1] || "").get("window") || "24h";
  const window = WINDOWS[choice] || WINDOWS["24h"];
  const picker = h("select", {
    id: "window",
    onchange: (event) => { location.hash = `#/stats?window=${event.target.value}`; },
  }, Object.entries(WINDOWS).map(([value, w]) => h("option", { value, selected: value === choice ? "selected" : null }, w.label)));
  const charts = h("div", { class: "charts", id: "charts" });
  main.append(h("section", { class: "card" }, h("h2", {}, `Rates on head ${head} `, picker), charts));

  const now = Date.now();
  const since = new Date(now - window.hours * 3600e3).toISOString();
  const keys = buckets(window, now);
  const labels = keys.map(label);
  const coins = (await get(`/heads/${encodeURIComponent(head)}/coins`)).coins
    .filter((c) => c.taught).sort((a, b) => a.position - b.position);
  const [all, ...perCoin] = await Promise.all([
    get(`/stats${query({ head, since, bucket: window.bucket })}`),
    ...coins.map((c) => get(`/stats${query({ head, coin: c.id, since, bucket: window.bucket })}`)),
  ]);
  if (signal.aborted) return;

  charts.append(h("p", { class: "summary" },
    `${all.total} decisions: ${Object.entries(all.by_reason).map(([r, n]) => `${n} ${REASON_LABEL[r] ?? r}`).join(", ")}.`));
  charts.append(lineChart({
    title: "All coins: share of decisions by outcome",
    labels,
    series: ["accepted", "unknown", "counterfeit", "inhibited"].map((reason) => ({
      name: REASON_LABEL[reason],
      cls: `s-${reason}`,
      values: rates(all, keys, (b) => b.by_reason[reason] / b.total),
    })),
  }));
  coins.forEach((coin, i) => {
    const stats = perCoin[i];
    charts.append(lineChart({
      title: `${coinName(coin.id)}: ${stats.total} recognised`,
      labels,
      series: [
        { name: "accepted", cls: "s-accepted", values: rates(stats, keys, (b) => b.acceptance_rate) },
        { name: "refused", cls: "s-refused", values: rates(stats, keys, (b) => 1 - b.acceptance_rate) },
      ],
    }));
  });
}
