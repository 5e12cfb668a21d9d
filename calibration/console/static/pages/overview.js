// The head: its active profile, its coins, and the operator's inhibits and overrides.

import { api, get } from "../api.js";
import { confirmed, h, table, when } from "../dom.js";

const enc = encodeURIComponent;

export async function render(ctx) {
  const { main, head } = ctx;
  if (!head) {
    main.append(h("section", { class: "card" }, h("h2", {}, "No head yet"),
      h("p", {}, "Import a profile (Profiles) or start coinval serve against this store.")));
    return;
  }
  const [coins, active] = await Promise.all([
    get(`/heads/${enc(head)}/coins`),
    get(`/heads/${enc(head)}/active`).catch(() => null),
  ]);
  const operator = ctx.can("operator");

  const master = h("section", { class: `card master ${coins.master_inhibit ? "alarm" : ""}` },
    h("h2", {}, `Head ${head}`),
    active
      ? h("p", { id: "active-profile" }, "Active profile ", h("strong", {}, `version ${active.version}`),
        ` (id ${active.id}, ${active.source}, ${when(active.created_at)}): `,
        h("span", { class: "mono" }, active.sha256.slice(0, 12)))
      : h("p", {}, "No active profile."),
    h("p", { id: "master-state" }, coins.master_inhibit
      ? "MASTER INHIBIT is set: the head accepts no coin."
      : "Master inhibit is off: taught coins are accepted."),
    operator && h("button", {
      type: "button",
      id: "master-toggle",
      class: coins.master_inhibit ? "" : "danger",
      onclick: async () => {
        const setting = !coins.master_inhibit;
        if (!confirmed(setting ? `Set the master inhibit on head ${head}? No coin will be accepted.`
          : `Clear the master inhibit on head ${head}?`)) return;
        try {
          await api("PUT", `/heads/${enc(head)}/master-inhibit`, { json: { master_inhibit: setting } });
          ctx.notify(setting ? "Master inhibit set." : "Master inhibit cleared.", "ok");
          ctx.rerender();
        } catch (error) { ctx.failed(error); }
      },
    }, coins.master_inhibit ? "Clear master inhibit" : "Set master inhibit"));

  const taught = coins.coins.filter((c) => c.taught).sort((a, b) => a.position - b.position);
  const others = coins.coins.filter((c) => !c.taught);

  const row = (coin) => h("tr", { "data-coin": coin.id, class: coin.enabled_now ? "" : "off" },
    h("td", {}, coin.position ?? ""),
    h("td", {}, h("span", { class: "mono" }, coin.id), h("br"), h("small", {}, coin.name)),
    h("td", { class: "num" }, `${coin.value_pence}p`),
    h("td", {}, coin.legal_tender_now ? "yes" : "no",
      h("br"), h("small", {}, `${coin.legal_tender_from ?? "…"} – ${coin.legal_tender_until ?? "…"}`)),
    h("td", {}, operator && coin.taught
      ? h("label", { class: "switch" }, h("input", {
        type: "checkbox",
        class: "inhibit",
        checked: coin.inhibited,
        "aria-label": `inhibit ${coin.id}`,
        onchange: async (event) => {
          const box = event.target;
          box.disabled = true;
          try {
            await api("PUT", `/heads/${enc(head)}/coins/${enc(coin.id)}/inhibit`,
              { json: { inhibited: box.checked } });
            ctx.notify(`${coin.id} ${box.checked ? "inhibited" : "enabled"} on head ${head}.`, "ok");
            ctx.rerender();
          } catch (error) {
            box.checked = !box.checked;
            box.disabled = false;
            ctx.failed(error);
          }
        },
      }), " inhibited")
      : (coin.inhibited ? "inhibited" : "")),
    h("td", {}, operator && coin.taught
      ? h("select", {
        class: "legal-tender",
        "aria-label": `legal tender of ${coin.id}`,
        onchange: async (event) => {
          try {
            await api("PUT", `/heads/${enc(head)}/coins/${enc(coin.id)}/legal-tender`,
              { json: { legal_tender: event.target.value } });
            ctx.notify(`${coin.id}: legal tender ${event.target.value}.`, "ok");
            ctx.rerender();
          } catch (error) { ctx.failed(error); }
        },
      }, ["schedule", "always", "never"].map((v) => h("option", {
        value: v, selected: (coin.legal_tender_override ?? "schedule") === v ? "selected" : null,
      }, v === "schedule" ? "follow the dates" : v)))
      : (coin.legal_tender_override ?? "dates")),
    h("td", { class: "state" }, coin.enabled_now ? "accepted now" : "refused now"));

  const headings = ["pos", "coin", "value", "legal tender", "inhibit", "override", "now"];
  main.append(master,
    h("section", { class: "card" }, h("h2", {}, "Taught coins"),
      taught.length ? table(headings, taught.map(row), "grid coins") : h("p", {}, "No coin taught.")),
    h("details", { class: "card" }, h("summary", {}, `Catalogue coins not taught on ${head} (${others.length})`),
      table(headings, others.map(row), "grid")));
}
