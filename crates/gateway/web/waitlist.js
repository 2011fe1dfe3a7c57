// The waiting list on a sold-out performance's page: join it with a
// number of seats (and a price category), then hear live, on this page,
// when returned seats are held for you, with the way to pay for them.

import { api, authorizedStream, session } from "./api.js";
import { h, say, when } from "./ui.js";

// The panel of the waiting list of `showId`: shown to a logged-in visitor
// when the performance is sold out, or when they are on its list. Returns
// { element, close }, or null.
export async function waitlistPanel(showId, soldOut, categories) {
  if (!session()) return null;
  let standing;
  try {
    standing = await api.waitlist(showId);
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
  if (!soldOut && standing.status === "outside") return null;
  const status = h("p", { class: "waitlist-status", "aria-live": "polite" });
  const quantity = h("input", { type: "number", name: "quantity", min: 1, max: 10, value: 2, required: true });
  const category = h("select", { name: "category" },
    h("option", { value: "" }, "Any category"),
    ...categories.map((c) => h("option", { value: c }, `Category ${c}`)));
  const join = h("form", { class: "waitlist-join", onsubmit: joinList },
    h("label", {}, "Seats ", quantity), " ", h("label", {}, "in ", category), " ",
    h("button", { type: "submit" }, "Join the waiting list"));
  const pay = h("a", { class: "button primary waitlist-pay" }, "Pay for them");
  const leave = h("button", { type: "button", class: "waitlist-leave", onclick: leaveList }, "Leave the list");
  const element = h("section", { class: "waitlist", "aria-label": "Waiting list" },
    h("h2", {}, "Waiting list"), status, join, pay, leave);
  let stop = null;

  function draw(s) {
    standing = s;
    // Offered or off the list: nothing more to follow.
    if (stop && s.status !== "waiting") {
      stop();
      stop = null;
    }
    element.dataset.status = s.status;
    join.hidden = s.status !== "outside";
    pay.hidden = s.status !== "offered";
    leave.hidden = s.status === "outside";
    if (s.status === "waiting") {
      const what = `${s.quantity} seat${s.quantity === 1 ? "" : "s"}${s.category ? ` in category ${s.category}` : ""}`;
      status.textContent = `You are number ${s.position} on the waiting list for ${what}. Seats returned for you are held here, for you to pay.`;
    } else if (s.status === "offered" && s.offer) {
      pay.href = `#/checkout/${encodeURIComponent(s.offer.booking_id)}`;
      const many = s.offer.seat_nos.length > 1;
      status.textContent = `${many ? "Seats" : "Seat"} ${s.offer.seat_nos.join(", ")} came back and ${many ? "are" : "is"} held for you until ${when(s.offer.hold_expires_at_ms)}: pay before then, or the next in line gets ${many ? "them" : "it"}.`;
    } else {
      const waiting = s.waiting ? ` ${s.waiting} already wait.` : "";
      status.textContent = `Sold out. Join the waiting list: seats returned go to the first in line they fit.${waiting}`;
    }
  }

  function follow() {
    if (stop) stop();
    stop = authorizedStream(`/api/performances/${encodeURIComponent(showId)}/waitlist/live`, "standing", draw,
      (e) => say(e.message, "error"));
  }

  async function joinList(event) {
    event.preventDefault();
    try {
      draw(await api.joinWaitlist(showId, Number(quantity.value), category.value));
      follow();
    } catch (e) {
      say(e.message, "error");
    }
  }

  async function leaveList() {
    if (stop) stop();
    stop = null;
    try {
      draw(await api.leaveWaitlist(showId));
    } catch (e) {
      say(e.message, "error");
    }
  }

  draw(standing);
  if (standing.status === "waiting") follow();
  return { element, close: () => stop && stop() };
}
