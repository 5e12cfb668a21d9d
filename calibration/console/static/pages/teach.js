// A teach session: start it, upload the coins, watch the spread, preview, commit.

import { api, get, query } from "../api.js";
import { barChart, scatterPlot } from "../charts.js";
import { confirmed, h, sleep, table, when } from "../dom.js";
import { coinName } from "../words.js";

const enc = encodeURIComponent;

function sessionId() {
  const id = new URLSearchParams(location.hash.split("?")[1] || "").get("session");
  return id && /^\d+$/.test(id) ? Number(id) : null;
}

// JSON array or JSON Lines, as the upload route takes them.
async function mediaType(file) {
  if (/\.(jsonl|ndjson)$/i.test(file.name)) return "application/x-ndjson";
  const head = (await file.slice(0, 256).text()).trimStart();
  return head.startsWith("[") ? "application/json" : "application/x-ndjson";
}

function spreadChart(progress) {
  const rows = Object.entries(progress.spread || {})
    .filter(([, s]) => s.measured > 0 && s.relative != null)
    .map(([feature, s]) => ({ label: feature, values: [100 * s.relative] }));
  if (!rows.length) return h("p", {}, "No coin yet: the spread shows once coins come in.");
  return barChart({
    title: "Spread of each feature over the session's coins (robust SD / median)",
    rows,
    groups: [{ name: "spread", cls: "s-accepted" }],
    max: Math.min(20, Math.max(1, ...rows.map((r) => r.values[0]))),
    format: (v) => `${v.toFixed(v < 1 ? 2 : 1)} %`,
  });
}

// The replayed traffic's decisions by the candidate, one colour each.
function trafficGroups(points, coin) {
  const kinds = [
    { test: (p) => p.reason === "accepted" && p.coin === coin, name: `accepted as ${coinName(coin)}`, cls: "s-accepted" },
    { test: (p) => p.reason === "accepted", name: "accepted as another coin", cls: "s-other" },
    { test: (p) => p.reason === "counterfeit", name: "refused: counterfeit", cls: "s-counterfeit" },
    { test: (p) => p.reason === "inhibited", name: "refused: inhibited", cls: "s-inhibited" },
    { test: (p) => p.reason === "unknown", name: "refused: unknown", cls: "s-unknown" },
    { test: () => true, name: "refused: invalid", cls: "s-refused" },
  ];
  const groups = kinds.map((k) => ({ name: k.name, cls: k.cls, kind: "traffic", points: [] }));
  for (const p of points) {
    const g = kinds.findIndex((k) => k.test(p));
    groups[g].points.push({
      x: p.x, y: p.y,
      title: `event ${p.event_id}: ${p.reason}${p.coin ? ` as ${p.coin}` : ""}${p.changed ? ", changed by the new region" : ""}`,
    });
  }
  return groups;
}

// The new region's outline on two features, the session's coins and recent traffic.
function regionPlot(plot, coin) {
  const axis = (a) => ({ label: `${a.feature} (${a.unit})` });
  const at = `${plot.temperature_c.toFixed(1)} °C${plot.speed_mm_s != null ? `, ${Math.round(plot.speed_mm_s)} mm/s` : ""}`;
  const why = plot.chosen_by === "traffic"
    ? "the two features on which the new region stands furthest from the nearest recent coins it does not take"
    : "diameter and thickness: no recent coin it does not take";
  const shown = [];
  if (plot.teach.points.length < plot.teach.total) shown.push(`${plot.teach.points.length} of the session's ${plot.teach.total} coins`);
  if (plot.traffic.points.length < plot.traffic.total) shown.push(`the ${plot.traffic.points.length} of ${plot.traffic.total} recent coins nearest the region`);
  return h("div", { id: "preview-plot-box" },
    scatterPlot({
      id: "preview-plot",
      title: `The new region of ${coinName(coin)} against recent traffic, at ${at}`,
      x: axis(plot.x),
      y: axis(plot.y),
      outline: { name: "new region (its edge on these two features)", cls: "s-region", points: plot.region.outline },
      groups: [
        { name: "session coins", cls: "s-teach", hollow: true, kind: "teach", points: plot.teach.points.map(([x, y]) => ({ x, y, title: "session coin" })) },
        ...trafficGroups(plot.traffic.points, coin),
      ],
    }),
    h("p", { class: "chart-note", id: "preview-plot-note" },
      `Features: ${why}. Every coin is moved by the region's own slopes to ${at}. `,
      "A coin outside the outline is outside the region; one inside it may still be refused on its other features.",
      shown.length ? ` Shown: ${shown.join("; ")}.` : ""));
}

