// Profile versions of the head: what each holds, what changed, activate, roll back.

import { api, get, query } from "../api.js";
import { confirmed, h, table, when } from "../dom.js";

const enc = encodeURIComponent;

function diffView(diff) {
  const list = (items) => (items.length ? items.join(", ") : "none");
  const changed = Object.entries(diff.coins_changed || {});
  return h("div", { class: "diff", id: "diff" },
    h("h3", {}, `From id ${diff.from} to id ${diff.to}`),
    h("p", {}, h("strong", {}, "Coins added: "), list(diff.coins_added)),
    h("p", {}, h("strong", {}, "Coins removed: "), list(diff.coins_removed)),
    h("p", {}, h("strong", {}, "Coins changed: "), changed.length ? "" : "none"),
    changed.length ? h("pre", {}, changed.map(([coin, what]) => `${coin}: ${JSON.stringify(what)}`).join("\n")) : null,
    h("p", {}, h("strong", {}, "ccTalk positions: "), diff.positions.from.join(", "), " → ", diff.positions.to.join(", ")),
    h("p", {}, h("strong", {}, "Inhibited in the document: "),
      `added ${list(diff.inhibited.added)}; removed ${list(diff.inhibited.removed)}`));
}

export async function render(ctx) {
  const { main, head, signal } = ctx;
  const [versions, active, history] = await Promise.all([
    get(`/profiles${query({ head, limit: 100 })}`),
    get(`/heads/${enc(head)}/active`).catch(() => null),
    get(`/heads/${enc(head)}/history${query({ limit: 20 })}`).catch(() => []),
  ]);
  if (signal.aborted) return;
  const operator = ctx.can("operator");
  const diffBox = h("div", {});

  const act = async (what, request, done) => {
    if (!confirmed(what)) return;
    try {
      await request();
      ctx.notify(done, "ok");
      ctx.rerender();
    } catch (error) { ctx.failed(error); }
  };

  const rows = versions.map((p) => {
    const isActive = active && active.id === p.id;
    return h("tr", { "data-version": p.version, class: isActive ? "current" : "" },
      h("td", {}, `v${p.version}`, isActive ? h("span", { class: "badge ok" }, "active") : null),
      h("td", {}, p.id),
      h("td", {}, p.coins.join(", ")),
      h("td", {}, p.source, p.note ? h("small", {}, ` ${p.note}`) : null),
      h("td", {}, when(p.created_at), h("small", {}, ` ${p.created_by}`)),
      h("td", { class: "actions" },
        active && !isActive ? h("button", {
          type: "button",
          class: "diff-btn",
          onclick: async () => {
            try { diffBox.replaceChildren(diffView(await get(`/profiles/${active.id}/diff/${p.id}`))); } catch (error) { ctx.failed(error); }
          },
        }, "diff with active") : null,
        operator && !isActive ? h("button", {
          type: "button",
          class: "activate",
          onclick: () => act(`Activate version ${p.version} on head ${head}?`,
            () => api("PUT", `/heads/${enc(head)}/active`, { json: { profile_id: p.id } }),
            `Version ${p.version} is active on head ${head}.`),
        }, "activate") : null));
  });

  main.append(h("section", { class: "card" },
    h("h2", {}, `Profile versions of head ${head}`),
    operator ? h("p", {}, h("button", {
      type: "button",
      id: "rollback",
      disabled: !history.length,
      onclick: () => act(`Roll head ${head} back to the profile active before this one?`,
        () => api("POST", `/heads/${enc(head)}/rollback`, { json: {} }),
        `Head ${head} rolled back.`),
    }, "Roll back to the previous profile")) : null,
    versions.length ? table(["version", "id", "coins (ccTalk order)", "source", "made", ""], rows, "grid versions") : h("p", {}, "No version."),
    diffBox),
  h("section", { class: "card" }, h("h2", {}, "Activations and rollbacks"),
    history.length
      ? table(["when", "what", "version", "by"], history.map((e) => h("tr", {},
        h("td", {}, when(e.at)), h("td", {}, e.kind), h("td", {}, `v${e.version} (id ${e.profile_id})`), h("td", {}, e.key_id))), "grid")
      : h("p", {}, "None yet.")));
}
