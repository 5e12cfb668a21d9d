// The console's shell: sign-in, the head picker, role-aware navigation, one page at a time.

import { ApiError, get, key } from "./api.js";
import { learnCoins } from "./words.js";
import * as overview from "./pages/overview.js";
import * as live from "./pages/live.js";
import * as stats from "./pages/stats.js";
import * as refusals from "./pages/refusals.js";
import * as profiles from "./pages/profiles.js";
import * as teach from "./pages/teach.js";
import * as keys from "./pages/keys.js";

const PAGES = { overview, live, stats, refusals, profiles, teach, keys };
const RANK = { viewer: 1, operator: 2, admin: 3 };
const HEAD_STORE = "coinval.head";

const $ = (id) => document.getElementById(id);
const state = { who: null, head: null, leave: null, page: null };

function notify(message, kind = "error") {
  const box = $("notice");
  box.textContent = message;
  box.className = `notice ${kind}`;
  box.hidden = false;
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => { box.hidden = true; }, kind === "error" ? 9000 : 4000);
}

function showSignIn(message) {
  key.clear();
  state.who = null;
  leavePage();
  document.body.dataset.role = "";
  $("page").replaceChildren();
  for (const id of ["nav", "head-pick", "signout"]) $(id).hidden = true;
  $("who").textContent = "";
  $("signin").hidden = false;
  const error = $("signin-error");
  error.hidden = !message;
  error.textContent = message || "";
  $("key").focus();
}

// Every page reports failures here: a key revoked meanwhile sends the operator back to sign in.
function failed(error) {
  if (error instanceof ApiError && error.status === 401) {
    showSignIn("The key is no longer valid: sign in again.");
  } else if (error?.name !== "AbortError") {
    notify(error?.message || String(error));
  }
}

async function loadHeads() {
  const heads = await get("/heads");
  const pick = $("head");
  const names = heads.map((h) => h.head);
  const wanted = state.head || sessionStorage.getItem(HEAD_STORE);
  state.head = names.includes(wanted) ? wanted : (names[0] ?? null);
  pick.replaceChildren(...names.map((name) => {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = name;
    return option;
  }));
  if (state.head) pick.value = state.head;
  $("head-pick").hidden = names.length === 0;
}

async function signedIn() {
  const who = await get("/whoami");
  state.who = who;
  document.body.dataset.role = who.role;
  $("signin").hidden = true;
  for (const id of ["nav", "signout"]) $(id).hidden = false;
  $("who").textContent = `${who.name} · ${who.key_id} · ${who.role}`;
  learnCoins(await get("/coins"));
  await loadHeads();
  route();
}

function leavePage() {
  if (state.leave) {
    try { state.leave(); } catch { /* a page's cleanup must not stop the next one */ }
  }
  state.leave = null;
}

function route() {
  if (!state.who) return;
  let name = (location.hash.replace(/^#\/?/, "") || "overview").split("?")[0];
  if (!(name in PAGES)) name = "overview";
  if (name === "keys" && !can("admin")) name = "overview";
  leavePage();
  state.page = name;
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.page === name);
  }
  const main = $("page");
  main.replaceChildren();
  main.dataset.page = name;
  const controller = new AbortController();
  state.leave = () => controller.abort();
  const ctx = {
    main,
    head: state.head,
    who: state.who,
    can,
    notify,
    failed,
    signal: controller.signal,
    reloadHeads: async () => { await loadHeads(); },
    rerender: () => route(),
  };
  Promise.resolve(PAGES[name].render(ctx)).catch(failed);
}

function can(role) {
  return state.who != null && RANK[state.who.role] >= RANK[role];
}

function start() {
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = $("key").value.trim();
    if (!value) return;
    key.set(value);
    $("key").value = "";
    try {
      await signedIn();
    } catch (error) {
      const message = error instanceof ApiError && error.status === 401
        ? "This key is not valid (unknown or revoked)."
        : (error?.message || String(error));
      showSignIn(message);
    }
  });
  $("signout").addEventListener("click", () => showSignIn(""));
  $("head").addEventListener("change", (event) => {
    state.head = event.target.value;
    sessionStorage.setItem(HEAD_STORE, state.head);
    route();
  });
  window.addEventListener("hashchange", route);
  if (key.get()) {
    signedIn().catch((error) => {
      showSignIn(error instanceof ApiError && error.status === 401 ? "Sign in again." : error.message);
    });
  } else {
    showSignIn("");
  }
}

start();
