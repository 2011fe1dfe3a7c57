// The Boxoffice web app: plain ES modules, no build step.
//
// Pages are routed by the URL's hash (#/shows/gala). Each page renders into
// <main> and may return a cleanup function (to close its live streams)
// that runs when the page changes.

import { api, session, setSession, subscribe } from "./api.js";
import { seatMap, typesIn, priceOf } from "./seatmap.js";
import { doorPage, printTicketsPage, ticketsPage } from "./tickets.js";
import { queuePanel } from "./queue.js";
import { waitlistPanel } from "./waitlist.js";
import { go, h, money, page, problem, requireLogin, say, when } from "./ui.js";

const nav = document.getElementById("nav");
let cleanup = null;
// Counts page changes: a page that finishes loading after the next one
// started must not draw over it.
let generation = 0;
const stale = (mine) => mine !== generation;

// --- navigation ----------------------------------------------------------

function renderNav() {
  const s = session();
  const links = [["#/", "Shows"]];
  if (s) links.push(["#/bookings", "My bookings"], ["#/tickets", "My tickets"], ["#/door", "Door"]);
  if (s && s.user && s.user.admin) links.push(["#/admin", "Admin"]);
  links.push(["#/cluster", "Cluster"]);
  const items = links.map(([href, label]) => {
    const current = location.hash === href || (href === "#/" && (location.hash === "" || location.hash === "#/"));
    return h("a", { href, "aria-current": current ? "page" : null }, label);
  });
  if (s) {
    items.push(
      h("span", { class: "who" }, s.user ? s.user.email : ""),
      h("button", { class: "link", onclick: logout }, "Log out"),
    );
  } else {
    items.push(h("a", { href: "#/login" }, "Log in"));
  }
  nav.replaceChildren(...items);
}

async function logout() {
  try {
    await api.logout();
  } catch {
    // The session ends here either way.
  }
  setSession(null);
  say("Logged out.");
  go("#/");
}

// --- pages ---------------------------------------------------------------

async function showsPage() {
  const mine = generation;
  page("Shows", h("p", {}, "Loading…"));
  try {
    const shows = await api.shows();
    if (stale(mine)) return;
    if (shows.length === 0) {
      page("Shows", h("p", {}, "No shows yet."));
      return;
    }
    const list = h("ul", { class: "shows" }, shows.map((s) =>
      h("li", { class: "show-card" },
        h("h2", {}, h("a", { href: `#/shows/${encodeURIComponent(s.show_id)}` }, s.title)),
        h("p", {}, when(s.starts_at_ms)),
        h("p", {}, s.venue_id ? `${s.state}` : `${money(s.price_cents)} a seat`),
        h("p", { class: s.available ? "ok" : "sold-out" },
          s.available ? `${s.available} of ${s.seat_count} seats free` : "Sold out"),
      )));
    page("Shows", list);
  } catch (e) {
    if (!stale(mine)) page("Shows", problem(e));
  }
}

// A show: a performance at a venue gets the drawn plan; a simple show
// (no venue) the grid of numbered seats.
async function showPage(showId) {
  const mine = generation;
  page("Seat map", h("p", {}, "Loading…"));
  try {
    const map = await api.show(showId);
    if (stale(mine)) return null;
    // A performance that sells through a waiting room: its panel above
    // the seats (join, the place falling live, let in).
    const queue = await queuePanel(showId);
    if (stale(mine)) {
      if (queue) queue.close();
      return null;
    }
    let close;
    let plan = null;
    if (!map.show.venue_id) {
      close = flatShowPage(showId, map);
    } else {
      plan = await api.plan(showId);
      if (stale(mine)) {
        if (queue) queue.close();
        return null;
      }
      close = venuePage(showId, plan);
    }
    // Sold out (or the visitor is on its list): the waiting list's panel.
    const list = await waitlistPanel(showId, map.show.available === 0, plan?.prices?.categories || []);
    const panels = [queue, list].filter(Boolean);
    if (stale(mine)) {
      for (const panel of panels) panel.close();
      if (close) close();
      return null;
    }
    const heading = document.getElementById("main").querySelector("h1");
    for (const panel of panels.reverse()) heading.after(panel.element);
    return () => {
      for (const panel of panels) panel.close();
      if (close) close();
    };
  } catch (e) {
    if (!stale(mine)) page("Seat map", problem(e));
    return null;
  }
}

