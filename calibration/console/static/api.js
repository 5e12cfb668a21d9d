// Every call goes to this origin's /api/v1 with the key in the Authorization header:
// the same routes, role checks and audit log as any other client. The key lives in
// sessionStorage (this tab only) and never in a URL: the service refuses keys there.

const STORE = "coinval.apiKey";
const BASE = "/api/v1";

export const key = {
  get: () => sessionStorage.getItem(STORE),
  set: (value) => sessionStorage.setItem(STORE, value),
  clear: () => sessionStorage.removeItem(STORE),
};

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function failure(response) {
  let detail = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.detail) detail = String(body.detail);
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, detail);
}

function headers(extra) {
  return { Authorization: `Bearer ${key.get() || ""}`, ...extra };
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value != null && value !== "") q.set(name, String(value));
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}

// JSON in, JSON out; a raw body (a file) is sent as it is, with its own content type.
export async function api(method, path, { json, body, contentType, as } = {}) {
  const init = { method, headers: headers(), cache: "no-store" };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
    init.headers["Content-Type"] = contentType || "application/json";
  }
  const response = await fetch(BASE + path, init);
  if (!response.ok) throw await failure(response);
  if (as === "blob") return response.blob();
  return response.json();
}

export const get = (path) => api("GET", path);

// Server-sent events read from a fetch() body: EventSource cannot send an
// Authorization header, and the key must not go in the URL.
export async function* events(path, { signal }) {
  const response = await fetch(BASE + path, {
    headers: headers({ Accept: "text/event-stream" }),
    cache: "no-store",
    signal,
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = { event: "message", id: null, data: "" };
        for (const line of block.split("\n")) {
          if (!line || line.startsWith(":")) continue; // comment: the server's keep-alive
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let text = colon < 0 ? "" : line.slice(colon + 1);
          if (text.startsWith(" ")) text = text.slice(1);
          if (field === "data") event.data += (event.data ? "\n" : "") + text;
          else if (field === "event") event.event = text;
          else if (field === "id") event.id = text;
        }
        if (event.data) yield event;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
