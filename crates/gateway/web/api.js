// The gateway's JSON API, and the session kept in this tab.
//
// The session lives in sessionStorage (this tab only, gone when it closes);
// the access token goes in the Authorization header, never in a cookie, so
// no other site can make requests with it.

const KEY = "boxoffice.session";
// The admission tokens the waiting rooms gave this session, by
// performance: each hold of a performance carries its own.
const ADMISSIONS = "boxoffice.admissions";

function admissions() {
  try {
    return JSON.parse(sessionStorage.getItem(ADMISSIONS)) || {};
  } catch {
    return {};
  }
}

// Keeps the admission token of a standing in a performance's queue.
export function rememberAdmission(showId, token) {
  if (!token) return;
  sessionStorage.setItem(ADMISSIONS, JSON.stringify({ ...admissions(), [showId]: token }));
}

// A hold request with the admission token for its performance, if any.
function admitted(request) {
  const token = admissions()[request.show_id];
  return token ? { ...request, admission_token: token } : request;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY));
  } catch {
    return null;
  }
}

export function setSession(value) {
  sessionStorage.removeItem(ADMISSIONS);
  if (value) {
    sessionStorage.setItem(KEY, JSON.stringify(value));
  } else {
    sessionStorage.removeItem(KEY);
  }
}

// Sends a request as this tab's session; returns the answer's text, or
// throws the API's error (errors are JSON whatever was asked for).
async function send(method, path, body, accept) {
  const headers = { Accept: accept };
  const current = session();
  if (current) headers.Authorization = `Bearer ${current.access_token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "The box office cannot be reached. Check your connection and try again.");
  }
  const text = await response.text();
  if (!response.ok) {
    let data = null;
    try {
      data = JSON.parse(text);
    } catch {
      // Not an API error body (a proxy's page, say): the status says it.
    }
    const error = data && data.error ? data.error : { code: "http_" + response.status, message: response.statusText };
    if (response.status === 401 && current) setSession(null);
    throw new ApiError(response.status, error.code, error.message);
  }
  return text;
}

async function call(method, path, body) {
  const text = await send(method, path, body, "application/json");
  return text ? JSON.parse(text) : null;
}

export const api = {
  shows: () => call("GET", "/api/shows"),
  show: (id) => call("GET", `/api/shows/${encodeURIComponent(id)}`),
  createShow: (show) => call("POST", "/api/shows", show),
  updateShow: (id, changes) => call("PATCH", `/api/shows/${encodeURIComponent(id)}`, changes),
  register: (email, password) => call("POST", "/api/register", { email, password }),
  login: (email, password) => call("POST", "/api/login", { email, password }),
  logout: () => call("POST", "/api/logout"),
  users: () => call("GET", "/api/users"),
  plan: (id) => call("GET", `/api/shows/${encodeURIComponent(id)}/plan`),
  hold: (show_id, seat_nos) => call("POST", "/api/holds", admitted({ show_id, seat_nos })),
  // A hold of seats with a ticket type each, and standing places.
  holdPlaces: (request) => call("POST", "/api/holds", admitted(request)),
  returnTickets: (id, seat_nos) => call("POST", `/api/bookings/${encodeURIComponent(id)}/return`, { seat_nos }),
  pay: (id, card) => call("POST", `/api/bookings/${encodeURIComponent(id)}/pay`, { card }),
  bookings: () => call("GET", "/api/bookings"),
  cancel: (id) => call("POST", `/api/bookings/${encodeURIComponent(id)}/cancel`),
  ask: (session_id, text) => call("POST", "/api/assistant", { session_id, text }),
  cluster: () => call("GET", "/api/cluster"),
  tickets: () => call("GET", "/api/tickets"),
  reissue: (id) => call("POST", `/api/tickets/${encodeURIComponent(id)}/reissue`),
  transfer: (id, to) => call("POST", `/api/tickets/${encodeURIComponent(id)}/transfer`, { to }),
  // A ticket's QR code: SVG text, fetched with the token (an <img src>
  // could not send it).
  ticketQr: (id) => send("GET", `/api/tickets/${encodeURIComponent(id)}/qr.svg`, undefined, "image/svg+xml"),
  checkIn: (show_id, gate, code) => call("POST", "/api/checkin", { show_id, gate, code }),
  queue: (id) => call("GET", `/api/performances/${encodeURIComponent(id)}/queue`),
  joinQueue: (id, pow_nonce) => call("POST", `/api/performances/${encodeURIComponent(id)}/queue`, { pow_nonce }),
  waitlist: (id) => call("GET", `/api/performances/${encodeURIComponent(id)}/waitlist`),
  joinWaitlist: (id, quantity, category) =>
    call("POST", `/api/performances/${encodeURIComponent(id)}/waitlist`, { quantity, category }),
  leaveWaitlist: (id) => call("DELETE", `/api/performances/${encodeURIComponent(id)}/waitlist`),
};

// Server-sent events: calls `onEvent(data)` for each event named `name`.
// The browser reconnects by itself after a dropped connection, but gives
// up for good after an error response (say, no node answered): then this
// opens the stream again after a pause. Returns a function that closes it.
export function subscribe(path, name, onEvent, onError) {
  let source = null;
  let retry = null;
  let closed = false;
  const open = () => {
    source = new EventSource(path);
    source.addEventListener(name, (event) => onEvent(JSON.parse(event.data)));
    source.addEventListener("error", (event) => {
      if (onError) onError(event);
      if (!closed && source.readyState === EventSource.CLOSED) retry = setTimeout(open, 2000);
    });
  };
  open();
  return () => {
    closed = true;
    clearTimeout(retry);
    source.close();
  };
}

// Server-sent events of a route that needs this tab's session: EventSource
// cannot send the Authorization header, so this reads the stream with
// fetch. Calls `onEvent(data)` for each event named `name`, and
// `onError(error)` for an `error` event or a failed connection. A refusal
// (401, 403, 404) ends it; anything else opens it again after a pause
// that doubles (with jitter, up to 30 s) while it keeps failing, so many
// tabs do not hammer a struggling gateway. Returns a function that closes it.
export function authorizedStream(path, name, onEvent, onError) {
  let closed = false;
  let retry = null;
  let controller = null;
  let pause = 2000;
  const dispatch = (block) => {
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (!data.length) return;
    const value = JSON.parse(data.join("\n"));
    if (event === name) onEvent(value);
    else if (event === "error" && onError) onError(new ApiError(503, value.error?.code, value.error?.message));
  };
  const open = async () => {
    controller = new AbortController();
    const headers = { Accept: "text/event-stream" };
    const current = session();
    if (current) headers.Authorization = `Bearer ${current.access_token}`;
    try {
      const response = await fetch(path, { headers, signal: controller.signal });
      if (!response.ok) {
        let error = { code: "http_" + response.status, message: response.statusText };
        try {
          error = (await response.json()).error || error;
        } catch {
          // Not an API error body.
        }
        if (onError) onError(new ApiError(response.status, error.code, error.message));
        if ([401, 403, 404].includes(response.status)) return;
      } else {
        pause = 2000;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            dispatch(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      }
    } catch (e) {
      if (closed) return;
      if (onError) onError(new ApiError(0, "network", "The box office cannot be reached."));
    }
    if (!closed) {
      retry = setTimeout(open, pause * (0.5 + Math.random()));
      pause = Math.min(pause * 2, 30000);
    }
  };
  open();
  return () => {
    closed = true;
    clearTimeout(retry);
    if (controller) controller.abort();
  };
}