// A performance at a venue: the seat map, a ticket type per chosen seat,
// standing places, live seat states.
function venuePage(showId, plan) {
  let show = plan.show;
  const counts = h("p", { class: "counts" });
  const chosen = h("ul", { class: "chosen", "aria-label": "Your selection" });
  const summary = h("p", { class: "summary", "aria-live": "polite" });
  const buy = h("button", { class: "primary", disabled: true, onclick: hold }, "Hold seats and pay");
  // The ticket type chosen for each selected seat.
  const types = new Map();
  const map = seatMap(plan, { onChange: drawSelection, say });

  function drawCounts() {
    counts.textContent = `${show.available} free · ${show.held} held · ${show.booked} taken` +
      (show.held_back ? ` · ${show.held_back} held back` : "");
  }

  function drawSelection() {
    const rows = [];
    let total = 0;
    let n = 0;
    for (const no of [...map.selected].sort((a, b) => a - b)) {
      const place = map.place(no);
      const offered = typesIn(plan.prices, place.category);
      if (!offered.some((t) => t.type === types.get(no))) types.set(no, offered[0]?.type);
      const cents = priceOf(plan.prices, place.category, types.get(no)) || 0;
      total += cents;
      n += 1;
      const select = h("select", {
        "aria-label": `Ticket type for ${place.label}`, "data-seat": no,
        onchange: (event) => { types.set(no, event.target.value); drawSelection(); },
      }, offered.map((t) => {
        const option = new Option(`${t.type} ${money(t.cents)}`, t.type);
        option.selected = t.type === types.get(no);
        return option;
      }));
      rows.push(h("li", { "data-seat": no }, `${place.label} (category ${place.category}) `, select, ` ${money(cents)}`));
    }
    for (const [area, entry] of map.standing) {
      if (!entry.count) continue;
      total += entry.count * entry.cents;
      n += entry.count;
      rows.push(h("li", {}, `${entry.count} × ${area}, ${entry.type}: ${money(entry.count * entry.cents)}`));
    }
    chosen.replaceChildren(...rows);
    summary.textContent = n ? `${n} place${n > 1 ? "s" : ""} selected: ${money(total)}` : "Select seats on the map.";
    buy.disabled = n === 0;
    drawCounts();
  }

  async function hold() {
    if (!requireLogin()) return;
    buy.disabled = true;
    const seatNos = [...map.selected].sort((a, b) => a - b);
    const standing = [...map.standing].filter(([, e]) => e.count > 0)
      .map(([area, e]) => ({ area, count: e.count, ticket_type: e.type }));
    try {
      const booking = await api.holdPlaces({
        show_id: showId, seat_nos: seatNos, ticket_types: seatNos.map((no) => types.get(no)), standing,
      });
      map.clear();
      go(`#/checkout/${encodeURIComponent(booking.booking_id)}`);
    } catch (e) {
      say(e.message, "error");
      buy.disabled = false;
    }
  }

  page(show.title,
    h("p", {}, `${when(show.starts_at_ms)} · ${plan.venue.name} · ${show.state}`),
    counts, map.element, h("h2", {}, "Your selection"), chosen, summary, buy);
  drawSelection();
  return subscribe(`/api/shows/${encodeURIComponent(showId)}/events`, "seats", (update) => {
    show = update.show;
    map.setSeats(update.seats);
    drawCounts();
  });
}

