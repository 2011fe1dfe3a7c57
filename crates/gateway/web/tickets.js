// Tickets and the door: a buyer's e-tickets with their QR codes (on screen
// and printed), and the door page that scans them.
//
// Each page takes `isStale`, true once the reader has moved to another
// page, so one that finishes loading late does not draw over the next.

import { api, authorizedStream } from "./api.js";
import { h, page, problem, requireLogin, say, when } from "./ui.js";

// A simple show's places are bare numbers: "3" reads "Seat 3".
const place = (label) => (/^\d+$/.test(label) ? `Seat ${label}` : label);

// A ticket's QR code as an <img>. The SVG is drawn by the gateway from the
// ticket's code alone, yet it is still checked to parse as an SVG document
// and then shown as an image (a data: URL, which the page's CSP allows):
// inside an <img>, nothing in an SVG can run or fetch anything.
async function qrImage(ticket) {
  const svg = await api.ticketQr(ticket.ticket_id);
  const root = new DOMParser().parseFromString(svg, "image/svg+xml").documentElement;
  if (root.namespaceURI !== "http://www.w3.org/2000/svg" || root.localName !== "svg") {
    throw new Error("The QR code came back unreadable; reload the page to try again.");
  }
  return h("img", {
    class: "qr",
    src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`,
    alt: `QR code of ticket ${ticket.ticket_id}`,
  });
}

// One ticket: its performance, place, type, version, door status, QR code
// and code text. `onReissue` and `onTransfer` (absent when printing) add
// the buttons.
function ticketBlock(ticket, show, onReissue, onTransfer) {
  const qr = h("div", { class: "qr-box" }, "Loading the QR code…");
  qrImage(ticket).then(
    (img) => qr.replaceChildren(img),
    (e) => qr.replaceChildren(problem(e)));
  const used = ticket.admitted_at_ms > 0;
  const fact = (term, value) => [h("dt", {}, term), h("dd", {}, value)];
  return h("article", { class: "ticket", "data-ticket": ticket.ticket_id },
    h("h2", {}, show ? show.title : ticket.show_id),
    h("p", { class: "when" }, show ? `${when(show.starts_at_ms)} · ${ticket.show_id}` : ticket.show_id),
    h("div", { class: "ticket-body" },
      qr,
      h("dl", {},
        fact("Place", place(ticket.label)),
        fact("Type", ticket.ticket_type || "—"),
        fact("Ticket", ticket.ticket_id),
        fact("Version", String(ticket.version)),
        fact("Door", used ? `came in at gate ${ticket.gate}, ${when(ticket.admitted_at_ms)}` : "not used yet"))),
    h("p", { class: "code-line" }, h("span", { class: "visually-hidden" }, "Code: "),
      h("code", { class: "ticket-code" }, ticket.code)),
    onReissue && !used
      ? h("button", {
        type: "button", class: "no-print", "aria-label": `Reissue ticket ${ticket.ticket_id}`,
        onclick: () => onReissue(ticket),
      }, "Reissue")
      : null,
    onTransfer && !used
      ? h("button", {
        type: "button", class: "no-print", "aria-label": `Give ticket ${ticket.ticket_id} to someone`,
        onclick: () => onTransfer(ticket),
      }, "Give to…")
      : null);
}

// My tickets and the shows they are for, or the page's error.
async function load(title, isStale) {
  if (!requireLogin()) return null;
  page(title, h("p", {}, "Loading…"));
  try {
    const [tickets, shows] = await Promise.all([api.tickets(), api.shows()]);
    if (isStale()) return null;
    return { tickets, shows: new Map(shows.map((s) => [s.show_id, s])) };
  } catch (e) {
    if (!isStale()) page(title, problem(e));
    return null;
  }
}

const NO_TICKETS = () => h("p", {}, "No tickets yet: they appear here once a booking is paid. ",
  h("a", { href: "#/" }, "Find a show"));

export async function ticketsPage(isStale) {
  const loaded = await load("My tickets", isStale);
  if (!loaded) return;
  const { tickets, shows } = loaded;
  if (tickets.length === 0) {
    page("My tickets", NO_TICKETS());
    return;
  }

  async function reissue(ticket) {
    if (!confirm(`Reissue ticket ${ticket.ticket_id}? Its current code stops admitting; only the new one will.`)) return;
    try {
      const fresh = await api.reissue(ticket.ticket_id);
      const old = list.querySelector(`[data-ticket="${CSS.escape(ticket.ticket_id)}"]`);
      old?.replaceWith(ticketBlock(fresh, shows.get(fresh.show_id), reissue, transfer));
      say(`Ticket ${fresh.ticket_id} reissued (version ${fresh.version}): earlier codes no longer admit.`, "ok");
    } catch (e) {
      say(e.message, "error");
    }
  }

  // Giving a ticket away: the new holder finds a new code in their
  // tickets, and this one stops admitting.
  async function transfer(ticket) {
    const to = prompt(`Give ticket ${ticket.ticket_id} to whom? Their account's email:`);
    if (to === null) return;
    if (!to.trim()) {
      say("Name the account to give the ticket to.", "error");
      return;
    }
    try {
      await api.transfer(ticket.ticket_id, to.trim());
      list.querySelector(`[data-ticket="${CSS.escape(ticket.ticket_id)}"]`)?.remove();
      say(`Ticket ${ticket.ticket_id} is now ${to.trim()}'s; your code no longer admits.`, "ok");
    } catch (e) {
      say(e.message, "error");
    }
  }

  const list = h("div", { class: "tickets-list" },
    tickets.map((t) => ticketBlock(t, shows.get(t.show_id), reissue, transfer)));
  page("My tickets",
    h("p", { class: "no-print" },
      "Show the QR code at the door, on screen or printed. ",
      h("a", { href: "#/tickets/print", class: "button" }, "Print tickets")),
    list);
}

// The same tickets laid out for paper: one block each, the QR code large,
// no buttons; the navigation is hidden by the print style sheet.
export async function printTicketsPage(isStale) {
  const loaded = await load("Tickets", isStale);
  if (!loaded) return;
  const { tickets, shows } = loaded;
  page("Tickets",
    h("p", { class: "no-print" },
      h("button", { type: "button", class: "primary", onclick: () => window.print() }, "Print"), " ",
      h("a", { href: "#/tickets" }, "Back to my tickets")),
    tickets.length
      ? h("div", { class: "print-sheet" }, tickets.map((t) => ticketBlock(t, shows.get(t.show_id), null)))
      : NO_TICKETS());
}

// --- the door ----------------------------------------------------------------

// The last performance and gate chosen in this tab.
const DOOR_KEY = "boxoffice.door";

// What each finding is called at the door, and how it looks.
const FINDINGS = {
  admitted: ["Admitted", "ok"],
  already_in: ["Already in", "warn"],
  wrong_performance: ["Wrong performance", "refused"],
  returned: ["Returned ticket", "refused"],
  superseded: ["Old code: the ticket was reissued", "refused"],
  transferred: ["Old code: the ticket was given to someone else", "refused"],
  left: ["Out (may come in again)", "warn"],
  not_in: ["Not in", "warn"],
  not_paid: ["Not paid", "refused"],
  unknown: ["Unknown ticket", "refused"],
  forged: ["Not a genuine ticket", "refused"],
  unspecified: ["Unknown answer", "refused"],
};

// A scan's answer as the door shows it: a title, a look, and lines.
function verdict(answer, shows) {
  const [title, kind] = FINDINGS[answer.result] || FINDINGS.unspecified;
  // The node's message names the place and the type, and says "check ID"
  // for the types that need proof; the page adds what it knows better.
  let line = answer.message;
  if (answer.result === "already_in") {
    line = `Came in at gate ${answer.gate}, ${when(answer.admitted_at_ms)}.`;
  } else if (answer.result === "wrong_performance") {
    const show = shows.get(answer.show_id);
    line = `This ticket is for ${show ? `${show.title}, ${when(show.starts_at_ms)} (${show.show_id})` : answer.show_id}.`;
  }
  return { result: answer.result, title, kind, lines: [line], place: answer.label ? place(answer.label) : "" };
}

export async function doorPage(isStale) {
  if (!requireLogin()) return null;
  page("Door", h("p", {}, "Loading…"));
  let shows;
  try {
    shows = await api.shows();
    if (isStale()) return null;
  } catch (e) {
    if (!isStale()) page("Door", problem(e));
    return null;
  }
  const byId = new Map(shows.map((s) => [s.show_id, s]));
  let saved = {};
  try {
    saved = JSON.parse(sessionStorage.getItem(DOOR_KEY)) || {};
  } catch {
    // Nothing usable saved: start blank.
  }

  const performance = h("select", { id: "door-show", name: "door-show" },
    new Option("Choose the performance…", ""),
    shows.map((s) => {
      const option = new Option(`${s.title} · ${when(s.starts_at_ms)} (${s.show_id})`, s.show_id);
      option.selected = s.show_id === saved.show_id;
      return option;
    }));
  const gate = h("input", {
    id: "door-gate", name: "door-gate", value: saved.gate || "main", maxlength: 64,
    autocomplete: "off", spellcheck: "false",
  });
  const code = h("input", {
    id: "door-code", name: "door-code", class: "door-code", autocomplete: "off", spellcheck: "false",
    autocapitalize: "off", maxlength: 2048, placeholder: "Scan, type or paste a code, then Enter",
  });
  const answer = h("div", { class: "scan-answer idle", role: "status", "aria-live": "assertive" },
    h("p", { class: "scan-title" }, "Ready to scan."));
  const recent = h("ol", { class: "scans", "aria-label": "Recent scans" });
  const field = (id, text, input) => h("p", {}, h("label", { for: id }, text), input);
  const form = h("form", { class: "card door", novalidate: true, onsubmit: scan },
    h("div", { class: "row" },
      field("door-show", "Performance", performance),
      field("door-gate", "Gate", gate)),
    field("door-code", "Ticket code", code),
    h("button", { type: "submit", class: "primary" }, "Check in"));

  function draw(shown) {
    answer.className = `scan-answer ${shown.kind}`;
    answer.dataset.result = shown.result;
    answer.replaceChildren(h("p", { class: "scan-title" }, shown.title),
      ...shown.lines.filter(Boolean).map((line) => h("p", { class: "scan-line" }, line)));
  }

  // What is wrong with the form, and the field to fix; null when nothing.
  function mistake(text, gateName) {
    if (!performance.value) return ["Choose the performance this door admits to.", performance];
    if (!gateName) return ["Name this gate (for example north).", gate];
    if (!/^[!-~]+$/.test(gateName)) return [`The gate "${gateName}" may only hold letters, digits and signs, no spaces.`, gate];
    if (!text) return ["Scan, type or paste a ticket code first.", code];
    return null;
  }

  // The answer to the latest scan is the one shown large; every answer
  // goes to the list of recent scans, in the order they came back.
  let latest = 0;
  async function scan(event) {
    event.preventDefault();
    const text = code.value.trim();
    const gateName = gate.value.trim();
    const wrong = mistake(text, gateName);
    if (wrong) {
      draw({ result: "mistake", title: "Not scanned", kind: "error", lines: [wrong[0]] });
      wrong[1].focus();
      return;
    }
    const showId = performance.value;
    sessionStorage.setItem(DOOR_KEY, JSON.stringify({ show_id: showId, gate: gateName }));
    // Ready for the next code at once: a scanner types it and Enter.
    code.value = "";
    code.focus();
    const mine = ++latest;
    let shown;
    try {
      shown = verdict(await api.checkIn(showId, gateName, text), byId);
    } catch (e) {
      shown = e.status === 403
        ? {
          result: "not_allowed", title: "Not allowed to scan here", kind: "refused",
          lines: [e.message, "Administrators and this performance's door staff scan here."],
        }
        : { result: "error", title: "Not scanned", kind: "error", lines: [e.message] };
    }
    if (isStale()) return;
    recent.prepend(h("li", { class: shown.kind },
      `${new Date().toLocaleTimeString()} · ${shown.title}${shown.place ? ` · ${shown.place}` : ""}`));
    while (recent.children.length > 10) recent.lastElementChild.remove();
    if (mine === latest) draw(shown);
  }

  // The camera, where the browser reads QR codes itself.
  const video = h("video", { class: "camera", playsinline: true, hidden: true });
  video.muted = true;
  let camera = null;
  const cameraButton = "BarcodeDetector" in window
    ? h("button", { type: "button", onclick: () => (camera ? stopCamera() : startCamera()) }, "Scan with the camera")
    : null;

  async function startCamera() {
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      if (!formats.includes("qr_code")) throw new Error("This browser's barcode reader does not read QR codes.");
      const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      camera = { stream, timer: null, last: "", lastAt: 0 };
      video.srcObject = stream;
      video.hidden = false;
      await video.play();
      cameraButton.textContent = "Stop the camera";
      const look = async () => {
        if (!camera) return;
        try {
          const value = (await detector.detect(video))[0]?.rawValue;
          // A code stays in view for a while: scan it once, then again
          // only after 3 s (which then says "already in").
          if (value && (value !== camera.last || Date.now() - camera.lastAt > 3000)) {
            camera.last = value;
            camera.lastAt = Date.now();
            code.value = value;
            form.requestSubmit();
          }
        } catch {
          // The frame was not ready: look again.
        }
        if (camera) camera.timer = setTimeout(look, 200);
      };
      look();
    } catch (e) {
      stopCamera();
      draw({
        result: "error", title: "No camera", kind: "error",
        lines: [e.name === "NotAllowedError" ? "The browser was not allowed to use the camera." : e.message],
      });
    }
  }

  function stopCamera() {
    if (camera) {
      clearTimeout(camera.timer);
      camera.stream.getTracks().forEach((track) => track.stop());
      camera = null;
    }
    video.srcObject = null;
    video.hidden = true;
    if (cameraButton) cameraButton.textContent = "Scan with the camera";
  }

  // The performance's door, live (for the front-of-house manager): sold,
  // inside, admissions per gate, conflicts; followed while the page is open.
  const counts = h("div", { class: "card door-counts", id: "door-counts", "aria-live": "polite" },
    h("p", {}, "Choose a performance to see its door live."));
  let closeCounts = null;
  function followCounts() {
    if (closeCounts) closeCounts();
    closeCounts = null;
    const showId = performance.value;
    if (!showId) {
      counts.replaceChildren(h("p", {}, "Choose a performance to see its door live."));
      return;
    }
    counts.replaceChildren(h("p", {}, "Counting…"));
    const path = `/api/performances/${encodeURIComponent(showId)}/door/live`;
    closeCounts = authorizedStream(path, "counts", (c) => {
      if (isStale() || performance.value !== c.show_id) return;
      const gates = c.gates.length
        ? h("ul", { class: "gates" }, c.gates.map((g) => h("li", {}, `Gate ${g.gate}: ${g.admitted} admitted`)))
        : h("p", {}, "Nobody admitted yet.");
      counts.replaceChildren(
        h("p", { class: "door-total" },
          h("strong", { "data-count": "inside" }, String(c.inside)), ` inside of `,
          h("strong", { "data-count": "sold" }, String(c.sold)), " tickets",
          c.reentry ? " · exits and re-entry allowed" : ""),
        gates,
        ...(c.conflicts ? [h("p", { class: "warn" }, `${c.conflicts} tickets admitted at two gates while one was offline`)] : []),
        h("p", { class: "muted" }, `Counted ${new Date(c.at_ms).toLocaleTimeString()}`));
    }, (e) => {
      if (isStale() || performance.value !== showId) return;
      const text = e.status === 403
        ? "Live counts are for administrators and this performance's door staff."
        : `Live counts unavailable: ${e.message}`;
      counts.replaceChildren(h("p", { class: "muted" }, text));
    });
  }
  performance.addEventListener("change", followCounts);
  followCounts();

  page("Door",
    h("p", {}, "Scan tickets for one performance at one gate. Administrators and the performance's door staff may scan; anyone else is told so."),
    form, cameraButton, video, answer, h("h2", {}, "This performance's door"), counts,
    h("h2", {}, "Recent scans"), recent);
  (performance.value ? code : performance).focus();
  return () => {
    stopCamera();
    if (closeCounts) closeCounts();
  };
}
