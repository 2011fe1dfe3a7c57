// The waiting room on a performance's page: join it (with the proof of
// work the cluster asks for, done here in the browser), then watch the
// place fall on a progress bar, live, until let in.

import { api, authorizedStream, rememberAdmission, session } from "./api.js";
import { h, say, when } from "./ui.js";

// The first nonce from 0 up such that SHA-256 of the challenge (hex) and
// the nonce's 8 big-endian bytes begins with `bits` zero bits.
async function proofOfWork(challengeHex, bits) {
  if (!bits) return 0;
  const input = new Uint8Array(40);
  for (let i = 0; i < 32; i++) input[i] = parseInt(challengeHex.slice(i * 2, i * 2 + 2), 16);
  const zerosOf = (digest) => {
    let zeros = 0;
    for (const byte of digest) {
      if (byte !== 0) return zeros + Math.clz32(byte) - 24;
      zeros += 8;
    }
    return zeros;
  };
  // A batch of attempts at once: one await per batch, not per hash.
  const BATCH = 256;
  for (let first = 0; ; first += BATCH) {
    const digests = await Promise.all(Array.from({ length: BATCH }, (_, k) => {
      const attempt = new Uint8Array(input);
      const view = new DataView(attempt.buffer);
      const nonce = first + k;
      view.setUint32(32, Math.floor(nonce / 2 ** 32));
      view.setUint32(36, nonce >>> 0);
      return crypto.subtle.digest("SHA-256", attempt);
    }));
    const found = digests.findIndex((d) => zerosOf(new Uint8Array(d)) >= bits);
    if (found >= 0) return first + found;
  }
}

// The panel of the waiting room of `showId`, or null when it has none (or
// the visitor is not logged in: they join after logging in). Returns
// { element, close }.
export async function queuePanel(showId) {
  if (!session()) return null;
  let standing;
  try {
    standing = await api.queue(showId);
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
  const status = h("p", { class: "queue-status", "aria-live": "polite" });
  const bar = h("progress", { class: "queue-progress", max: 1, value: 0, "aria-label": "Your place in the queue" });
  const join = h("button", { class: "queue-join", onclick: joinRoom }, "Join the queue");
  const element = h("section", { class: "queue", "aria-label": "Waiting room" },
    h("h2", {}, "Waiting room"), status, bar, join);
  let first = 0;
  let stop = null;

  function draw(s) {
    standing = s;
    rememberAdmission(showId, s.admission_token);
    // Let in, closed or outside: nothing more to follow.
    if (stop && !["pre_queue", "waiting"].includes(s.status)) {
      stop();
      stop = null;
    }
    element.dataset.status = s.status;
    element.dataset.position = s.position || 0;
    join.hidden = s.status !== "outside";
    bar.hidden = !["pre_queue", "waiting", "admitted"].includes(s.status);
    if (s.status === "waiting") {
      first = Math.max(first, s.position);
      bar.max = first;
      bar.value = first - s.position + 1;
      const wait = s.estimated_wait_ms >= 1000 ? `, about ${Math.ceil(s.estimated_wait_ms / 1000)} s to wait` : "";
      status.textContent = `You are number ${s.position} in line${wait}.`;
    } else if (s.status === "pre_queue") {
      bar.removeAttribute("value");
      status.textContent = `You are in the queue. Places are drawn at random when it opens (${when(s.opens_at_ms)}).`;
    } else if (s.status === "admitted") {
      bar.max = 1;
      bar.value = 1;
      status.textContent = `You're in! Choose your seats and pay before ${when(s.admitted_until_ms)}.`;
    } else if (s.status === "closed") {
      status.textContent = "The queue has closed: this performance is sold out.";
    } else {
      status.textContent = `This performance sells through a waiting room (${s.waiting} waiting). Join it to buy.`;
    }
  }

  function follow() {
    if (stop) stop();
    stop = authorizedStream(`/api/performances/${encodeURIComponent(showId)}/queue/live`, "standing", draw,
      (e) => say(e.message, "error"));
  }

  async function joinRoom() {
    join.disabled = true;
    status.textContent = "Joining… (your browser shows it is not a script: this takes a moment)";
    try {
      const nonce = await proofOfWork(standing.join_challenge, standing.join_pow_bits);
      draw(await api.joinQueue(showId, nonce));
      follow();
    } catch (e) {
      say(e.message, "error");
      draw(standing);
    } finally {
      join.disabled = false;
    }
  }

  draw(standing);
  if (["pre_queue", "waiting"].includes(standing.status)) follow();
  return { element, close: () => stop && stop() };
}