function previewView(preview, coin) {
  const outcomes = [...new Set([...Object.keys(preview.replay.current), ...Object.keys(preview.replay.candidate)])].sort();
  const parts = [
    h("p", { id: "preview-self" },
      `The new region of ${coinName(coin)} takes ${preview.self.inside_new_region} of the session's ${preview.self.samples} coins. `,
      `Recent traffic replayed: ${preview.replay.events} decisions, ${preview.replay.changed} would change.`),
  ];
  if (preview.plot) parts.push(regionPlot(preview.plot, coin));
  if (outcomes.length) {
    parts.push(barChart({
      title: "Recent traffic decided by the active profile and by the candidate",
      rows: outcomes.map((o) => ({ label: o, values: [preview.replay.current[o] ?? 0, preview.replay.candidate[o] ?? 0] })),
      groups: [{ name: "active profile", cls: "s-current" }, { name: "with the new region", cls: "s-accepted" }],
    }));
  }
  if (preview.other_coins.length) {
    parts.push(barChart({
      title: "Other taught coins against the new region (tolerances; 1 is the region's edge)",
      rows: preview.other_coins.map((o) => ({
        label: `${o.coin}${o.conflict ? " CONFLICT" : ""}`,
        values: [o.closest_sample_deviation, o.its_centre_deviation],
      })),
      groups: [{ name: "closest session coin, in its region", cls: "s-current" }, { name: "its centre, in the new region", cls: "s-counterfeit" }],
      max: 10,
      format: (v) => v.toFixed(1),
      marker: { at: 1, label: "edge" },
    }));
  }
  if (preview.replay.changes.length) {
    parts.push(table(["event", "recorded", "active profile", "with the new region"],
      preview.replay.changes.slice(0, 20).map((c) => h("tr", {},
        h("td", {}, c.event_id),
        h("td", {}, `${c.recorded.reason} ${c.recorded.coin ?? ""}`),
        h("td", {}, `${c.current.reason} ${c.current.coin ?? ""}`),
        h("td", {}, `${c.candidate.reason} ${c.candidate.coin ?? ""}`))), "grid"));
  }
  for (const warning of preview.warnings) parts.push(h("p", { class: "warn" }, warning));
  return h("div", { id: "preview" }, parts);
}

