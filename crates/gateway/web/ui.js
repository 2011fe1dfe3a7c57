// What every page is built with: creating elements, money and times as
// people read them, the toast, the page frame and navigation by hash.

import { session } from "./api.js";

const main = document.getElementById("main");
const toast = document.getElementById("toast");

// Creates an element: h("button", { class: "x", onclick: f }, "text", child).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const money = (cents) =>
  (cents / 100).toLocaleString(undefined, { style: "currency", currency: "EUR" });
// A time past what a Date can hold (8.64e15 ms: a show created without a
// start time carries one far beyond it) is no time at all.
export const when = (ms) => {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? "not scheduled" : date.toLocaleString();
};

export function say(message, kind = "info") {
  toast.textContent = message;
  toast.className = `toast ${kind} shown`;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => (toast.className = "toast"), 6000);
}

export function page(title, ...children) {
  document.title = `${title} · Boxoffice`;
  main.replaceChildren(h("h1", {}, title), ...children.filter((c) => c !== null && c !== undefined && c !== false));
  main.focus({ preventScroll: true });
}

export function problem(error) {
  return h("p", { class: "error", role: "alert" }, error.message || String(error));
}

// Opens the page at `hash`; the same page again is drawn anew.
export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}

export function requireLogin() {
  if (session()) return true;
  sessionStorage.setItem("boxoffice.after-login", location.hash);
  go("#/login");
  return false;
}
