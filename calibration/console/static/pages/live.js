// Each decision as it is made, with its reason in words, from the live event stream.

import { events, get, query } from "../api.js";
import { clock, h, sleep } from "../dom.js";
import { reasonInWords } from "../words.js";

const KEEP = 200;

export function decisionRow(event) {
  return h("li", { class: `decision ${event.accepted ? "accepted" : "refused"}`, "data-id": event.id },
    h("span", { class: "time" }, clock(event.at)),
    h("span", { class: "badge" }, event.accepted ? "accepted" : event.reason),
    h("span", { class: "words" }, reasonInWords(event),
      event.detail ? h("small", { class: "detail" }, event.detail) : null),
    h("span", { class: "src" }, `${event.source}${event.key_id ? ` · ${event.key_id}` : ""}`));
}

export async function render(ctx) {
  const { main, head, signal } = ctx;
  const status = h("span", { class: "live-state", id: "live-state" }, "connecting…");
  const counts = { accepted: 0, refused: 0 };
  const tally = h("span", { id: "live-tally" }, "");
  const list = h("ol", { class: "decisions", id: "decisions" });
  const showTally = () => { tally.textContent = `since opened: ${counts.accepted} accepted, ${counts.refused} refused`; };
  showTally();
  main.append(h("section", { class: "card" },
    h("h2", {}, `Live decisions on head ${head ?? "(all)"}`, " ", status),
    h("p", {}, tally),
    list));

  const recent = await get(`/events${query({ head, limit: 30 })}`);
  for (const event of recent.items) list.append(decisionRow(event));
  let last = recent.items.length ? recent.items[0].id : null;

  const add = (event) => {
    counts[event.accepted ? "accepted" : "refused"] += 1;
    showTally();
    list.prepend(decisionRow(event));
    while (list.children.length > KEEP) list.lastElementChild.remove();
  };

  // Reconnects by itself, resuming after the last decision shown (no gap, no repeat).
  while (!signal.aborted) {
    try {
      const stream = events(`/events/stream${query({ head, after: last })}`, { signal });
      status.textContent = "live";
      status.className = "live-state on";
      for await (const message of stream) {
        if (message.event !== "decision") continue;
        const event = JSON.parse(message.data);
        last = event.id;
        add(event);
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error?.status === 401 || error?.status === 403) { ctx.failed(error); return; }
    }
    if (signal.aborted) return;
    status.textContent = "reconnecting…";
    status.className = "live-state";
    await sleep(2000, signal);
  }
}