// A simple show, from its seat map `map`: numbered seats in a grid.
function flatShowPage(showId, map) {
  const selected = new Set();
  let show = null;
  let seats = [];
  const grid = h("div", { class: "seats", role: "group", "aria-label": "Seats" });
  const summary = h("p", { class: "summary", "aria-live": "polite" });
  const buy = h("button", { class: "primary", disabled: true, onclick: hold }, "Hold seats and pay");
  const counts = h("p", { class: "counts" });

  function label(seat) {
    const chosen = selected.has(seat.seat_no) ? ", selected" : "";
    return `Seat ${seat.seat_no}, ${seat.state}${chosen}`;
  }

  function drawSeat(button, seat) {
    button.className = `seat ${seat.state}${selected.has(seat.seat_no) ? " selected" : ""}`;
    button.disabled = seat.state !== "available";
    button.setAttribute("aria-pressed", selected.has(seat.seat_no) ? "true" : "false");
    button.setAttribute("aria-label", label(seat));
  }

  function drawSummary() {
    const n = selected.size;
    summary.textContent = n
      ? `${n} seat${n > 1 ? "s" : ""} selected (${[...selected].sort((a, b) => a - b).join(", ")}): ${money(n * show.price_cents)}`
      : "Select seats on the map.";
    buy.disabled = n === 0;
    counts.textContent = `${show.available} free · ${show.held} held · ${show.booked} booked`;
  }

  function drawAll() {
    grid.replaceChildren(...seats.map((seat) => {
      const button = h("button", {
        type: "button",
        "data-seat": seat.seat_no,
        onclick: () => toggle(seat.seat_no),
      }, String(seat.seat_no));
      drawSeat(button, seat);
      return button;
    }));
    drawSummary();
  }

  function toggle(no) {
    const seat = seats[no - 1];
    if (!seat || seat.state !== "available") return;
    if (selected.has(no)) selected.delete(no);
    else if (selected.size >= 10) return say("At most 10 seats in one booking.", "warn");
    else selected.add(no);
    drawSeat(grid.children[no - 1], seat);
    drawSummary();
  }

  function apply(update) {
    show = update.show;
    if (update.full) {
      seats = update.seats;
      for (const no of [...selected]) if (seats[no - 1]?.state !== "available") selected.delete(no);
      drawAll();
      return;
    }
    for (const seat of update.seats) {
      seats[seat.seat_no - 1] = seat;
      if (seat.state !== "available") selected.delete(seat.seat_no);
      const button = grid.children[seat.seat_no - 1];
      if (button) drawSeat(button, seat);
    }
    drawSummary();
  }

  async function hold() {
    if (!requireLogin()) return;
    buy.disabled = true;
    try {
      const booking = await api.hold(showId, [...selected].sort((a, b) => a - b));
      selected.clear();
      go(`#/checkout/${encodeURIComponent(booking.booking_id)}`);
    } catch (e) {
      say(e.message, "error");
      buy.disabled = selected.size === 0;
    }
  }

  apply({ show: map.show, full: true, seats: map.seats });
  page(show.title,
    h("p", {}, `${when(show.starts_at_ms)} · ${money(show.price_cents)} a seat`),
    counts,
    h("ul", { class: "legend", "aria-label": "Legend" },
      h("li", {}, h("span", { class: "seat available" }), "free"),
      h("li", {}, h("span", { class: "seat selected" }), "selected"),
      h("li", {}, h("span", { class: "seat held" }), "held"),
      h("li", {}, h("span", { class: "seat booked" }), "booked")),
    grid, summary, buy);
  return subscribe(`/api/shows/${encodeURIComponent(showId)}/events`, "seats", apply);
}

// What was refunded, or is being, for a booking (0 if nothing).
const refundOf = (b) => (b.payment_status === "refunded" || b.payment_status === "refund_pending" ? b.total_cents : 0);

