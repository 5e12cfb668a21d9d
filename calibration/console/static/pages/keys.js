// Keys (admins only): who may look, who may act. A new key is shown once, here.

import { api, get } from "../api.js";
import { confirmed, h, table, when } from "../dom.js";

export async function render(ctx) {
  const { main, signal } = ctx;
  const keys = await get("/keys");
  if (signal.aborted) return;
  const shown = h("div", { id: "new-key" });
  const name = h("input", { id: "key-name", required: true, maxlength: 100, placeholder: "who or what uses it" });
  const role = h("select", { id: "key-role" }, ["viewer", "operator", "admin"].map((r) => h("option", { value: r }, r)));
  const form = h("form", {
    class: "inline",
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        const made = await api("POST", "/keys", { json: { name: name.value.trim(), role: role.value } });
        ctx.rerender();
        // the page is drawn again: show the key in the new page's box, once
        setTimeout(() => {
          document.getElementById("new-key")?.replaceChildren(h("p", { class: "once" },
            `Key ${made.id} (${made.role}) made. Copy it now, it is not shown again: `,
            h("code", { class: "secret" }, made.key)));
        }, 50);
      } catch (error) { ctx.failed(error); }
    },
  }, h("label", {}, "name ", name), h("label", {}, "role ", role), h("button", { type: "submit" }, "Create key"));

  const rows = keys.map((k) => h("tr", { "data-key": k.id, class: k.revoked_at ? "off" : "" },
    h("td", { class: "mono" }, k.id), h("td", {}, k.name), h("td", {}, k.role),
    h("td", {}, when(k.created_at), h("small", {}, ` by ${k.created_by}`)),
    h("td", {}, k.revoked_at ? `revoked ${when(k.revoked_at)} by ${k.revoked_by}` : ""),
    h("td", {}, k.revoked_at ? null : h("button", {
      type: "button",
      class: "danger revoke",
      onclick: async () => {
        if (!confirmed(`Revoke key ${k.id} (${k.name})? It stops working at once.`)) return;
        try {
          await api("DELETE", `/keys/${encodeURIComponent(k.id)}`);
          ctx.notify(`Key ${k.id} revoked.`, "ok");
          ctx.rerender();
        } catch (error) { ctx.failed(error); }
      },
    }, "revoke"))));
  main.append(h("section", { class: "card" }, h("h2", {}, "API keys"), form, shown,
    table(["id", "name", "role", "made", "revoked", ""], rows, "grid keys")));
}