async function sessionView(ctx, id) {
  const { main, signal } = ctx;
  const operator = ctx.can("operator");
  let progress = await get(`/teach/sessions/${id}`);
  const facts = h("div", { id: "progress" });
  const spread = h("div", { id: "spread" });
  const previewBox = h("div", {});
  const draw = () => {
    // replaceChildren would print a null as "null": leave the absent parts out
    facts.replaceChildren(...[
      h("p", {}, h("strong", { id: "session-count" }, `${progress.count} coins`),
        ` · ${progress.state}`, progress.live ? " · live coins taken" : "",
        progress.ready ? h("span", { class: "badge ok", id: "ready" }, "ready to commit") : null),
      progress.problem ? h("p", { class: "warn", id: "problem" }, progress.problem) : null,
      progress.outliers?.length ? h("p", {}, `Outliers dropped: ${progress.outliers.length}`) : null,
      ...(progress.warnings || []).map((w) => h("p", { class: "warn" }, w))].filter(Boolean));
    spread.replaceChildren(spreadChart(progress));
  };
  draw();

  const file = h("input", { type: "file", id: "teach-file", accept: ".json,.jsonl,.ndjson,application/json" });
  const upload = h("button", {
    type: "button",
    id: "upload",
    onclick: async () => {
      const chosen = file.files[0];
      if (!chosen) { ctx.notify("Choose a file of signatures first."); return; }
      upload.disabled = true;
      try {
        const reply = await api("POST", `/teach/sessions/${id}/signatures`,
          { body: chosen, contentType: await mediaType(chosen) });
        ctx.notify(`${reply.added} coins added${reply.rejected.length ? `, ${reply.rejected.length} refused` : ""}.`, "ok");
        progress = await get(`/teach/sessions/${id}`);
        draw();
      } catch (error) { ctx.failed(error); } finally { upload.disabled = false; }
    },
  }, "Upload");
  const activate = h("input", { type: "checkbox", id: "commit-activate", checked: true });
  const open = progress.state === "open";
  const actions = operator && open ? h("div", { class: "actions" },
    h("p", {}, h("label", {}, "Signatures (JSON array or JSON Lines) ", file), " ", upload),
    h("p", {},
      h("button", {
        type: "button",
        id: "preview-btn",
        onclick: async () => {
          try { previewBox.replaceChildren(previewView(await get(`/teach/sessions/${id}/preview`), progress.coin)); } catch (error) { ctx.failed(error); }
        },
      }, "Preview"), " ",
      h("label", {}, activate, " activate at once"), " ",
      h("button", {
        type: "button",
        id: "commit",
        class: "primary",
        onclick: async () => {
          if (!confirmed(`Commit ${progress.coin} on head ${progress.head} as a new profile version${activate.checked ? " and activate it" : ""}?`)) return;
          try {
            const done = await api("POST", `/teach/sessions/${id}/commit`, { json: { activate: activate.checked } });
            ctx.notify(`Version ${done.profile.version} made${activate.checked ? " and active" : ""}.`, "ok");
            ctx.rerender();
          } catch (error) { ctx.failed(error); }
        },
      }, "Commit"), " ",
      h("button", {
        type: "button",
        id: "abandon",
        class: "danger",
        onclick: async () => {
          if (!confirmed("Abandon this session? Nothing is taught.")) return;
          try { await api("POST", `/teach/sessions/${id}/abandon`); ctx.rerender(); } catch (error) { ctx.failed(error); }
        },
      }, "Abandon"))) : null;

  main.append(h("section", { class: "card", id: "session" },
    h("h2", {}, `Teach session ${id}: ${coinName(progress.coin)} on head ${progress.head}`),
    h("p", {}, h("a", { href: "#/teach" }, "← all sessions"),
      progress.result_profile_id ? ` · made profile id ${progress.result_profile_id}` : ""),
    facts, actions, spread, previewBox));

  // Watch the spread while the session is open (live sessions fill up by themselves).
  while (open && !signal.aborted) {
    await sleep(2000, signal);
    if (signal.aborted) return;
    try {
      const fresh = await get(`/teach/sessions/${id}`);
      if (fresh.count !== progress.count || fresh.state !== progress.state) { progress = fresh; draw(); }
    } catch (error) { ctx.failed(error); return; }
  }
}

export async function render(ctx) {
  const id = sessionId();
  if (id != null) return sessionView(ctx, id);
  const { main, head, signal } = ctx;
  const [sessions, catalogue] = await Promise.all([get(`/teach/sessions${query({ head })}`), get("/coins")]);
  if (signal.aborted) return;
  const coin = h("select", { id: "teach-coin" }, catalogue.map((c) => h("option", { value: c.id }, `${c.name} (${c.id})`)));
  const security = h("select", { id: "teach-security" }, ["standard", "narrow", "very narrow"].map((s) => h("option", { value: s }, s)));
  const live = h("input", { type: "checkbox", id: "teach-live" });
  const start = ctx.can("operator") ? h("form", {
    class: "inline",
    id: "teach-start",
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        const made = await api("POST", "/teach/sessions", { json: { coin: coin.value, head, security: security.value, live: live.checked } });
        location.hash = `#/teach?session=${made.id}`;
      } catch (error) { ctx.failed(error); }
    },
  }, h("label", {}, "coin ", coin), h("label", {}, "security ", security),
  h("label", {}, live, " take live coins"), h("button", { type: "submit" }, "Start a teach session")) : null;
  main.append(h("section", { class: "card" }, h("h2", {}, `Teach on head ${head}`), start,
    sessions.length ? table(["id", "coin", "state", "coins", "started", "result"], sessions.map((s) => h("tr", { "data-session": s.id },
      h("td", {}, h("a", { href: `#/teach?session=${s.id}` }, `session ${s.id}`)),
      h("td", {}, coinName(s.coin)), h("td", {}, s.state), h("td", { class: "num" }, s.count),
      h("td", {}, when(s.created_at), h("small", {}, ` ${s.created_by}`)),
      h("td", {}, s.result_profile_id ? `profile id ${s.result_profile_id}` : ""))), "grid sessions")
      : h("p", {}, "No teach session yet.")));
}