// A booking's tickets: label, type, price; with a return button each
// when `onReturn` is given.
// A simple show's tickets are its seat numbers, listed as before.
function ticketTable(b, onReturn) {
  const tickets = b.tickets || [];
  if (tickets.every((t) => t.label === String(t.seat_no))) return `seats ${b.seat_nos.join(", ")}`;
  return h("table", { class: "tickets" },
    h("thead", {}, h("tr", {}, ["Place", "Type", "Price", ""].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, tickets.map((t) => h("tr", { "data-ticket": t.seat_no },
      h("td", {}, t.label), h("td", {}, t.ticket_type),
      h("td", {}, money(t.price_cents)),
      h("td", {}, onReturn ? h("button", {
        type: "button", class: "link return", "aria-label": `Return the ticket for ${t.label}`,
        onclick: () => onReturn(t),
      }, "Return") : null)))));
}

async function returnTicket(booking, ticket) {
  if (!confirm(`Return the ticket for ${ticket.label} (${money(ticket.price_cents)})?`)) return;
  try {
    const r = await api.returnTickets(booking.booking_id, [ticket.seat_no]);
    say(`Returned ${ticket.label}: ${money(r.refund_cents)} refunded.`, "ok");
    route();
  } catch (e) {
    say(e.message, "error");
  }
}

// Test cards, as the payment service knows them.
const TEST_CARDS = [
  ["4242 4242 4242 4242", "pays"],
  ["4000 0000 0000 9995", "is declined: insufficient funds"],
  ["4000 0000 0000 9979", "is declined: reported stolen"],
];

async function checkoutPage(bookingId) {
  const mine = generation;
  if (!requireLogin()) return null;
  page("Checkout", h("p", {}, "Loading…"));
  let booking;
  try {
    booking = (await api.bookings()).find((b) => b.booking_id === bookingId);
    if (stale(mine)) return null;
  } catch (e) {
    if (!stale(mine)) page("Checkout", problem(e));
    return null;
  }
  if (!booking) {
    page("Checkout", problem(new Error("No such booking of yours.")));
    return null;
  }
  if (booking.status !== "held") {
    page("Checkout", h("p", {}, `This booking is ${booking.status}.`), h("a", { href: "#/bookings" }, "My bookings"));
    return null;
  }
  let timer = null;
  const countdown = h("p", { class: "countdown", role: "timer", "aria-live": "off" });
  const tick = () => {
    const left = Math.max(0, Math.round((booking.hold_expires_at_ms - Date.now()) / 1000));
    countdown.textContent = left
      ? `Seats held for ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`
      : "The hold has ended; the seats are released.";
    if (!left) pay.disabled = true;
  };
  const field = (id, text, attrs) =>
    h("p", {}, h("label", { for: id }, text), h("input", { id, name: id, required: true, ...attrs }));
  const message = h("p", { class: "error", role: "alert" });
  const pay = h("button", { type: "submit", class: "primary" }, `Pay ${money(booking.total_cents)}`);
  const form = h("form", { class: "card", onsubmit: submit },
    field("number", "Card number", { inputmode: "numeric", autocomplete: "cc-number", value: TEST_CARDS[0][0] }),
    h("div", { class: "row" },
      field("exp_month", "Month", { inputmode: "numeric", value: "12", size: 3, autocomplete: "cc-exp-month" }),
      field("exp_year", "Year", { inputmode: "numeric", value: "2030", size: 5, autocomplete: "cc-exp-year" }),
      field("cvc", "CVC", { inputmode: "numeric", value: "123", size: 5, autocomplete: "cc-csc" })),
    message, pay);

  async function submit(event) {
    event.preventDefault();
    pay.disabled = true;
    message.textContent = "";
    const data = new FormData(form);
    try {
      const paid = await api.pay(bookingId, {
        number: data.get("number"),
        exp_month: Number(data.get("exp_month")),
        exp_year: Number(data.get("exp_year")),
        cvc: data.get("cvc"),
      });
      say(`Booked: ${paid.tickets.map((t) => t.label).join(", ") || paid.seat_nos.join(", ")}.`, "ok");
      go("#/bookings");
    } catch (e) {
      if (e.code === "payment_declined") {
        // The hold is over: the server says why and that nothing was charged.
        clearInterval(timer);
        countdown.textContent = "The seats were released.";
        message.replaceChildren(
          `Your card was declined: ${e.message.replace(/^payment declined:\s*/, "")}. `,
          h("a", { href: `#/shows/${encodeURIComponent(booking.show_id)}` }, "Choose seats again"));
      } else {
        message.textContent = e.message;
        pay.disabled = false;
      }
    }
  }

  page("Checkout",
    h("p", {}, `Booking ${booking.booking_id}: show ${booking.show_id}, ${money(booking.total_cents)}.`),
    ticketTable(booking),
    countdown, form,
    h("details", { class: "test-cards" }, h("summary", {}, "Test cards"),
      h("ul", {}, TEST_CARDS.map(([number, what]) => h("li", {}, h("code", {}, number), ` ${what}`))),
      h("p", {}, "Any future expiry date and any 3-digit CVC.")));
  tick();
  timer = setInterval(tick, 1000);
  return () => clearInterval(timer);
}

function loginPage() {
  const message = h("p", { class: "error", role: "alert" });
  const form = (title, action, submitLabel) => {
    const email = `${action}-email`;
    const password = `${action}-password`;
    return h("form", {
      class: "card", "aria-label": title,
      onsubmit: async (event) => {
        event.preventDefault();
        const data = new FormData(event.target);
        message.textContent = "";
        try {
          if (action === "register") await api.register(data.get(email), data.get(password));
          setSession(await api.login(data.get(email), data.get(password)));
          say("Welcome!", "ok");
          const after = sessionStorage.getItem("boxoffice.after-login");
          sessionStorage.removeItem("boxoffice.after-login");
          go(after || "#/");
        } catch (e) {
          message.textContent = e.message;
        }
      },
    },
    h("h2", {}, title),
    h("p", {}, h("label", { for: email }, "Email"), h("input", { id: email, name: email, type: "email", autocomplete: "email", required: true })),
    h("p", {}, h("label", { for: password }, "Password"), h("input", {
      id: password, name: password, type: "password", required: true,
      autocomplete: action === "register" ? "new-password" : "current-password",
    })),
    h("button", { type: "submit", class: "primary" }, submitLabel));
  };
  page("Log in", message, h("div", { class: "columns" },
    form("Log in", "login", "Log in"),
    form("New here? Register", "register", "Register and log in")));
}

async function bookingsPage() {
  const mine = generation;
  if (!requireLogin()) return;
  page("My bookings", h("p", {}, "Loading…"));
  try {
    const bookings = await api.bookings();
    if (stale(mine)) return;
    if (bookings.length === 0) {
      page("My bookings", h("p", {}, "No bookings yet. ", h("a", { href: "#/" }, "Find a show")));
      return;
    }
    const rows = bookings.map((b) => h("tr", { "data-booking": b.booking_id },
      h("td", {}, b.booking_id),
      h("td", {}, h("a", { href: `#/shows/${encodeURIComponent(b.show_id)}` }, b.show_id)),
      h("td", {}, ticketTable(b, b.status === "confirmed" ? (t) => returnTicket(b, t) : null)),
      h("td", {}, money(b.total_cents)),
      h("td", { class: `status ${b.status}` }, b.status, b.payment_status !== "none" ? ` (${b.payment_status.replace("_", " ")})` : "",
        refundOf(b) ? h("span", { class: "refund" }, ` · refund ${money(refundOf(b))}`) : null),
      h("td", {},
        b.status === "held" ? h("a", { href: `#/checkout/${encodeURIComponent(b.booking_id)}` }, "Pay") : null,
        b.status === "held" || b.status === "confirmed"
          ? h("button", {
            class: "link", "aria-label": `Cancel booking ${b.booking_id}`,
            onclick: async () => {
              if (!confirm(`Cancel booking ${b.booking_id}?`)) return;
              try {
                const c = await api.cancel(b.booking_id);
                say(c.payment_status.startsWith("refund") ? "Cancelled; the charge is refunded." : "Cancelled.", "ok");
                route();
              } catch (e) {
                say(e.message, "error");
              }
            },
          }, "Cancel")
          : null)));
    page("My bookings", h("table", { class: "bookings" },
      h("thead", {}, h("tr", {}, ["Booking", "Show", "Tickets", "Total", "Status", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows)));
  } catch (e) {
    if (!stale(mine)) page("My bookings", problem(e));
  }
}

async function adminPage() {
  const mine = generation;
  if (!requireLogin()) return;
  page("Admin", h("p", {}, "Loading…"));
  const message = h("p", { role: "alert" });
  const input = (id, text, attrs = {}) =>
    h("p", {}, h("label", { for: id }, text), h("input", { id, name: id, ...attrs }));
  const create = h("form", {
    class: "card", "aria-label": "New show",
    onsubmit: async (event) => {
      event.preventDefault();
      const d = new FormData(event.target);
      try {
        const show = await api.createShow({
          show_id: d.get("new-id"),
          title: d.get("new-title"),
          seat_count: Number(d.get("new-seats")),
          price_cents: Math.round(Number(d.get("new-price")) * 100),
          starts_at_ms: new Date(d.get("new-starts")).getTime(),
        });
        say(`Show ${show.show_id} created.`, "ok");
        route();
      } catch (e) {
        message.textContent = e.message;
        message.className = "error";
      }
    },
  },
  h("h2", {}, "New show"),
  input("new-id", "Id", { required: true, pattern: "\\S{1,64}" }),
  input("new-title", "Title", { required: true, maxlength: 200 }),
  input("new-seats", "Seats", { type: "number", min: 1, max: 100000, required: true, value: 100 }),
  input("new-price", "Price per seat (€)", { type: "number", min: 0, step: "0.01", required: true, value: "25.00" }),
  input("new-starts", "Starts", { type: "datetime-local", required: true }),
  h("button", { type: "submit", class: "primary" }, "Create show"));
  try {
    const [shows, users] = await Promise.all([api.shows(), api.users()]);
    if (stale(mine)) return;
    const edit = (s) => h("form", {
      class: "inline", "aria-label": `Edit ${s.show_id}`,
      onsubmit: async (event) => {
        event.preventDefault();
        const d = new FormData(event.target);
        try {
          await api.updateShow(s.show_id, {
            title: d.get("title"),
            seat_count: Number(d.get("seats")),
            price_cents: Math.round(Number(d.get("price")) * 100),
          });
          say(`Show ${s.show_id} saved.`, "ok");
          route();
        } catch (e) {
          say(e.message, "error");
        }
      },
    },
    h("label", {}, "Title ", h("input", { name: "title", value: s.title, required: true })),
    h("label", {}, "Seats ", h("input", { name: "seats", type: "number", min: 1, value: s.seat_count, size: 6 })),
    h("label", {}, "Price € ", h("input", { name: "price", type: "number", step: "0.01", min: 0, value: (s.price_cents / 100).toFixed(2), size: 7 })),
    h("button", { type: "submit" }, `Save ${s.show_id}`));
    page("Admin", message, create,
      h("h2", {}, "Shows"), h("ul", { class: "plain" }, shows.map((s) => h("li", {}, edit(s)))),
      h("h2", {}, "Users"),
      h("table", {},
        h("thead", {}, h("tr", {}, ["Email", "Id", "Role", "Since"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, users.map((u) => h("tr", {},
          h("td", {}, u.email), h("td", {}, u.user_id), h("td", {}, u.admin ? "administrator" : "customer"),
          h("td", {}, when(u.created_at_ms)))))));
  } catch (e) {
    if (!stale(mine)) page("Admin", problem(e));
  }
}

function clusterPage() {
  const body = h("tbody");
  const headline = h("p", { "aria-live": "polite" }, "Connecting…");
  page("Cluster", headline,
    h("table", { class: "cluster" },
      h("thead", {}, h("tr", {}, ["Node", "Address", "Role", "Term", "Last log", "Commit", "Applied", "Snapshot", "Format (writes/reads)"].map((t) => h("th", { scope: "col" }, t)))),
      body));
  return subscribe("/api/cluster/events", "cluster", (c) => {
    headline.textContent = c.leader_id ? `Leader: node ${c.leader_id}, term ${c.term}` : "No leader right now: an election is under way.";
    body.replaceChildren(...c.nodes.map((n) => h("tr", { class: n.reachable ? n.role : "down", "data-node": n.node_id },
      h("td", {}, String(n.node_id)), h("td", {}, n.addr),
      h("td", {}, n.reachable ? n.role : `unreachable`),
      h("td", {}, String(n.term)), h("td", {}, String(n.last_log_index)),
      h("td", {}, String(n.commit_index)), h("td", {}, String(n.applied_index)),
      h("td", {}, String(n.snapshot_index)),
      h("td", {}, n.reads_format ? `${n.writes_format}/${n.reads_format}` : "?"))));
  }, (event) => {
    if (event.data) headline.textContent = JSON.parse(event.data).error.message;
  });
}

// --- the assistant ---------------------------------------------------------

const panel = document.getElementById("assistant");
const toggleButton = document.getElementById("assistant-toggle");
const chat = document.getElementById("chat");
let conversation = "";

toggleButton.addEventListener("click", () => {
  panel.hidden = !panel.hidden;
  toggleButton.setAttribute("aria-expanded", String(!panel.hidden));
  if (!panel.hidden) document.getElementById("question").focus();
});

function suggestionAction(s) {
  switch (s.action) {
    case "view_seat_map": return () => go(`#/shows/${encodeURIComponent(s.show_id)}`);
    case "list_bookings": return () => go("#/bookings");
    case "list_shows": return () => go("#/");
    case "log_in": return () => go("#/login");
    case "cancel_booking": return () => go("#/bookings");
    case "hold_seats": return async () => {
      if (!requireLogin()) return;
      try {
        const booking = await api.hold(s.show_id, s.seat_nos);
        go(`#/checkout/${encodeURIComponent(booking.booking_id)}`);
      } catch (e) {
        say(e.message, "error");
      }
    };
    default: return null;
  }
}

async function ask(text) {
  chat.append(h("li", { class: "me" }, text));
  try {
    const answer = await api.ask(conversation, text);
    conversation = answer.session_id;
    chat.append(h("li", { class: "bot" }, answer.reply,
      answer.suggestions.length ? h("div", { class: "suggestions" }, answer.suggestions.map((s) => {
        const action = suggestionAction(s);
        return action ? h("button", { type: "button", onclick: action }, s.label) : h("span", {}, s.label);
      })) : null));
  } catch (e) {
    chat.append(h("li", { class: "bot error" }, e.message));
  }
  chat.lastElementChild.scrollIntoView({ block: "nearest" });
}

document.getElementById("ask").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("question");
  const text = input.value.trim();
  input.value = "";
  if (text) ask(text);
});

// --- routing ---------------------------------------------------------------

async function route() {
  const mine = ++generation;
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  renderNav();
  // Split first, then decode each part: a show id may hold a "/".
  const parts = location.hash.replace(/^#\/?/, "").split("/").map((part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return null;
    }
  });
  const [first, second] = parts.includes(null) ? ["?"] : parts;
  let result;
  if (!first) result = showsPage();
  else if (first === "shows" && second) result = showPage(second);
  else if (first === "checkout" && second) result = checkoutPage(second);
  else if (first === "login") result = loginPage();
  else if (first === "bookings") result = bookingsPage();
  else if (first === "tickets" && second === "print") result = printTicketsPage(() => stale(mine));
  else if (first === "tickets" && !second) result = ticketsPage(() => stale(mine));
  else if (first === "door") result = doorPage(() => stale(mine));
  else if (first === "admin") result = adminPage();
  else if (first === "cluster") result = clusterPage();
  else page("Not found", h("p", {}, "No such page. ", h("a", { href: "#/" }, "Shows")));
  const close = await result;
  if (typeof close !== "function") return;
  // The page may have changed while this one loaded.
  if (mine === generation) cleanup = close;
  else close();
}

window.addEventListener("hashchange", route);
route();
