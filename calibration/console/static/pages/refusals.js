// Recent refusals with their detail: what the engine measured that put each coin out.

import { get, query } from "../api.js";
import { h, table, when } from "../dom.js";
import { REASON_LABEL, REFUSALS, coinName, reasonInWords } from "../words.js";

export async function render(ctx) {
  const { main, head, signal } = ctx;
  const wanted = new URLSearchParams(location.hash.split("?")[1] || "").get("reason") || "";
  const picker = h("select", {
    id: "refusal-reason",
    onchange: (event) => { location.hash = `#/refusals?reason=${event.target.value}`; },
  }, h("option", { value: "" }, "every refusal"),
  REFUSALS.map((r) => h("option", { value: r, selected: r === wanted ? "selected" : null }, REASON_LABEL[r])));
  const body = h("div", {});
  main.append(h("section", { class: "card" }, h("h2", {}, `Recent refusals on head ${head} `, picker), body));

  // One reason: the server filters (an index walk); every refusal: the newest page, minus accepts.
  const page = await get(`/events${query({ head, reason: wanted || null, limit: wanted ? 100 : 500 })}`);
  if (signal.aborted) return;
  const items = page.items.filter((e) => !e.accepted).slice(0, 100);
  body.append(items.length
    ? table(["when", "refused", "coin", "why", "source"], items.map((e) => h("tr", { "data-id": e.id },
      h("td", {}, when(e.at)),
      h("td", {}, h("span", { class: "badge" }, REASON_LABEL[e.reason] ?? e.reason)),
      h("td", {}, e.coin ? coinName(e.coin) : "–"),
      h("td", {}, reasonInWords(e), e.detail ? h("div", { class: "detail" }, e.detail) : null),
      h("td", {}, e.source, e.key_id ? h("small", {}, ` ${e.key_id}`) : null))), "grid refusals")
    : h("p", {}, "No refusal in the recent decisions."));
}
